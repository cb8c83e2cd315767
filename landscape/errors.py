"""Errors the command line turns into one clear line and an exit code."""


class LandscapeError(Exception):
    """Base class: a problem the user can fix, reported as one line without a traceback."""

    exit_code = 2

    def __init__(self, problem: str, fix: str = "", field: str | tuple[str, ...] = ()):
        self.problem = problem
        self.fix = fix
        # the keywords (settings fields) the message names, e.g. ("k_bottom",): the command line
        # writes each as its flag (--k-bottom) at its edge (landscape/cli/fields.py)
        self.fields = (field,) if isinstance(field, str) else tuple(field)
        super().__init__(self.line())

    def line(self) -> str:
        return f"{self.problem}. {self.fix}" if self.fix else self.problem


class InputError(LandscapeError):
    """Bad input: missing or corrupt file, shape mismatch, impossible option (exit code 2)."""

    exit_code = 2


class NumericalError(LandscapeError):
    """The computation itself failed: NaN, solver not converged (exit code 3)."""

    exit_code = 3


class NotConverged(NumericalError):
    """The eigen-solver did not certify every eigenpair asked for within its budget (exit
    code 3). `report` holds what was computed, the uncertified pairs flagged (as scipy's
    ArpackNoConvergence holds its partial eigenpairs)."""

    def __init__(self, problem: str, fix: str = "", report=None, field: str | tuple = ()):
        super().__init__(problem, fix, field)
        self.report = report
