"""A corpus of bad inputs: the files they need, and what `landscape` must answer to each.

Every case must exit 2 (3 for a numerical failure) with exactly one line on stderr, no
traceback, no file left in its working folder, and no code run from any file (each malicious
file writes a marker file when its code runs; `CONTROLS` prove the payloads are live).
"""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

LINEAR_KW = {"in_features": 4, "out_features": 3}


def _parts() -> list:
    """The corpus's further parts, one module per class of input (tests/corpus_*.py), each
    with `build(inputs, markers, files)` adding its files and `cases(paths)` its cases."""
    here = Path(__file__).parent
    names = sorted(p.stem for p in here.glob("corpus_*.py") if p.stem != "corpus_runner")
    return [importlib.import_module(name) for name in names]


class Payload:
    """Unpickling this runs code: it creates the marker file (the proof a file ran code)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


MODELS_PY = """
import torch
from torch import nn


class NanOut(nn.Linear):
    def __init__(self):
        super().__init__(4, 3)

    def forward(self, x):
        return super().forward(x) * float("nan")


class Argmax(nn.Linear):
    def __init__(self):
        super().__init__(4, 3)

    def forward(self, x):
        return nn.functional.one_hot(super().forward(x).argmax(1), 3).double()
"""

EVIL_DATA_PY = "open({marker!r}, 'w').close()\n\ndef make():\n    return None\n"


@dataclass
class Case:
    id: str
    args: list[str]
    words: str  # a fragment the one error line must contain (case-insensitive)
    code: int = 2
    setup: dict[str, bytes] = field(default_factory=dict)  # files made in the working folder
    marker: str | None = None  # the marker a malicious file would write


def build_inputs(root: Path) -> dict[str, Path]:
    """Every input file of the corpus, under root/inputs; markers go to root/markers."""
    inp, markers = root / "inputs", root / "markers"
    inp.mkdir(parents=True)
    markers.mkdir()
    torch.manual_seed(0)
    lin = nn.Linear(**LINEAR_KW).double()
    sd = lin.state_dict()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (32,), generator=g)
    f: dict[str, Path] = {"inputs": inp, "markers": markers}

    def save(name: str, obj, **kw) -> None:
        f[name] = inp / name
        torch.save(obj, f[name], **kw)

    def raw(name: str, data: bytes) -> None:
        f[name] = inp / name
        f[name].write_bytes(data)

    def marker(name: str) -> Path:
        return markers / f"{name}.ran"

    save("lin.pt", sd)
    save("data.pt", {"x": x, "y": y})
    raw("models.py", MODELS_PY.encode())
    (inp / "folder").mkdir()
    f["folder"] = inp / "folder"
    # -- malicious files: a payload in every container (and a live twin for the controls)
    for prefix in ("", "control_"):
        save(f"{prefix}evil.pt", {"state_dict": Payload(marker(f"{prefix}evil.pt"))})
        save(
            f"{prefix}evil_legacy.pt",
            {"state_dict": Payload(marker(f"{prefix}evil_legacy.pt"))},
            _use_new_zipfile_serialization=False,
        )
        raw(f"{prefix}evil.pt2", _evil_pt2(lin, marker(f"{prefix}evil.pt2")))
        meta = {"factory": "subprocess:run", "factory_kwargs": {"args": ["touch", ""]}}
        meta["factory_kwargs"]["args"][1] = str(marker(f"{prefix}meta_factory.pt"))
        save(f"{prefix}meta_factory.pt", {"state_dict": sd, **meta})
    raw("evil_pt2_renamed.pt", _evil_pt2(lin, marker("evil_pt2_renamed.pt")))
    raw("evil_raw.pt", _pickle_bytes(Payload(marker("evil_raw.pt"))))
    st_meta = {
        "factory": "subprocess:run",
        "factory_kwargs": json.dumps({"args": ["touch", str(marker("meta.safetensors"))]}),
    }
    f["meta.safetensors"] = inp / "meta.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, f["meta.safetensors"], st_meta)
    raw("evil_data.py", EVIL_DATA_PY.format(marker=str(marker("evil_data.py"))).encode())
    save("meta_data.pt", {"state_dict": sd, "data": "evil_data.py:make"})
    save("evil_data.pt", {"x": Payload(marker("evil_data.pt")), "y": y})
    f["evil_data.npz"] = inp / "evil_data.npz"
    np.savez(f["evil_data.npz"], x=np.array([Payload(marker("evil_data.npz"))]), y=y.numpy())
    save("evil_dir.pt", Payload(marker("evil_dir.pt")))
    f["evil_dir.npy"] = inp / "evil_dir.npy"
    np.save(f["evil_dir.npy"], np.array([Payload(marker("evil_dir.npy"))]), allow_pickle=True)
    save("evil_opt.pt", {"state_dict": sd, "optimizer": {"state": Payload(marker("evil_opt"))}})
    save("module.pt", lin)
    # -- missing, empty, truncated and corrupt files of every format
    good = f["lin.pt"].read_bytes()
    raw("empty.pt", b"")
    raw("cut.pt", good[: len(good) // 2])
    raw("junk.pt", b"not a checkpoint at all")
    f["good.safetensors"] = inp / "good.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, f["good.safetensors"])
    st = f["good.safetensors"].read_bytes()
    raw("cut.safetensors", st[: len(st) - 20])
    raw("junk.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{bad")
    pt2 = _pt2_bytes(lin)
    raw("cut.pt2", pt2[: len(pt2) // 2])
    raw("junk.pt2", b"PK junk")
    raw("broken.pt2", _broken_pt2(lin))
    raw("weights.xyz", b"plain text")
    raw("empty_data.pt", b"")
    data = f["data.pt"].read_bytes()
    raw("cut_data.pt", data[: len(data) // 2])
    raw("junk.npz", b"PK\x03\x04 junk")
    save("nokeys.pt", {"a": x})
    f["noy.npz"] = inp / "noy.npz"
    np.savez(f["noy.npz"], x=x.numpy())
    # -- mismatched data and weights
    save("shape_data.pt", {"x": torch.randn(32, 5, dtype=torch.float64), "y": y})
    save("label_data.pt", {"x": x, "y": torch.full((32,), 9)})
    save("float_data.pt", {"x": x, "y": torch.randn(32, 3, dtype=torch.float64)})
    save("count_data.pt", {"x": x, "y": y[:31]})
    save("nan_data.pt", {"x": x.clone().fill_(float("nan")), "y": y})
    save("nan_weights.pt", {k: torch.full_like(v, float("nan")) for k, v in sd.items()})
    tutorial = {"model_state_dict": sd, "optimizer_state_dict": {"state": {}, "param_groups": []}}
    save("tutorial.pt", {**tutorial, "epoch": 3, "loss": 0.0760})
    # -- configs and gate files
    configs = {
        "invalid.toml": "k = = 3\n",
        "unknown.toml": "topk = 3\n",
        "big.toml": 'batch_size = "big"\n',
        "mc.toml": "mc_samples = [1, 4, 16]\n",
        "ktrue.toml": "k = true\n",
        "tol.toml": 'tol = "small"\n',
        "zero_batch.toml": "batch_size = 0\n",
        "gate_value.toml": '[gate]\nlambda_max = "high"\n',
        "gate_metric.toml": "[gate]\nmax_lambda = 3\n",
        "baseline.json": "{not json",
    }
    for name, text in configs.items():
        raw(name, text.encode())
    for part in PARTS:
        part.build(inp, markers, f)
    return f


def _pickle_bytes(obj) -> bytes:
    import pickle

    return pickle.dumps(obj, protocol=2)


def _pt2_bytes(model: nn.Module) -> bytes:
    dim = torch.export.Dim("batch")
    x = torch.randn(2, 4, dtype=torch.float64)
    program = torch.export.export(model.eval(), (x,), dynamic_shapes=({0: dim},))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def _rewrite(archive: bytes, suffix: str, data: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(archive))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            target.writestr(item, data if item.filename.endswith(suffix) else source.read(item))
    return out.getvalue()


def _broken_pt2(model: nn.Module) -> bytes:
    """A whole zip whose program is garbage: torch.export.load logs pages before it fails."""
    return _rewrite(_pt2_bytes(model), "models/model.json", b"{broken")


def _evil_pt2(model: nn.Module, marker: Path) -> bytes:
    """A real torch.export archive whose sample inputs unpickle a payload (torch.export.load
    falls back to a full unpickle for them)."""
    payload = io.BytesIO()
    torch.save(Payload(marker), payload)
    return _rewrite(_pt2_bytes(model), "data/sample_inputs/model.pt", payload.getvalue())


class Paths:
    """Input paths as strings; without files (to list the cases) each name stands for itself."""

    def __init__(self, files: dict[str, Path] | None):
        self.files = files

    def __getitem__(self, name: str) -> str:
        return name if self.files is None else str(self.files[name])


def cases(f: dict[str, Path] | None) -> list[Case]:
    """The corpus: (id, arguments, expected words, exit code). Paths are absolute."""
    return _core_cases(f) + [case for part in PARTS for case in part.cases(Paths(f))]


def _core_cases(f: dict[str, Path] | None) -> list[Case]:
    p = Paths(f)
    factory = ["--model-factory", "torch.nn:Linear", "--factory-kwargs", json.dumps(LINEAR_KW)]
    model = [p["lin.pt"], *factory, "--data", p["data.pt"], "--dtype", "float64"]
    spec = ["spectrum", *model]
    models = p["models.py"]
    out_file = {"existing": b"keep me"}
    c = Case
    return [
        # ---- usage errors
        c("unknown-option", ["spectrum", "--bogus"], "no such option --bogus"),
        c("close-option", ["spectrum", "--tole", "3"], "did you mean --tol"),
        c("not-an-int", ["spectrum", "--k", "abc"], "--k"),
        c("unknown-command", ["frob"], "no such command 'frob'"),
        c("close-command", ["spectrm"], "did you mean `landscape spectrum`"),
        c("missing-value", ["spectrum", "--curvature"], "requires an argument"),
        c("unknown-curvature", [*spec, "--curvature", "hesian"], "unknown curvature"),
        c("unknown-loss", [*spec, "--loss", "hinge"], "unknown loss"),
        c("unknown-dtype", [*spec, "--dtype", "float16"], "--dtype"),
        c("unknown-device", [*spec, "--device", "tpu"], "--device"),
        c("unknown-strategy", [*spec, "--strategy", "magic"], "strategy"),
        c("bad-regex", [*spec, "--params", "[bad"], "regex"),
        c("factory-kwargs-not-json", [*spec, "--factory-kwargs", "{in: 4}"], "not json"),
        c("factory-kwargs-not-object", [*spec, "--factory-kwargs", "[4, 3]"], "json object"),
        # ---- absurd values
        c("batch-size-0", [*spec, "--batch-size", "0"], "--batch-size must be"),
        c("samples-0", [*spec, "--samples", "0"], "--samples must be"),
        c("samples-too-many", [*spec, "--samples", "1000000"], "more than the 32"),
        c("k-negative", [*spec, "--k", "-1"], "--k must be"),
        c("k-too-large", [*spec, "--k", "100"], "larger than the number of parameters"),
        c("tol-0", [*spec, "--tol", "0"], "--tol must be positive"),
        c("tol-nan", [*spec, "--tol", "nan"], "--tol must be positive"),
        c("max-products-0", [*spec, "--max-products", "0"], "--max-products must be"),
        c("trace-samples-1", [*spec, "--trace-samples", "1"], "--trace-samples"),
        c("unconverged", [*spec, "--max-products", "1"], "certified", code=3),
        c("eps-0", ["taylor-check", *model, "--eps", "0"], "--eps must be positive"),
        c("steps-0", ["taylor-check", *model, "--steps", "0"], "--steps must be"),
        c("bad-sweep", ["taylor-check", *model, "--sweep", "a,b"], "--sweep"),
        c("bad-direction", ["taylor-check", *model, "--direction", "sideways"], "--direction"),
        c("lr-negative", ["sharpness", *model, "--lr", "-1"], "--lr"),
        c("slice-points-1", ["sharpness", *model, "--slice-points", "1"], "--slice-points"),
        c("sharpness-unconverged", ["sharpness", *model, "--max-products", "1"], "certified", 3),
        c("mc-samples-bad", ["ggn-gap", *model, "--mc-samples", "x"], "--mc-samples"),
        c("probes-0", ["ggn-gap", *model, "--probes", "0"], "--probes must be"),
        # ---- checkpoints: missing, empty, truncated, corrupt
        c("ckpt-missing", ["spectrum", p["inputs"] + "/absent.pt"], "not found"),
        c("ckpt-folder", ["spectrum", p["folder"]], "is a directory"),
        c("ckpt-empty", ["spectrum", p["empty.pt"]], "is empty"),
        c("ckpt-truncated", ["spectrum", p["cut.pt"], *factory], "corrupt or truncated"),
        c("ckpt-junk", ["spectrum", p["junk.pt"], *factory], "corrupt or truncated"),
        c("st-truncated", ["spectrum", p["cut.safetensors"], *factory], "corrupt"),
        c("st-junk", ["spectrum", p["junk.safetensors"], *factory], "corrupt"),
        c("pt2-truncated", ["spectrum", p["cut.pt2"]], "corrupt or truncated"),
        c("pt2-truncated-trusted", ["spectrum", p["cut.pt2"], "--trust-checkpoint"], "corrupt"),
        c("pt2-broken-trusted", ["spectrum", p["broken.pt2"], "--trust-checkpoint"], "corrupt"),
        c("pt2-junk", ["spectrum", p["junk.pt2"], "--trust-checkpoint"], "corrupt"),
        c("unknown-format", ["spectrum", p["weights.xyz"]], "unknown format"),
        c(
            "no-factory",
            ["spectrum", p["lin.pt"], "--data", p["data.pt"]],
            "names no model factory",
        ),
        c("tutorial-ckpt", ["spectrum", p["tutorial.pt"], "--data", p["data.pt"]], "no model fac"),
        # ---- malicious files: no code runs without --trust-checkpoint
        c("pickle-in-pt", ["spectrum", p["evil.pt"]], "builtins.exec", marker="evil.pt"),
        c("pickle-legacy", ["spectrum", p["evil_legacy.pt"]], "refuses", marker="evil_legacy.pt"),
        c("pickle-raw", ["spectrum", p["evil_raw.pt"]], "refuses", marker="evil_raw.pt"),
        c("pickled-module", ["spectrum", p["module.pt"]], "--trust-checkpoint"),
        c("pt2-payload", [*spec[:1], p["evil.pt2"]], "--trust-checkpoint", marker="evil.pt2"),
        c(
            "pt2-renamed",
            ["spectrum", p["evil_pt2_renamed.pt"]],
            "torch.export archive",
            marker="evil_pt2_renamed.pt",
        ),
        c(
            "meta-factory-pt",
            ["spectrum", p["meta_factory.pt"], "--data", p["data.pt"]],
            "--model-factory subprocess:run",
            marker="meta_factory.pt",
        ),
        c(
            "meta-factory-st",
            ["spectrum", p["meta.safetensors"], "--data", p["data.pt"]],
            "--trust-checkpoint",
            marker="meta.safetensors",
        ),
        c(
            "meta-data-factory",
            ["spectrum", p["meta_data.pt"], *factory],
            "--data evil_data.py:make",
            marker="evil_data.py",
        ),
        c(
            "pickle-in-data",
            [*spec[:-4], "--data", p["evil_data.pt"]],
            "refuses",
            marker="evil_data.pt",
        ),
        c(
            "pickle-in-npz",
            [*spec[:-4], "--data", p["evil_data.npz"]],
            "data file",
            marker="evil_data.npz",
        ),
        c(
            "pickle-in-direction",
            ["taylor-check", *model, "--direction-file", p["evil_dir.pt"]],
            "cannot read",
            marker="evil_dir.pt",
        ),
        c(
            "pickle-in-npy",
            ["taylor-check", *model, "--direction-file", p["evil_dir.npy"]],
            "cannot read",
            marker="evil_dir.npy",
        ),
        c(
            "pickle-in-optimizer",
            ["sharpness", p["evil_opt.pt"], *factory, "--data", p["data.pt"]],
            "refuses",
            marker="evil_opt",
        ),
        # ---- data: missing, empty, truncated, corrupt, mismatched
        c("data-missing", [*spec[:-4], "--data", "absent.pt"], "not found"),
        c("data-folder", [*spec[:-4], "--data", p["folder"]], "is a directory"),
        c("data-empty", [*spec[:-4], "--data", p["empty_data.pt"]], "is empty"),
        c("data-truncated", [*spec[:-4], "--data", p["cut_data.pt"]], "corrupt or truncated"),
        c("data-junk-npz", [*spec[:-4], "--data", p["junk.npz"]], "could not be read"),
        c("data-no-keys", [*spec[:-4], "--data", p["nokeys.pt"]], "no 'x' and 'y'"),
        c("data-npz-no-y", [*spec[:-4], "--data", p["noy.npz"]], "no arrays 'x' and 'y'"),
        c("data-shape", [*spec[:-4], "--data", p["shape_data.pt"]], "shape"),
        c("data-labels", [*spec[:-4], "--data", p["label_data.pt"]], "labels"),
        c("data-float-labels", [*spec[:-4], "--data", p["float_data.pt"]], "class probabilities"),
        c("data-count", [*spec[:-4], "--data", p["count_data.pt"]], "32 inputs but 31 targets"),
        c("data-nan", [*spec[:-4], "--data", p["nan_data.pt"]], "non-finite"),
        c("data-factory-missing", [*spec[:-4], "--data", "nomodule_xyz:make"], "no module"),
        # ---- models: mismatched, non-finite, not differentiable
        c(
            "shape-mismatch",
            [*spec, "--factory-kwargs", '{"in_features": 5, "out_features": 3}'],
            "shape mismatches",
        ),
        c(
            "unexpected-keys",
            [*spec, "--factory-kwargs", json.dumps({**LINEAR_KW, "bias": False})],
            "unexpected keys",
        ),
        c(
            "factory-missing",
            ["spectrum", p["lin.pt"], "--model-factory", "torch.nn:Nope"],
            "no attribute",
        ),
        c("factory-bad-kwargs", [*spec, "--factory-kwargs", '{"width": 3}'], "failed with kwargs"),
        c(
            "nan-weights",
            ["spectrum", p["nan_weights.pt"], *factory, "--data", p["data.pt"]],
            "nan",
        ),
        c(
            "nan-outputs",
            [
                "spectrum",
                p["lin.pt"],
                "--model-factory",
                f"{models}:NanOut",
                "--data",
                p["data.pt"],
            ],
            "nan",
        ),
        c(
            "not-differentiable",
            [
                "spectrum",
                p["lin.pt"],
                "--model-factory",
                f"{models}:Argmax",
                "--data",
                p["data.pt"],
            ],
            "derivative",
        ),
        # ---- configs and gate thresholds
        c("config-missing", [*spec, "--config", "absent.toml"], "not found"),
        c("config-invalid", [*spec, "--config", p["invalid.toml"]], "not valid toml"),
        c("config-unknown", [*spec, "--config", p["unknown.toml"]], "unknown option 'topk'"),
        c("config-type-none-default", [*spec, "--config", p["big.toml"]], "'batch_size' in '"),
        c(
            "config-other-command",
            [*spec, "--curvature", "fisher", "--config", p["mc.toml"]],
            "should be an integer",
        ),
        c("config-bool-for-int", [*spec, "--config", p["ktrue.toml"]], "'k' in"),
        c("config-str-for-float", [*spec, "--config", p["tol.toml"]], "should be a number"),
        c("config-range", [*spec, "--config", p["zero_batch.toml"]], "'batch_size' in"),
        c("gate-no-thresholds", ["gate", *model], "no thresholds"),
        c("gate-no-value", ["gate", *model, "--max", "lambda_max"], "lambda_max"),
        c("gate-unknown-metric", ["gate", *model, "--max", "lamda_max=1"], "did you mean"),
        c("gate-bad-number", ["gate", *model, "--max", "lambda_max=abc"], "abc"),
        c("gate-file-value", ["gate", *model, "--gate", p["gate_value.toml"]], "high"),
        c("gate-file-metric", ["gate", *model, "--gate", p["gate_metric.toml"]], "max_lambda"),
        c("baseline-missing", ["gate", *model, "--baseline", "absent.json"], "not found"),
        # ---- outputs: checked before the work, nothing left behind
        c("out-is-file", [*spec, "--out", "existing"], "is a file", setup=out_file),
        c("out-under-file", [*spec, "--out", "existing/sub"], "is a file", setup=out_file),
        c("out-unwritable", [*spec, "--out", "/proc/landscape-out"], "not writable"),
        c("png-is-folder", [*spec, "--png", "figs"], "is a folder", setup={"figs/keep": b"x"}),
        c("png-wrong-suffix", [*spec, "--png", "fig.gif"], ".png, .jpg, .pdf, .svg"),
        c("png-unwritable", [*spec, "--png", "/proc/landscape.png"], "not writable"),
        c(
            "junit-unwritable",
            ["gate", *model, "--max", "lambda_max=1", "--junit", "/proc/gate.xml"],
            "not writable",
        ),
        c(
            "junit-and-bad-out",
            ["gate", *model, "--max", "lambda_max=1", "--junit", "gate.xml", "--out", "existing"],
            "is a file",
            setup=out_file,
        ),
    ]


PARTS = _parts()


# Trusted twins of malicious files: with --trust-checkpoint their code runs (the payloads work).
def controls(f: dict[str, Path] | None) -> list[tuple[Case, str]]:
    p = Paths(f)
    t = "--trust-checkpoint"
    data = ["--data", p["data.pt"]]
    return [
        (Case("control-pt", ["spectrum", p["control_evil.pt"], t, *data], ""), "control_evil.pt"),
        (
            Case("control-pt2", ["spectrum", p["control_evil.pt2"], t, *data], ""),
            "control_evil.pt2",
        ),
        (
            Case("control-meta", ["spectrum", p["control_meta_factory.pt"], t, *data], ""),
            "control_meta_factory.pt",
        ),
    ]
