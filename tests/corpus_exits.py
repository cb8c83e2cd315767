"""Corpus part: exit 0 only for a meaningful answer, and an input problem is never an internal
error (issue 20, items 10 and 11). Each case is a class of input: a value out of range, a model
that fails or is random, a number that overflows, a file nested too deeply, an environment
variable that is not a number."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from corpus import LINEAR_KW, Case
from torch import nn

MODELS_PY = '''
import torch
from torch import nn
from torch.autograd.function import once_differentiable


class LastBatchFails(nn.Linear):
    """Raises on the short last batch only (32 examples in batches of 10)."""

    def __init__(self):
        super().__init__(4, 3)

    def forward(self, x):
        if x.shape[0] < 5:
            raise ValueError("cannot handle a batch this small")
        return super().forward(x)


class _Boom(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        raise ValueError("backward exploded")


class BackwardFails(nn.Linear):
    def __init__(self):
        super().__init__(4, 3)

    def forward(self, x):
        return _Boom.apply(super().forward(x))


class Noisy(nn.Linear):
    """Random in eval mode: noise added on every forward."""

    def __init__(self):
        super().__init__(4, 3)

    def forward(self, x):
        z = super().forward(x)
        return z + 0.1 * torch.randn_like(z)


class AlwaysDropout(nn.Linear):
    def __init__(self):
        super().__init__(4, 3)

    def forward(self, x):
        return nn.functional.dropout(super().forward(x), 0.5, training=True)


class _Tanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y * y)


class OnceDifferentiable(nn.Linear):
    def __init__(self):
        super().__init__(4, 3)

    def forward(self, x):
        return _Tanh.apply(super().forward(x))


class _Skewed(torch.autograd.Function):
    """The identity, whose backward is not its derivative: g times the input, rolled."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.roll(1, dims=-1)


class WrongBackward(nn.Linear):
    def __init__(self):
        super().__init__(4, 3)

    def forward(self, x):
        return _Skewed.apply(super().forward(x))


class IntOutputs(nn.Linear):
    def __init__(self):
        super().__init__(4, 3)

    def forward(self, x):
        return super().forward(x).round().long()


class Unused(nn.Linear):
    """A parameter the loss never sees (the checkpoint makes it inf)."""

    def __init__(self):
        super().__init__(4, 3)
        self.spare = nn.Parameter(torch.zeros(2))


def meta():
    return nn.Linear(4, 3, device="meta")
'''

DATA_PY = """
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset


class Endless(IterableDataset):
    def __iter__(self):
        g = torch.Generator().manual_seed(0)
        while True:
            yield torch.randn(4, generator=g, dtype=torch.float64), 0


def endless():
    return Endless()


def endless_loader():
    return DataLoader(Endless(), batch_size=8)


class BadRow(Dataset):
    def __len__(self):
        return 32

    def __getitem__(self, i):
        if i == 11:
            raise KeyError(f"row {i} is missing")
        return torch.zeros(4, dtype=torch.float64), 0


def workers():
    return DataLoader(BadRow(), batch_size=8, num_workers=1)
"""


def _adam_state(sd: dict, **group) -> dict:
    """An Adam optimizer state for a Linear's two tensors, with `group` overriding."""
    state = {
        i: {
            "step": torch.tensor(10.0),
            "exp_avg": torch.zeros_like(t),
            "exp_avg_sq": torch.full_like(t, 1e-4),
        }
        for i, t in enumerate(sd.values())
    }
    settings = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
    settings.update(group)
    return {"state": state, "param_groups": [{**settings, "amsgrad": False, "params": [0, 1]}]}


def _sgd_state(sd: dict, **group) -> dict:
    settings = {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "nesterov": False}
    settings.update(group)
    return {"state": {}, "param_groups": [{**settings, "weight_decay": 0.0, "params": [0, 1]}]}


def build(inp: Path, markers: Path, f: dict[str, Path]) -> None:
    def raw(name: str, data: bytes) -> None:
        f[name] = inp / name
        f[name].write_bytes(data)

    def save(name: str, obj) -> None:
        f[name] = inp / name
        torch.save(obj, f[name])

    torch.manual_seed(0)
    sd = nn.Linear(**LINEAR_KW).double().state_dict()
    raw("ex_models.py", MODELS_PY.encode())
    raw("ex_data.py", DATA_PY.encode())
    # -- weights: complex, inf after the cast to float32, inf in an unused parameter, NaN in B
    save("ex_complex.pt", {k: v.to(torch.complex128) * (1 + 1j) for k, v in sd.items()})
    save("ex_f32_overflow.pt", {k: v * 1e300 for k, v in sd.items()})
    save("ex_unused_inf.pt", {**sd, "spare": torch.tensor([float("inf"), 0.0])})
    save("ex_b_nan.pt", {k: torch.full_like(v, float("nan")) for k, v in sd.items()})
    save("ex_b_f32_overflow.pt", {k: torch.full_like(v, 1e300) for k, v in sd.items()})
    save("ex_b_f32_edge.pt", {k: torch.full_like(v, 3e38) for k, v in sd.items()})
    # -- directions for surface: one, a copy of it, its double, zero, inf
    direction = {k: torch.randn_like(v) for k, v in sd.items()}
    save("ex_dir.pt", direction)
    save("ex_dir_copy.pt", direction)
    save("ex_dir_double.pt", {k: 2 * v for k, v in direction.items()})
    save("ex_dir_zero.pt", {k: torch.zeros_like(v) for k, v in direction.items()})
    save("ex_dir_inf.pt", {k: torch.full_like(v, float("inf")) for k, v in direction.items()})
    # -- optimizer states out of range
    opt = {
        "lr0": _adam_state(sd, lr=0.0),
        "lr_negative": _adam_state(sd, lr=-1e-3),
        "lr_text": _adam_state(sd, lr="fast"),
        "beta1_one": _adam_state(sd, betas=(1.0, 0.999)),
        "beta2_big": _adam_state(sd, betas=(0.9, 1.5)),
        "beta_negative": _adam_state(sd, betas=(-0.1, 0.999)),
        "betas_text": _adam_state(sd, betas="0.9,0.999"),
        "eps_negative": _adam_state(sd, eps=-1e-8),
        "momentum_one": _sgd_state(sd, momentum=1.0),
        "momentum_text": _sgd_state(sd, momentum="high"),
        "dampening_big": _sgd_state(sd, dampening=2.0),
    }
    for name, state in opt.items():
        save(f"ex_opt_{name}.pt", {"state_dict": sd, "optimizer": state})
    nan_v = _adam_state(sd)
    nan_v["state"][0]["exp_avg_sq"][0, 0] = float("nan")
    save("ex_opt_v_nan.pt", {"state_dict": sd, "optimizer": nan_v})
    neg_v = _adam_state(sd)
    neg_v["state"][1]["exp_avg_sq"][0] = -1.0
    save("ex_opt_v_negative.pt", {"state_dict": sd, "optimizer": neg_v})
    text_step = _adam_state(sd)
    text_step["state"][0]["step"] = "ten"
    save("ex_opt_step_text.pt", {"state_dict": sd, "optimizer": text_step})
    # -- gate baselines that cannot make a limit (inf, NaN, overflowing)
    baselines = {"inf": "Infinity", "nan": "NaN", "huge": "1.7e308", "neg_huge": "-1.7e308"}
    for name, value in baselines.items():
        text = '{"metrics": {"lambda_max": {"value": ' + value + ', "error_bound": 0}}}'
        raw(f"ex_base_{name}.json", text.encode())
    raw("ex_base_bound_nan.json", b'{"metrics": {"lambda_max": {"value": 1, "error_bound": NaN}}}')
    raw("ex_gate_up.toml", b'[gate]\nlambda_max = {max_increase = "100%"}\n')
    raw("ex_gate_down.toml", b'[gate]\nlambda_max = {max_decrease = "100%"}\n')
    # -- nested too deeply, numbers too large
    raw("ex_deep.toml", b"k = " + b"[" * 5000 + b"]" * 5000 + b"\n")
    raw("ex_deep_gate.toml", b"[gate]\nx = " + b"[" * 5000 + b"]" * 5000 + b"\n")
    raw("ex_deep.json", b'{"metrics": ' + b"[" * 100000 + b"]" * 100000 + b"}")
    raw("ex_seed_big.toml", b"seed = 99999999999999999999999\n")
    raw("ex_seed_400.toml", ("seed = " + "9" * 400 + "\n").encode())


def cases(p) -> list[Case]:
    c = Case
    factory = ["--model-factory", "torch.nn:Linear", "--factory-kwargs", json.dumps(LINEAR_KW)]
    data = ["--data", p["data.pt"]]
    lin = [p["lin.pt"], *factory, *data]
    spec = ["spectrum", *lin]
    models = p["ex_models.py"]

    def model(name: str, *args: str) -> list[str]:
        return ["spectrum", p["lin.pt"], "--model-factory", f"{models}:{name}", *data, *args]

    def ckpt(name: str) -> list[str]:
        return [p[name], *factory, *data]

    def opt(name: str) -> list[str]:
        return ["sharpness", p[f"ex_opt_{name}.pt"], *factory, *data]

    big = "9" * 400
    surf = ["surface", *lin, "--grid", "3"]
    gate = ["gate", *lin]
    return [
        # ---- item 10: exit 0 only for a meaningful answer
        c("ex-k0-nothing-asked", [*spec, "--k", "0"], "nothing"),
        c("ex-k0-kbottom0", [*spec, "--k", "0", "--k-bottom", "0"], "nothing"),
        c("ex-complex-weights", ["spectrum", *ckpt("ex_complex.pt")], "complex"),
        c(
            "ex-weights-inf-after-cast",
            ["spectrum", *ckpt("ex_f32_overflow.pt"), "--dtype", "float32"],
            "float32",
        ),
        c(
            "ex-unused-param-inf",
            ["spectrum", p["ex_unused_inf.pt"], "--model-factory", f"{models}:Unused", *data],
            "spare",
        ),
        c("ex-random-forward", model("Noisy"), "random"),
        c("ex-dropout-in-eval", model("AlwaysDropout"), "random"),
        c("ex-once-differentiable", model("OnceDifferentiable"), "second derivative"),
        c("ex-wrong-backward", model("WrongBackward"), "not symmetric"),
        c(
            "ex-once-differentiable-double-backward",
            model("OnceDifferentiable", "--strategy", "double-backward"),
            "second derivative",
        ),
        c(
            "ex-interpolate-b-nan",
            ["interpolate", p["lin.pt"], p["ex_b_nan.pt"], *factory, *data],
            "ex_b_nan.pt",
        ),
        c(
            "ex-interpolate-b-inf-after-cast",
            ["interpolate", p["lin.pt"], p["ex_b_f32_overflow.pt"], *factory, *data]
            + ["--dtype", "float32"],
            "float32",
        ),
        c(
            "ex-interpolate-loss-overflows",
            ["interpolate", p["lin.pt"], p["ex_b_f32_edge.pt"], *factory, *data]
            + ["--dtype", "float32"],
            "at α",
            code=3,
        ),
        c("ex-surface-range-overflows", [*surf, "--range=-1e308,1.7e308"], "overflow"),
        c("ex-slice-radius-overflows", ["sharpness", *lin, "--slice-radius", "1e308"], "overflow"),
        c(
            "ex-slice-loss-overflows-float32",
            ["sharpness", *lin, "--slice-radius", "1e38", "--dtype", "float32"],
            "at t =",
            code=3,
        ),
        c(
            "ex-interpolate-range-overflows",
            ["interpolate", p["lin.pt"], p["lin.pt"], *factory] + [*data, "--range=-1.7e308,1e308"],
            "overflow",
        ),
        c("ex-surface-range-squares-overflow", [*surf, "--range=-1e200,1e200"], "overflow"),
        c(
            "ex-surface-loss-overflows-float32",
            [*surf, "--range=-1e38,1e38", "--dtype", "float32"],
            "at the grid point",
            code=3,
        ),
        c(
            "ex-surface-direction-inf",
            [*surf, "--dims", "1", "--directions", p["ex_dir_inf.pt"]],
            "ex_dir_inf.pt",
        ),
        c(
            "ex-surface-direction-zero",
            [*surf, "--dims", "1", "--directions", p["ex_dir_zero.pt"]],
            "zero",
        ),
        c(
            "ex-gate-baseline-inf",
            [*gate, "--gate", p["ex_gate_up.toml"], "--baseline", p["ex_base_inf.json"]],
            "ex_base_inf.json",
        ),
        c(
            "ex-gate-baseline-nan",
            [*gate, "--gate", p["ex_gate_up.toml"], "--baseline", p["ex_base_nan.json"]],
            "ex_base_nan.json",
        ),
        c(
            "ex-gate-baseline-bound-nan",
            [*gate, "--gate", p["ex_gate_up.toml"], "--baseline", p["ex_base_bound_nan.json"]],
            "ex_base_bound_nan.json",
        ),
        c(
            "ex-gate-limit-overflows",
            [*gate, "--gate", p["ex_gate_up.toml"], "--baseline", p["ex_base_huge.json"]],
            "overflow",
        ),
        c(
            "ex-gate-limit-overflows-down",
            [*gate, "--gate", p["ex_gate_down.toml"], "--baseline", p["ex_base_neg_huge.json"]],
            "overflow",
        ),
        c("ex-gate-max-overflows", [*gate, "--max", "lambda_max=1e999"], "finite"),
        *[
            c(f"ex-optimizer-{name}", opt(name), words)
            for name, words in (
                ("lr0", "lr"),
                ("lr_negative", "lr"),
                ("lr_text", "lr"),
                ("beta1_one", "betas"),
                ("beta2_big", "betas"),
                ("beta_negative", "betas"),
                ("betas_text", "betas"),
                ("eps_negative", "eps"),
                ("momentum_one", "momentum"),
                ("momentum_text", "momentum"),
                ("dampening_big", "dampening"),
                ("v_nan", "exp_avg_sq"),
                ("v_negative", "exp_avg_sq"),
                ("step_text", "step"),
            )
        ],
        c(
            "ex-optimizer-in-gate",
            ["gate", *opt("beta1_one")[1:], "--max", "lambda_max=100"],
            "betas",
        ),
        # ---- item 11: an input problem is never an internal error
        c(
            "ex-model-fails-on-last-batch",
            model("LastBatchFails", "--batch-size", "10"),
            "cannot handle a batch this small",
        ),
        c("ex-model-backward-fails", model("BackwardFails"), "backward exploded"),
        c("ex-meta-factory", model("meta"), "meta"),
        c("ex-int-outputs", model("IntOutputs"), "int"),
        c("ex-deep-config", [*spec, "--config", p["ex_deep.toml"]], "ex_deep.toml"),
        c(
            "ex-deep-gate-file",
            [*gate, "--gate", p["ex_deep_gate.toml"]],
            "ex_deep_gate.toml",
        ),
        c(
            "ex-deep-baseline",
            [*gate, "--gate", p["ex_gate_up.toml"], "--baseline", p["ex_deep.json"]],
            "ex_deep.json",
        ),
        c(
            "ex-deep-factory-kwargs",
            [*spec, "--factory-kwargs", "[" * 100000 + "]" * 100000],
            "--factory-kwargs",
        ),
        c("ex-seed-beyond-int64", [*spec, "--seed", "99999999999999999999999"], "--seed"),
        c("ex-seed-400-digits", [*spec, "--seed", big], "--seed"),
        c("ex-k-400-digits", [*spec, "--k", big], "--k"),
        c("ex-samples-400-digits", [*spec, "--samples", big], "--samples"),
        c("ex-ignore-index-big", [*spec, "--ignore-index", big], "--ignore-index"),
        c("ex-config-seed-beyond-int64", [*spec, "--config", p["ex_seed_big.toml"]], "seed"),
        c("ex-config-seed-400-digits", [*spec, "--config", p["ex_seed_400.toml"]], "seed"),
        c("ex-surface-grid-huge", ["surface", *lin, "--grid", "4000000000"], "grid"),
        c(
            "ex-interpolate-steps-huge",
            ["interpolate", p["lin.pt"], p["lin.pt"], *factory]
            + [*data, "--steps", "9000000000000000000"],
            "values of α",
        ),
        c(
            "ex-same-direction-file-twice",
            [*surf, "--directions", f"{p['ex_dir.pt']},{p['ex_dir.pt']}"],
            "twice",
        ),
        c(
            "ex-direction-files-identical",
            [*surf, "--directions", f"{p['ex_dir.pt']},{p['ex_dir_copy.pt']}"],
            "parallel",
        ),
        c(
            "ex-direction-files-parallel",
            [*surf, "--directions", f"{p['ex_dir.pt']},{p['ex_dir_double.pt']}"],
            "parallel",
        ),
        c(
            "ex-endless-dataset",
            ["spectrum", *lin[:-2], "--data", f"{p['ex_data.py']}:endless"],
            "endless",
        ),
        c(
            "ex-endless-loader",
            ["spectrum", *lin[:-2], "--data", f"{p['ex_data.py']}:endless_loader"],
            "endless",
        ),
        c(
            "ex-dataloader-worker-error",
            ["spectrum", *lin[:-2], "--data", f"{p['ex_data.py']}:workers"],
            "KeyError: 'row 11 is missing'",
        ),
    ]
