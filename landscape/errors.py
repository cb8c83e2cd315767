"""Errors the command line turns into one clear line and an exit code."""


class LandscapeError(Exception):
    """Base class: a problem the user can fix, reported as one line without a traceback."""

    exit_code = 2

    def __init__(self, problem: str, fix: str = ""):
        self.problem = problem
        self.fix = fix
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

    def __init__(self, problem: str, fix: str = "", report=None):
        super().__init__(problem, fix)
        self.report = report
