"""Corpus part: no output may destroy an input or a special file.

Every case names an output (--junit, --png, --out's report.json and figures, from the command
line or a config) that is an input of the run (the checkpoint, the data, a script, the config,
the gate file, the baseline, a direction file; by its own name, a dotted path, a hard link or a
symlink), a special file (a device, a FIFO, a folder; directly or through a symlink), the file
of another output, or a home folder that does not exist. Each is refused before the work, in one
line with exit code 2, and the inputs in the working folder are left byte for byte.
"""

from __future__ import annotations

import functools
import io
import json
import os
from pathlib import Path

import torch
from corpus import LINEAR_KW, Case
from torch import nn

FACTORY = ["--model-factory", "torch.nn:Linear", "--factory-kwargs", json.dumps(LINEAR_KW)]
PASS = ["--max", "lambda_max=1e9"]  # a gate that passes: only the output check can stop it
NO_USER = "~no_such_user_landscape"


@functools.cache
def _saved(what: str) -> bytes:
    """A checkpoint or a data file as bytes, the same on every call (the harness compares)."""
    torch.manual_seed(0)
    if what == "model":
        obj = nn.Linear(**LINEAR_KW).double().state_dict()
    else:
        g = torch.Generator().manual_seed(1)
        x = torch.randn(32, 4, generator=g, dtype=torch.float64)
        obj = {"x": x, "y": torch.randint(0, 3, (32,), generator=g)}
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def build(inputs: Path, markers: Path, files: dict[str, Path]) -> None:
    """Links and special files the working folder's setup cannot make."""
    model, data = _saved("model"), _saved("data")
    for name in ("hl_model.pt", "sl_model.pt", "dup_a.png"):
        (inputs / name).write_bytes(model)
    (inputs / "sl_data.pt").write_bytes(data)
    os.link(inputs / "hl_model.pt", inputs / "hl_gate.xml")
    os.link(inputs / "dup_a.png", inputs / "dup_b.xml")
    (inputs / "sl_gate.xml").symlink_to(inputs / "sl_model.pt")
    (inputs / "sl_data.xml").symlink_to(inputs / "sl_data.pt")
    os.mkfifo(inputs / "fifo")
    (inputs / "fifo_link.xml").symlink_to(inputs / "fifo")
    (inputs / "null_link.xml").symlink_to(os.devnull)
    (inputs / "b_model.pt").write_bytes(model)
    (inputs / "b_link.png").symlink_to(inputs / "b_model.pt")
    shapes = nn.Linear(**LINEAR_KW).double().state_dict()
    torch.save({k: torch.ones_like(v) for k, v in shapes.items()}, inputs / "dir_a.pt")
    (inputs / "dir_a_link.png").symlink_to(inputs / "dir_a.pt")
    torch.save(torch.ones(15, dtype=torch.float64), inputs / "dir_v.pt")
    (inputs / "dir_v_link.png").symlink_to(inputs / "dir_v.pt")
    (inputs / "fifo_out").mkdir()
    os.mkfifo(inputs / "fifo_out" / "gate.png")
    names = ["hl_model.pt", "hl_gate.xml", "sl_model.pt", "sl_gate.xml", "sl_data.pt"]
    names += ["sl_data.xml", "fifo", "fifo_link.xml", "null_link.xml", "fifo_out"]
    names += ["dup_a.png", "dup_b.xml", "b_model.pt", "b_link.png", "dir_a.pt", "dir_a_link.png"]
    names += ["dir_v.pt", "dir_v_link.png"]
    files.update({name: inputs / name for name in names})


def cases(p) -> list[Case]:
    c = Case
    here = {"model.pt": _saved("model"), "data.pt": _saved("data")}
    local = ["model.pt", *FACTORY, "--data", "data.pt"]
    gate = ["gate", *local, *PASS]
    model = [p["lin.pt"], *FACTORY, "--data", p["data.pt"]]
    far = ["gate", *model, *PASS]
    gate_toml = b"[gate]\nlambda_max = {max = 1e9}\n"
    relative = {"g.toml": b'[gate]\nlambda_max = {max_increase = "1000%"}\n'}
    baseline = b'{"metrics": {"lambda_max": {"value": 1.0, "error_bound": 1e-9}}}'
    data_py = (
        b"import torch\n\n\ndef make():\n    g = torch.Generator().manual_seed(1)\n"
        b"    x = torch.randn(32, 4, generator=g, dtype=torch.float64)\n"
        b"    return x, torch.randint(0, 3, (32,), generator=g)\n"
    )
    factory_py = b"from torch import nn\n\ndef build():\n    return nn.Linear(4, 3)\n"
    report = {"o/report.json": baseline}
    destroy = "would destroy an input"
    same = "name the same file"
    return [
        # ---- an output that is an input
        c("out-junit-checkpoint", [*gate, "--junit", "model.pt"], "is the checkpoint", setup=here),
        c(
            "out-junit-checkpoint-dotted",
            [*gate, "--junit", "./none/../model.pt"],
            "is the checkpoint",
            setup=here,
        ),
        c("out-junit-data", [*gate, "--junit=data.pt"], "is the data", setup=here),
        c(
            "out-junit-config",
            [*gate, "--config", "cfg.toml", "--junit", "cfg.toml"],
            "is the config file",
            setup={**here, "cfg.toml": b"seed = 0\n"},
        ),
        c(
            "out-config-junit-checkpoint",
            [*gate, "--config", "cfg.toml"],
            "is the checkpoint",
            setup={**here, "cfg.toml": b'junit = "model.pt"\n'},
        ),
        c(
            "out-junit-gate-file",
            ["gate", *local, "--gate", "g.toml", "--junit", "g.toml"],
            "is the gate file",
            setup={**here, "g.toml": gate_toml},
        ),
        c(
            "out-junit-baseline",
            ["gate", *local, "--gate", "g.toml", "--baseline", "base.json", "--junit", "base.json"],
            "is the baseline",
            setup={**here, **relative, "base.json": baseline},
        ),
        c(
            "out-report-baseline",
            ["gate", *local, "--gate", "g.toml", "--baseline", "o/report.json", "--out", "o"],
            "is the baseline",
            setup={**here, **relative, **report},
        ),
        c(
            "out-junit-data-script",
            ["gate", "model.pt", *FACTORY, "--data", "dataf.py:make", *PASS, "--junit", "dataf.py"],
            destroy,
            setup={"model.pt": _saved("model"), "dataf.py": data_py},
        ),
        c(
            "out-junit-factory-file",
            ["gate", "model.pt", "--model-factory", "fac.py:build", "--data", "data.pt", *PASS]
            + ["--junit", "fac.py"],
            "model factory",
            setup={**here, "fac.py": factory_py},
        ),
        c(
            "out-png-second-checkpoint",
            ["interpolate", *model[:1], p["b_model.pt"], *model[1:], "--png", p["b_link.png"]],
            "is the second checkpoint",
        ),
        c(
            "out-png-direction-files",
            ["surface", *model, "--dims", "1", "--directions", p["dir_a.pt"]]
            + ["--png", p["dir_a_link.png"]],
            "is a direction file",
        ),
        c(
            "out-png-direction-file",
            ["taylor-check", *model, "--direction-file", p["dir_v.pt"]]
            + ["--png", p["dir_v_link.png"]],
            "is the direction file",
        ),
        c(
            "out-junit-hard-link",
            ["gate", p["hl_model.pt"], *model[1:], *PASS, "--junit", p["hl_gate.xml"]],
            "is the checkpoint",
        ),
        c(
            "out-junit-symlink",
            ["gate", p["sl_model.pt"], *model[1:], *PASS, "--junit", p["sl_gate.xml"]],
            "is the checkpoint",
        ),
        c(
            "out-junit-symlink-data",
            ["gate", *model[:-1], p["sl_data.pt"], *PASS, "--junit", p["sl_data.xml"]],
            "is the data",
        ),
        # ---- an output that is a special file
        c("out-junit-dev-null", [*far, "--junit", os.devnull], "not a regular file"),
        c("out-out-dev-null", [*far, "--out", os.devnull], "not a folder"),
        c("out-junit-fifo", [*far, "--junit", p["fifo"]], "fifo"),
        c("out-junit-link-to-fifo", [*far, "--junit", p["fifo_link.xml"]], "fifo"),
        c("out-junit-link-to-null", [*far, "--junit", p["null_link.xml"]], "not a regular file"),
        c("out-figure-fifo", [*far, "--out", p["fifo_out"]], "fifo"),
        c(
            "out-report-folder",
            [*far, "--out", "o"],
            "(its report.json) is a folder",
            setup={"o/report.json/keep": b"x"},
        ),
        c("out-junit-folder", [*far, "--junit", "j"], "is a folder", setup={"j/keep": b"x"}),
        # ---- two outputs, one file
        c("out-png-junit", [*far, "--png", "g.png", "--junit", "g.png"], same),
        c("out-png-junit-dotted", [*far, "--png", "g.png", "--junit", "x/../g.png"], same),
        c("out-figure-png", [*far, "--out", "o", "--png", "o/gate.png"], same),
        c("out-report-junit", [*far, "--out", "o", "--junit", "o/report.json"], same),
        c(
            "out-existing-report-junit",
            [*far, "--out", "o", "--junit", "./o/report.json"],
            same,
            setup=report,
        ),
        c(
            "out-sharpness-slices-png",
            ["sharpness", *model, "--out", "o", "--png", "o/slices.png"],
            same,
        ),
        c("out-spectrum-png", ["spectrum", *model, "--out", ".", "--png", "spectrum.png"], same),
        c(
            "out-png-junit-hard-link",
            [*far, "--png", p["dup_a.png"], "--junit", p["dup_b.xml"]],
            same,
        ),
        # ---- ~ in an output path
        c("out-home-of-no-user", [*far, "--out", f"{NO_USER}/o"], "~"),
        c(
            "out-config-home-of-no-user",
            [*far, "--config", "cfg.toml"],
            "~",
            setup={"cfg.toml": f'junit = "{NO_USER}/g.xml"\n'.encode()},
        ),
    ]
