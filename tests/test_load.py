"""Loading checkpoints (every format and wrapper), data sets (every format) and user code."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import TensorDataset

from landscape.cli.fields import as_flags
from landscape.errors import InputError
from landscape.load import LoadedCheckpoint, import_object, load_checkpoint, load_data
from sample_models import SAMPLE_CHECKPOINT, SAMPLE_DATA
from sample_models.mlp import MLP, build

FACTORY = "sample_models.mlp:build"
SMALL = {"in_features": 3, "hidden": [5], "classes": 2}

MODEL_FILE = """
import torch
from torch import nn

def make(width=4, out=2):
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(3, width), nn.Tanh(), nn.Dropout(0.5), nn.Linear(width, out))

def not_a_model():
    return 42

def broken():
    raise RuntimeError("boom")

VALUE = 3

class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4, bias=False)
        self.b = nn.Linear(4, 4, bias=False)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(self.a(x))
"""


def small_model(seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    return build(**{**SMALL, **kwargs})


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "user_models.py"
    path.write_text(MODEL_FILE)
    return path


# ---------------------------------------------------------------- import_object


def test_import_object_module_and_file_specs(tmp_path, model_file, monkeypatch):
    assert import_object(FACTORY) is build
    assert import_object("sample_models.mlp:MLP") is MLP
    assert import_object("os.path:join") is os.path.join  # dotted module, plain function
    absolute = import_object(f"{model_file}:make")
    assert isinstance(absolute(), nn.Sequential)
    monkeypatch.chdir(tmp_path)
    relative = import_object("user_models.py:make")
    assert relative is absolute  # one module per file, imported once
    assert relative(width=7)[0].out_features == 7


def test_import_object_relative_to_base_dir(tmp_path, model_file, monkeypatch):
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    fn = import_object("user_models.py:make", base_dir=tmp_path)
    assert fn()[3].out_features == 2


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("sample_models.mlp", ["module:function"]),
        ("no_such_pkg_xyz.models:build", ["no module named 'no_such_pkg_xyz'"]),
        ("sample_models.mlp:nope", ["no attribute 'nope'", "build"]),
        ("missing_file.py:make", ["missing_file.py", "not found"]),
        ("USER:VALUE", ["int, not a callable"]),
        (":build", ["module:function"]),
    ],
)
def test_import_object_errors(spec, words, model_file):
    spec = spec.replace("USER", str(model_file))
    with pytest.raises(InputError) as info:
        import_object(spec)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_import_object_file_with_syntax_error(tmp_path):
    bad = tmp_path / "bad_syntax.py"
    bad.write_text("def f(:\n")
    with pytest.raises(InputError, match="SyntaxError"):
        import_object(f"{bad}:f")


# ---------------------------------------------------------------- state dicts


def test_plain_state_dict_with_factory_argument(tmp_path):
    model = small_model()
    path = tmp_path / "plain.pt"
    torch.save(model.state_dict(), path)
    loaded = load_checkpoint(path, factory=FACTORY, factory_kwargs=SMALL)
    assert isinstance(loaded, LoadedCheckpoint)
    assert loaded.metadata == {} and loaded.path == path
    assert same_weights(loaded.model, model)
    assert not loaded.model.training
    x = torch.randn(4, 3)
    assert torch.equal(loaded.model(x), model(x))


@pytest.mark.parametrize("key", ["state_dict", "model_state_dict", "model"])
def test_wrapped_state_dict_under_each_key(tmp_path, key):
    model = small_model(seed=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(2, 3)).sum().backward()
    optimizer.step()
    path = tmp_path / "wrapped.pth"
    torch.save(
        {
            key: model.state_dict(),
            "factory": FACTORY,
            "factory_kwargs": SMALL,
            "loss": "cross-entropy",
            "lr": 0.1,
            "optimizer": optimizer.state_dict(),
            "data": "d.pt",
            "params": "^out\\.",
        },
        path,
    )
    loaded = load_checkpoint(path, trust=True)
    assert same_weights(loaded.model, model)
    meta = loaded.metadata
    assert key not in meta
    assert meta["loss"] == "cross-entropy" and meta["lr"] == 0.1 and meta["params"] == "^out\\."
    assert meta["factory_kwargs"] == SMALL and meta["data"] == "d.pt"
    assert meta["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert meta["optimizer"]["state"][0]["exp_avg_sq"].shape == (5, 3)


@pytest.mark.parametrize("prefix", ["module.", "module._orig_mod."])
def test_data_parallel_prefix_is_stripped(tmp_path, prefix):
    model = small_model(seed=4)
    path = tmp_path / "dp.pt"
    torch.save({prefix + k: v for k, v in model.state_dict().items()}, path)
    loaded = load_checkpoint(path, factory=FACTORY, factory_kwargs=SMALL)
    assert same_weights(loaded.model, model)


def test_factory_kwargs_from_metadata_and_override(tmp_path):
    model = small_model(seed=5, hidden=[6])
    path = tmp_path / "kw.pt"
    meta_kwargs = {**SMALL, "hidden": [5]}  # wrong on purpose: the argument fixes it
    torch.save(
        {"state_dict": model.state_dict(), "factory": FACTORY, "factory_kwargs": meta_kwargs}, path
    )
    with pytest.raises(InputError, match="shape mismatches"):
        load_checkpoint(path, trust=True)
    loaded = load_checkpoint(
        path, trust=True, factory_kwargs={"hidden": [6]}
    )  # merged over the metadata
    assert loaded.model.hidden[0].out_features == 6
    assert same_weights(loaded.model, model)
    assert loaded.metadata["factory_kwargs"] == meta_kwargs  # metadata is reported as saved


def test_factory_argument_overrides_metadata_factory(tmp_path, model_file):
    model = import_object(f"{model_file}:make")(width=4)
    path = tmp_path / "seq.pt"
    torch.save({"state_dict": model.state_dict(), "factory": "sample_models.mlp:build"}, path)
    loaded = load_checkpoint(path, factory=f"{model_file}:make")
    assert same_weights(loaded.model, model)
    assert not loaded.model[2].training  # dropout is off: eval mode


def test_file_factory_from_metadata_relative_to_checkpoint(tmp_path, model_file, monkeypatch):
    model = import_object(f"{model_file}:make")(width=6, out=3)
    path = tmp_path / "ckpt.pt"
    torch.save(
        {
            "model_state_dict": model.state_dict(),
            "factory": "user_models.py:make",
            "factory_kwargs": {"width": 6, "out": 3},
        },
        path,
    )
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_checkpoint(path, trust=True)
    assert same_weights(loaded.model, model)
    monkeypatch.chdir(tmp_path)
    loaded = load_checkpoint("ckpt.pt", factory="user_models.py:make")  # cwd-relative file spec
    assert loaded.model[3].out_features == 3


def test_saved_float_dtype_is_kept_and_ties_stay_tied(tmp_path):
    model = small_model(seed=6).double()
    path = tmp_path / "f64.pt"
    torch.save(model.state_dict(), path)
    loaded = load_checkpoint(path, factory=FACTORY, factory_kwargs=SMALL)
    assert all(p.dtype == torch.float64 for p in loaded.model.parameters())
    assert same_weights(loaded.model, model)


def test_safetensors_with_metadata(tmp_path, model_file):
    model = small_model(seed=7)
    path = tmp_path / "m.safetensors"
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        path,
        metadata={
            "factory": FACTORY,
            "factory_kwargs": json.dumps(SMALL),
            "loss": "cross-entropy",
            "lr": "0.05",
        },
    )
    loaded = load_checkpoint(path, trust=True)
    assert same_weights(loaded.model, model)
    assert loaded.metadata == {
        "factory": FACTORY,
        "factory_kwargs": SMALL,
        "loss": "cross-entropy",
        "lr": 0.05,
    }
    # A tied weight is saved once by safetensors.torch.save_model; its twin is not "missing".
    from safetensors.torch import save_model

    tied = import_object(f"{model_file}:Tied")()
    save_model(tied, tmp_path / "tied.safetensors")
    loaded = load_checkpoint(tmp_path / "tied.safetensors", factory=f"{model_file}:Tied")
    assert torch.equal(loaded.model.a.weight, tied.a.weight)
    assert loaded.model.a.weight is loaded.model.b.weight


# ---------------------------------------------------------------- torch.export (.pt2)


def _hvp(model: nn.Module, x: torch.Tensor, y: torch.Tensor, v: list[torch.Tensor]):
    params = [p for p in model.parameters()]
    loss = nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    dot = sum((g * w).sum() for g, w in zip(grads, v, strict=True))
    return torch.autograd.grad(dot, params)


def test_pt2_supports_double_backward_hvp(tmp_path):
    """Finding: Hessian-vector products work through an unlifted torch.export module."""
    model = small_model(seed=8).eval()
    x, y = torch.randn(6, 3), torch.tensor([0, 1, 1, 0, 1, 0])
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
    path = tmp_path / "m.pt2"
    torch.export.save(
        program, path, extra_files={"landscape_metadata.json": json.dumps({"loss": "ce"})}
    )
    loaded = load_checkpoint(path, trust=True)
    assert loaded.metadata == {"loss": "ce"}
    assert loaded.model.eval() is loaded.model and not loaded.model.training  # no error
    assert [n for n, _ in loaded.model.named_parameters()] == [
        n for n, _ in model.named_parameters()
    ]
    torch.manual_seed(0)
    v = [torch.randn_like(p) for p in model.parameters()]
    expected = _hvp(model, x, y, v)
    got = _hvp(loaded.model, x, y, v)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert any(a.abs().sum() > 0 for a in got)
    assert loaded.model(torch.randn(11, 3)).shape == (11, 2)  # dynamic batch works
    assert loaded.model.double()(x.double()).dtype == torch.float64
    renamed = tmp_path / "exported.pt"  # the content, not the suffix, decides
    renamed.write_bytes(path.read_bytes())
    assert load_checkpoint(renamed, trust=True).metadata == {"loss": "ce"}


def test_pt2_static_shape_and_train_mode_errors(tmp_path):
    model = small_model(seed=9).eval()
    path = tmp_path / "static.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(6, 3),)), path)
    loaded = load_checkpoint(path, trust=True)
    assert loaded.metadata == {}
    with pytest.raises(InputError, match=r"exported for input 0 of shape \(6, 3\), got \(4, 3\)"):
        loaded.model(torch.randn(4, 3))

    dropout = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5)).train()
    path = tmp_path / "train.pt2"
    torch.export.save(torch.export.export(dropout, (torch.randn(6, 3),)), path)
    with pytest.raises(InputError, match="training mode.*aten.dropout.*model.eval"):
        load_checkpoint(path, trust=True)


# ---------------------------------------------------------------- pickled modules


def test_pickled_module_needs_trust(tmp_path):
    model = small_model(seed=10)
    path = tmp_path / "full.pt"
    torch.save(model, path)
    with pytest.raises(InputError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "sample_models.mlp.MLP" in message and "--trust-checkpoint" in message
    assert "torch.nn.modules.linear.Linear" in message
    loaded = load_checkpoint(path, trust=True)
    assert isinstance(loaded.model, MLP) and loaded.metadata == {}
    assert same_weights(loaded.model, model) and not loaded.model.training


def test_wrapper_holding_a_module_needs_trust(tmp_path):
    model = small_model(seed=11).train()
    path = tmp_path / "wrapped_module.pt"
    torch.save({"model": model, "lr": 0.3}, path)
    with pytest.raises(InputError, match="--trust-checkpoint"):
        load_checkpoint(path)
    loaded = load_checkpoint(path, trust=True)
    assert loaded.metadata == {"lr": 0.3}
    assert same_weights(loaded.model, model) and not loaded.model.training


# ---------------------------------------------------------------- bad checkpoints


def test_state_dict_mismatch_names_keys(tmp_path):
    model = small_model(seed=12)
    state = model.state_dict()
    state["extra.weight"] = torch.zeros(2)
    del state["out.bias"]
    path = tmp_path / "mismatch.pt"
    torch.save(state, path)
    with pytest.raises(InputError) as info:
        load_checkpoint(path, factory=FACTORY, factory_kwargs=SMALL)
    message = str(info.value)
    assert "missing keys: out.bias" in message and "unexpected keys: extra.weight" in message
    assert "--model-factory" in message and "\n" not in message
    with pytest.raises(InputError, match=r"hidden.0.weight \(5, 3\) vs model \(5, 4\)"):
        load_checkpoint(
            tmp_path / "mismatch.pt", factory=FACTORY, factory_kwargs={**SMALL, "in_features": 4}
        )


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_bad_checkpoint_files(tmp_path):
    good = tmp_path / "good.pt"
    torch.save(small_model().state_dict(), good)
    raw = good.read_bytes()
    cases = {
        tmp_path / "absent.pt": "not found",
        tmp_path: "is a directory",
        _write(tmp_path / "empty.pt", b""): "is empty",
        _write(tmp_path / "cut.pt", raw[: len(raw) // 2]): "corrupt or truncated",
        _write(tmp_path / "junk.pt", b"not a checkpoint at all"): "corrupt or truncated",
        _write(tmp_path / "junk.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{bad"): "corrupt",
        _write(tmp_path / "junk.pt2", b"PK junk"): "corrupt or truncated",
        _write(tmp_path / "weights.xyz", b"plain text"): "unknown format",
    }
    for path, words in cases.items():
        with pytest.raises(InputError) as info:
            load_checkpoint(path, factory=FACTORY, factory_kwargs=SMALL)
        assert words in str(info.value), (path, str(info.value))
        assert "\n" not in str(info.value)


def test_unknown_suffix_is_sniffed(tmp_path):
    model = small_model(seed=13)
    path = tmp_path / "weights.ckpt_v2"
    torch.save(model.state_dict(), path)
    assert same_weights(load_checkpoint(path, factory=FACTORY, factory_kwargs=SMALL).model, model)
    st = tmp_path / "weights.st"
    save_file(dict(model.state_dict()), st, metadata={"factory": FACTORY})
    loaded = load_checkpoint(st, trust=True, factory_kwargs=SMALL)
    assert same_weights(loaded.model, model)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_checkpoint(tmp_path):
    path = tmp_path / "locked.pt"
    torch.save({}, path)
    path.chmod(0)
    with pytest.raises(InputError, match="not readable"):
        load_checkpoint(path)


def test_checkpoint_content_errors(tmp_path, model_file):
    sd = tmp_path / "sd.pt"
    torch.save(small_model().state_dict(), sd)
    with pytest.raises(InputError, match="names no model factory.*--model-factory module:fn"):
        load_checkpoint(sd)
    with pytest.raises(InputError, match="failed with kwargs.*boom"):
        load_checkpoint(sd, factory=f"{model_file}:broken")
    with pytest.raises(InputError, match="returned a int, not a torch.nn.Module"):
        load_checkpoint(sd, factory=f"{model_file}:not_a_model")
    with pytest.raises(InputError, match="unexpected keyword argument 'nope'"):
        load_checkpoint(sd, factory=FACTORY, factory_kwargs={"nope": 1})
    cases = {
        "list.pt": ([torch.zeros(2)], "holds a list"),
        "nodict.pt": ({"epoch": 3, "lr": 0.1}, "without weights (keys: epoch, lr)"),
        "emptydict.pt": ({}, "empty dict"),
        "badkw.pt": (  # kwargs of another type are metadata: the factory runs without them
            {"state_dict": small_model().state_dict(), "factory": FACTORY, "factory_kwargs": 3},
            "does not fit the model built by",
        ),
    }
    for name, (obj, words) in cases.items():
        torch.save(obj, tmp_path / name)
        with pytest.raises(InputError) as info:
            load_checkpoint(tmp_path / name, trust=True)
        assert words in str(info.value)


# ---------------------------------------------------------------- the bundled sample


def test_sample_checkpoint_and_data():
    loaded = load_checkpoint(SAMPLE_CHECKPOINT, trust=True)
    model, meta = loaded.model, loaded.metadata
    assert sum(p.numel() for p in model.parameters()) == 3300
    assert meta["factory"] == FACTORY and meta["loss"] == "cross-entropy" and meta["lr"] == 0.01
    opt = meta["optimizer"]
    assert len(opt["state"]) == 6 and float(opt["state"][0]["step"]) == 300
    assert opt["param_groups"][0]["betas"] == (0.9, 0.999)
    x, y = load_data(meta["data"], base_dir=SAMPLE_CHECKPOINT.parent)
    assert x.shape == (1024, 16) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(torch.bincount(y), torch.full((4,), 256))
    with torch.no_grad():
        logits = model(x)
    loss = nn.functional.cross_entropy(logits, y).item()
    assert loss == pytest.approx(meta["train_loss"], abs=1e-5)
    accuracy = (logits.argmax(1) == y).float().mean().item()
    assert 0.7 < accuracy < 0.99  # overlapping classes: not a perfect fit
    assert SAMPLE_DATA.stat().st_size + SAMPLE_CHECKPOINT.stat().st_size < 300_000
    for file in (SAMPLE_CHECKPOINT, SAMPLE_DATA):
        torch.load(file, weights_only=True)


# ---------------------------------------------------------------- data


@pytest.fixture
def xy() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(20, 3, generator=g), torch.randint(0, 4, (20,), generator=g)


def test_data_pt_formats(tmp_path, xy):
    x, y = xy
    objects = {
        "dict.pt": {"x": x, "y": y, "note": "extra keys are fine"},
        "tuple.pt": (x, y),
        "list.pth": [x, y],
        "tds.pt": TensorDataset(x, y),
        "int32.pt": {"x": x, "y": y.int()},
    }
    for name, obj in objects.items():
        torch.save(obj, tmp_path / name)
        gx, gy = load_data(str(tmp_path / name))
        assert torch.equal(gx, x) and torch.equal(gy, y), name
        assert gy.dtype == torch.int64


def test_data_npz_and_dtypes(tmp_path):
    x = np.arange(12, dtype=np.float64).reshape(6, 2)
    labels = np.array([0, 1, 2, 0, 1, 2], dtype=np.int32)
    np.savez(tmp_path / "d.npz", x=x, y=labels)
    gx, gy = load_data(str(tmp_path / "d.npz"))
    assert gx.dtype == torch.float64 and gy.dtype == torch.int64
    assert torch.equal(gx, torch.from_numpy(x)) and gy.tolist() == [0, 1, 2, 0, 1, 2]
    np.savez(tmp_path / "r.npz", x=x, y=np.linspace(0, 1, 6, dtype=np.float32))
    _, ty = load_data(str(tmp_path / "r.npz"))
    assert ty.dtype == torch.float32 and ty[-1].item() == 1.0  # float targets stay float


def test_data_relative_to_base_dir_or_cwd_never_both(tmp_path, xy, monkeypatch):
    x, y = xy
    (tmp_path / "ckpts").mkdir()
    torch.save({"x": x, "y": y}, tmp_path / "ckpts" / "d.pt")
    torch.save({"x": x[:5], "y": y[:5]}, tmp_path / "d.pt")
    monkeypatch.chdir(tmp_path)
    assert load_data("d.pt", base_dir=tmp_path / "ckpts")[0].shape[0] == 20
    assert load_data("d.pt")[0].shape[0] == 5
    with pytest.raises(InputError, match="not found in '.*nowhere'"):
        load_data("d.pt", base_dir=tmp_path / "nowhere")  # a checkpoint's spec: beside it only


DATA_FILE = """
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

def xy():
    g = torch.Generator().manual_seed(0)
    return torch.randn(20, 3, generator=g), torch.randint(0, 4, (20,), generator=g)

def tensors():
    return xy()

def numpy_pair():
    x, y = xy()
    return x.numpy(), y.numpy()

class Items(Dataset):
    def __len__(self):
        return 20
    def __getitem__(self, i):
        x, y = xy()
        return x[i].numpy(), int(y[i])

def dataset():
    return Items()

def loader():
    return DataLoader(TensorDataset(*xy()), batch_size=7)

def empty():
    return torch.zeros(0, 3), torch.zeros(0)

def mismatch():
    return torch.zeros(5, 3), torch.zeros(4)

def nonfinite():
    x = torch.zeros(5, 3)
    x[1, 2] = float("nan")
    x[3, 0] = float("inf")
    return x, torch.zeros(5)

def scalar():
    return 3.0

class Ragged(Dataset):
    def __len__(self):
        return 2
    def __getitem__(self, i):
        return torch.zeros(2 + i), i

def ragged():
    return Ragged()
"""


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "user_data.py"
    path.write_text(textwrap.dedent(DATA_FILE))
    return path


@pytest.mark.parametrize("fn", ["tensors", "numpy_pair", "dataset", "loader"])
def test_data_factories(data_file, xy, fn):
    x, y = xy
    gx, gy = load_data(f"{data_file}:{fn}")
    torch.testing.assert_close(gx, x)
    assert torch.equal(gy, y) and gy.dtype == torch.int64


def test_data_factory_relative_file_and_module(data_file, xy, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert torch.equal(load_data("user_data.py:tensors")[0], xy[0])
    monkeypatch.syspath_prepend(str(tmp_path))
    assert torch.equal(load_data("user_data:loader")[1], xy[1])


def test_samples_subset_is_seeded(tmp_path, xy):
    x, y = xy
    torch.save({"x": x, "y": y}, tmp_path / "d.pt")
    spec = str(tmp_path / "d.pt")
    a = load_data(spec, samples=8, seed=1)
    b = load_data(spec, samples=8, seed=1)
    c = load_data(spec, samples=8, seed=2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].shape == (8, 3) and not torch.equal(a[0], c[0])
    index = torch.randperm(20, generator=torch.Generator().manual_seed(1))[:8].sort().values
    assert torch.equal(a[0], x[index]) and torch.equal(a[1], y[index])
    assert torch.equal(load_data(spec, samples=20)[0], x)
    with pytest.raises(InputError, match="`samples`=21 is more than the 20 examples") as exc:
        load_data(spec, samples=21)
    assert exc.value.fields == ("samples",)
    assert as_flags(exc.value, "spectrum").problem.startswith("--samples 21 is more than the 20")
    with pytest.raises(InputError, match="positive integer"):
        load_data(spec, samples=0)


@pytest.mark.parametrize(
    ("fn", "words"),
    [
        ("empty", r"empty \(0 examples\)"),
        ("mismatch", "5 inputs but 4 targets"),
        ("nonfinite", "x from factory .* has 2 non-finite values"),
        ("scalar", "returned a float"),
        ("ragged", "do not stack"),
        ("missing_fn", "no attribute 'missing_fn'"),
    ],
)
def test_bad_data_from_factories(data_file, fn, words):
    with pytest.raises(InputError, match=words):
        load_data(f"{data_file}:{fn}")


def test_bad_data_files(tmp_path, xy):
    x, y = xy
    torch.save({"inputs": x, "labels": y}, tmp_path / "keys.pt")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    torch.save(TensorDataset(x, y, y), tmp_path / "three.pt")
    torch.save({"x": x, "y": small_model()}, tmp_path / "pickled.pt")
    np.savez(tmp_path / "keys.npz", a=x.numpy())
    (tmp_path / "cut.pt").write_bytes((tmp_path / "keys.pt").read_bytes()[:100])
    (tmp_path / "junk.csv").write_text("1,2,3\n")
    (tmp_path / "folder").mkdir()
    cases = {
        "keys.pt": "no 'x' and 'y' keys (keys: inputs, labels)",
        "tensor.pt": "holds a Tensor, not an (x, y) pair",
        "three.pt": "has 3 tensors, expected 2",
        "pickled.pt": "refuses (sample_models.mlp.MLP)",
        "keys.npz": "no arrays 'x' and 'y' (arrays: a)",
        "cut.pt": "corrupt or truncated",
        "junk.csv": "unknown format",
        "folder": "is a directory",
        "absent.pt": "not found",
    }
    for name, words in cases.items():
        with pytest.raises(InputError) as info:
            load_data(str(tmp_path / name))
        assert words in str(info.value), (name, str(info.value))
        assert "\n" not in str(info.value)
