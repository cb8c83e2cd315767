"""What trust allows, and what the failures keep: the positive side of the bad-input corpus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli import run
from torch import nn

from landscape.errors import InputError
from landscape.render.files import write_files

NET = """
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        return self.lin(x)
"""


def dense_lambda_max(weight: torch.Tensor, bias: torch.Tensor, x, y) -> float:
    """λ_max of the mean cross-entropy's Hessian in (weight, bias), by a dense float64 matrix."""

    def loss(flat):
        w, b = flat[:12].reshape(3, 4), flat[12:]
        return nn.functional.cross_entropy(x @ w.T + b, y)

    theta = torch.cat([weight.reshape(-1), bias]).double()
    return float(torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, theta))[-1])


@pytest.fixture
def problem(tmp_path):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(40, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=g)
    torch.save({"x": x, "y": y}, tmp_path / "data.pt")
    torch.manual_seed(4)
    lin = nn.Linear(4, 3).double()
    return tmp_path, lin, x, y


def console(args, cwd) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "landscape"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(script), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_tutorial_checkpoint_loads_with_a_factory_and_kwargs(problem, capsys, monkeypatch):
    folder, lin, x, y = problem
    sd = lin.state_dict()
    optimizer = torch.optim.SGD(lin.parameters(), lr=0.1).state_dict()
    checkpoint = {"model_state_dict": sd, "optimizer_state_dict": optimizer, "epoch": 3}
    torch.save({**checkpoint, "loss": 0.0760}, folder / "tutorial.pt")
    monkeypatch.chdir(folder)
    kwargs = json.dumps({"in_features": 4, "out_features": 3})
    args = ["spectrum", "tutorial.pt", "--model-factory", "torch.nn:Linear"]
    r = run([*args, "--factory-kwargs", kwargs, "--data", "data.pt", "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    top = json.loads(r.out)["top"][0]["value"]
    assert top == pytest.approx(dense_lambda_max(sd["weight"], sd["bias"], x, y), rel=1e-9)


def test_trusted_pickled_module_resolves_classes_from_the_users_folders(problem, tmp_path):
    folder, lin, x, y = problem
    (folder / "models").mkdir()
    (folder / "models" / "__init__.py").write_text(NET)
    save = "import torch, models; n = models.Net().double(); torch.manual_seed(5); "
    save += "torch.save(n, 'net.pt'); torch.save(n.state_dict(), 'net_sd.pt')"
    subprocess.run([sys.executable, "-c", save], cwd=folder, check=True)
    sd = torch.load(folder / "net_sd.pt", weights_only=True)
    truth = dense_lambda_max(sd["lin.weight"], sd["lin.bias"], x, y)
    refused = console(["spectrum", "net.pt", "--data", "data.pt"], folder)
    assert refused.returncode == 2 and "models.Net" in refused.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for cwd, ckpt in ((folder, "net.pt"), (elsewhere, folder / "net.pt")):  # cwd, then its folder
        done = console(
            [
                "spectrum",
                ckpt,
                "--trust-checkpoint",
                "--data",
                folder / "data.pt",
                "--k",
                "1",
                "--json",
            ],
            cwd,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["top"][0]["value"] == pytest.approx(truth, rel=1e-9)


def test_outputs_are_written_all_or_none(tmp_path):
    good = tmp_path / "a" / "report.json"
    with pytest.raises(InputError, match="no file was written"):
        write_files({good: b"{}", Path("/proc/landscape-test/x.png"): b"png"})
    assert not good.exists() and not (tmp_path / "a").exists()
    write_files({good: b"{}", tmp_path / "b.png": b"png"})
    assert good.read_bytes() == b"{}" and (tmp_path / "b.png").read_bytes() == b"png"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b.png", "report.json"]


def test_a_failing_figure_never_costs_the_report(tmp_path, capsys, monkeypatch):
    from landscape.render.figures import spectrum

    def broken(report, target):
        raise ValueError("no axes")

    monkeypatch.setattr(spectrum, "draw_spectrum", broken)  # the figure the sink loads lazily
    monkeypatch.chdir(tmp_path)
    r = run(["spectrum", "--k", "1", "--k-bottom", "0", "--out", "out"], capsys, monkeypatch)
    assert r.code == 70
    lines = [line for line in r.err.splitlines() if "wrote" not in line and "bundled" not in line]
    assert len(lines) == 1 and "spectrum figure could not be drawn" in lines[0], r.err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["top"][0]["value"] == pytest.approx(43.13266091918, rel=1e-9)
    assert not (tmp_path / "out" / "spectrum.png").exists()


def test_trusted_pt2_loads_and_untrusted_is_refused(tmp_path, capsys, monkeypatch):
    torch.manual_seed(6)
    lin = nn.Linear(4, 3).double().eval()
    x = torch.randn(40, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (40,))
    torch.save({"x": x, "y": y}, tmp_path / "data.pt")
    dim = torch.export.Dim("batch")
    program = torch.export.export(lin, (x[:2],), dynamic_shapes=({0: dim},))
    torch.export.save(program, tmp_path / "m.pt2")
    monkeypatch.chdir(tmp_path)
    args = ["spectrum", "m.pt2", "--data", "data.pt", "--k", "1", "--json"]
    refused = run(args, capsys, monkeypatch)
    assert refused.code == 2 and "--trust-checkpoint" in refused.err and refused.out == ""
    r = run([*args, "--trust-checkpoint"], capsys, monkeypatch)
    assert r.code == 0, r.err
    truth = dense_lambda_max(lin.weight.detach(), lin.bias.detach(), x, y)
    assert json.loads(r.out)["top"][0]["value"] == pytest.approx(truth, rel=1e-9)


# ---------------------------------------------------------------- what the user typed (issue 20)

LINEAR = ["--model-factory", "torch.nn:Linear", "--factory-kwargs", '{"in_features": 4, '
          '"out_features": 3}', "--k", "1", "--k-bottom", "0", "--json"]  # fmt: skip
MARKER_PY = "open({marker!r}, 'w').close()\n\ndef make():\n    return None\n"
USER_DATA_PY = (
    "import torch\n\ndef make():\n    d = torch.load({path!r})\n    return d['x'], d['y']\n"
)


@pytest.fixture
def downloaded(problem):
    """A checkpoint in dl/ with its own dataf.py, helpermod.py (each writes a marker when its
    code runs) and data.pt (other numbers) beside it; the user works in work/."""
    folder, lin, x, y = problem
    dl, work = folder / "dl", folder / "work"
    dl.mkdir()
    work.mkdir()
    torch.save(lin.state_dict(), dl / "m.pt")
    torch.save({"x": x[:10] * 3, "y": y[:10]}, dl / "data.pt")
    for name in ("dataf", "helpermod"):
        (dl / f"{name}.py").write_text(MARKER_PY.format(marker=str(folder / f"{name}.ran")))
    return folder, dl, work, lin, x, y


def top(r) -> float:
    assert r.code == 0, r.err
    return json.loads(r.out)["top"][0]["value"]


def test_what_the_user_typed_resolves_in_the_current_folder(downloaded, capsys, monkeypatch):
    folder, dl, work, lin, x, y = downloaded
    truth = dense_lambda_max(lin.weight.detach(), lin.bias.detach(), x, y)
    (work / "dataf.py").write_text(USER_DATA_PY.format(path=str(folder / "data.pt")))
    (work / "usermod_trust.py").write_text(USER_DATA_PY.format(path=str(folder / "data.pt")))
    monkeypatch.chdir(work)
    before = list(sys.path)
    ckpt = str(dl / "m.pt")
    assert top(run(["spectrum", ckpt, *LINEAR, "--data", "dataf.py:make"], capsys, monkeypatch)) \
        == pytest.approx(truth, rel=1e-9)  # fmt: skip
    r = run(["spectrum", ckpt, *LINEAR, "--data", "usermod_trust:make"], capsys, monkeypatch)
    assert top(r) == pytest.approx(truth, rel=1e-9)  # a module in the cwd, not installed
    for spec, words in [
        ("helpermod:make", "no module named 'helpermod'"),
        ("data.pt", "data file 'data.pt' not found in the current directory"),
    ]:
        (work / "dataf.py").unlink(missing_ok=True)
        r = run(["spectrum", ckpt, *LINEAR, "--data", spec], capsys, monkeypatch)
        assert r.code == 2 and words in r.err and len(r.err.splitlines()) == 1, r.err
    r = run(["spectrum", ckpt, *LINEAR, "--data", "dataf.py:make"], capsys, monkeypatch)
    assert r.code == 2 and "not found in the current directory" in r.err
    r = run(["spectrum", ckpt, "--model-factory", "helpermod:make"], capsys, monkeypatch)
    assert r.code == 2 and "no module named 'helpermod'" in r.err
    assert not (folder / "dataf.ran").exists() and not (folder / "helpermod.ran").exists()
    assert sys.path == before and "helpermod" not in sys.modules


def test_a_trusted_checkpoints_own_specs_resolve_beside_it(downloaded, capsys, monkeypatch):
    folder, dl, work, lin, x, y = downloaded
    (dl / "own_data_trust.py").write_text(USER_DATA_PY.format(path=str(dl / "data.pt")))
    sd = lin.state_dict()
    meta = {"factory": "torch.nn:Linear", "factory_kwargs": {"in_features": 4, "out_features": 3}}
    torch.save({"state_dict": sd, **meta, "data": "own_data_trust:make"}, dl / "t.pt")
    torch.save({"state_dict": sd, **meta, "data": "data.pt"}, dl / "f.pt")
    monkeypatch.chdir(work)
    before = list(sys.path)
    truth = dense_lambda_max(sd["weight"], sd["bias"], x[:10] * 3, y[:10])
    args = ["--trust-checkpoint", "--k", "1", "--k-bottom", "0", "--json"]
    r = run(["spectrum", str(dl / "t.pt"), *args], capsys, monkeypatch)
    assert top(r) == pytest.approx(truth, rel=1e-9)
    assert r.err == ""  # a file the user trusts: its choices are not announced
    r = run(["spectrum", str(dl / "f.pt"), *args], capsys, monkeypatch)  # a file: beside it
    assert top(r) == pytest.approx(truth, rel=1e-9)
    assert sys.path == before


FOUND = [
    ("trust_checkpoint = true\n", "trust_checkpoint", "grants trust"),
    ('model_factory = "subprocess:run"\n[factory_kwargs]\nargs = ["touch", "MARK"]\n',
     "model_factory", "names code"),
    ('data = "evil_data.py:make"\n', "data", "names code"),
    ('[factory_kwargs]\nin_features = 4\nout_features = 3\n', "factory_kwargs", "arguments"),
]  # fmt: skip


@pytest.mark.parametrize("name", ["landscape.toml", "pyproject.toml"])
@pytest.mark.parametrize(("text", "key", "words"), FOUND)
def test_a_found_config_cannot_run_code_or_grant_trust(
    problem, capsys, monkeypatch, name, text, key, words
):
    folder, lin, x, y = problem
    marker = folder / "config.ran"
    text = text.replace("MARK", str(marker))
    (folder / "evil_data.py").write_text(MARKER_PY.format(marker=str(marker)))
    torch.save(lin.state_dict(), folder / "m.pt")
    if name == "pyproject.toml":
        text = "[tool.landscape]\n" + text.replace(
            "[factory_kwargs]", "[tool.landscape.factory_kwargs]"
        )
    (folder / name).write_text(text)
    monkeypatch.chdir(folder)
    factory = [] if key in ("model_factory", "factory_kwargs") else LINEAR[:4]
    args = ["spectrum", "m.pt", *factory, "--k", "1", "--k-bottom", "0", "--json"]
    if key != "data":
        args += ["--data", "data.pt"]
    if key == "factory_kwargs":
        args += ["--model-factory", "torch.nn:Linear"]
    r = run(args, capsys, monkeypatch)
    lines = r.err.splitlines()
    assert r.code == 2 and len(lines) == 1 and r.out == "", r.err
    assert f"config option '{key}'" in lines[0] and words in lines[0]
    assert f"--config {name}" in lines[0] and not marker.exists()


def test_an_explicit_config_may_name_code_and_grant_trust(problem, capsys, monkeypatch):
    folder, lin, x, y = problem
    sd = lin.state_dict()
    meta = {"factory": "torch.nn:Linear", "factory_kwargs": {"in_features": 4, "out_features": 3}}
    torch.save({"state_dict": sd, **meta}, folder / "meta.pt")
    torch.save(sd, folder / "m.pt")
    (folder / "cfg").mkdir()
    torch.save({"x": x, "y": y}, folder / "cfg" / "data.pt")
    torch.save({"x": x[:7], "y": y[:7]}, folder / "data.pt")  # the cwd's: not the config's
    (folder / "cfg" / "trust.toml").write_text('trust_checkpoint = true\ndata = "data.pt"\n')
    code = 'model_factory = "torch.nn:Linear"\ndata = "data.pt"\n[factory_kwargs]\n'
    (folder / "cfg" / "code.toml").write_text(code + "in_features = 4\nout_features = 3\n")
    (folder / "landscape.toml").write_text("trust_checkpoint = true\n")
    monkeypatch.chdir(folder)
    truth = dense_lambda_max(sd["weight"], sd["bias"], x, y)
    args = ["--k", "1", "--k-bottom", "0", "--json"]
    for ckpt, config in (("meta.pt", "cfg/trust.toml"), ("m.pt", "cfg/code.toml")):
        r = run(["spectrum", ckpt, "--config", config, *args], capsys, monkeypatch)
        assert top(r) == pytest.approx(truth, rel=1e-9)  # the data beside the config
    r = run(["spectrum", "meta.pt", "--config", "landscape.toml", *args], capsys, monkeypatch)
    assert r.code == 2 and "data" in r.err  # trusted now; the data is what is missing


def test_a_tilde_expands_in_every_path(problem, capsys, monkeypatch):
    folder, lin, x, y = problem
    home = folder / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    torch.save(lin.state_dict(), home / "m.pt")
    (folder / "landscape.toml").write_text('out = "~/from_config"\n')
    monkeypatch.chdir(folder)
    base = ["spectrum", "~/m.pt", *LINEAR[:4], "--data", "~/../data.pt", "--k", "1"]
    r = run([*base, "--k-bottom", "0"], capsys, monkeypatch)
    assert r.code == 0, r.err
    r = run([*base, "--k-bottom", "0", "--out=~/from_cli"], capsys, monkeypatch)
    assert r.code == 0, r.err
    for name in ("from_config", "from_cli"):
        assert (home / name / "report.json").is_file()
    assert not any(p.name == "~" for p in folder.rglob("*"))


ESCAPES = "evil\x1b[2J\x1b]0;owned\x07\u202e\x9b\r"


def test_control_characters_in_names_are_escaped(problem, capsys, monkeypatch):
    folder, lin, x, y = problem
    torch.save({**lin.state_dict(), ESCAPES: torch.zeros(1)}, folder / "keys.pt")
    net = "from torch import nn\n\n\ndef build():\n    m = nn.Linear(4, 3)\n"
    net += f"    m.register_parameter({ESCAPES!r}, nn.Parameter(m.bias.detach().clone()))\n"
    (folder / "net_esc.py").write_text(net + "    return m\n")
    torch.save(lin.state_dict(), folder / "plain.pt")
    monkeypatch.chdir(folder)
    r = run(["spectrum", "keys.pt", *LINEAR, "--data", "data.pt"], capsys, monkeypatch)
    lines = r.err.splitlines()
    assert r.code == 2 and len(lines) == 1, r.err
    assert "unexpected keys: evil\\x1b[2J\\x1b]0;owned\\x07\\u202e\\x9b\\r" in lines[0]
    r = run(["params", "plain.pt", "--model-factory", "net_esc.py:build"], capsys, monkeypatch)
    assert "evil\\x1b[2J" in r.out + r.err, r.err
    for raw in ("\x1b", "\x07", "\u202e", "\x9b", "\r"):
        assert raw not in r.out and raw not in r.err


def test_a_metadata_regex_never_hangs_and_is_said(problem, capsys, monkeypatch):
    folder, lin, x, y = problem
    name = "a" * 40 + "x"
    net = "from torch import nn\n\n\nclass Long(nn.Linear):\n    def __init__(self):\n"
    net += f"        super().__init__(4, 3)\n        self.register_parameter({name!r}, "
    net += "nn.Parameter(self.bias.detach().clone()))\n\n    def forward(self, x):\n"
    net += f"        return super().forward(x) + getattr(self, {name!r})\n"
    (folder / "long_net.py").write_text(net)
    sd = {**lin.state_dict(), name: lin.bias.detach().clone()}
    for pattern, stem in (("(a+)+$", "redos"), ("aaaax", "literal")):
        torch.save(
            {"state_dict": sd, "params": pattern, "loss": "cross-entropy"}, folder / f"{stem}.pt"
        )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "OMP_NUM_THREADS": "1"}
    args = ["--model-factory", "long_net.py:Long", "--data", "data.pt", "--k", "1", "--k-bottom"]
    args += ["0", "--json"]
    refused = subprocess.run(  # in a process of its own: as a regex it would not end
        [sys.executable, "-m", "landscape", "spectrum", "redos.pt", *args],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2 and "taken as plain text" in refused.stderr, refused.stderr
    monkeypatch.chdir(folder)
    done = run(["spectrum", "literal.pt", *args], capsys, monkeypatch)
    assert done.code == 0, done.err
    assert json.loads(done.out)["num_params"] == 3  # the one parameter whose name holds it
    said = "from the metadata of literal.pt: loss 'cross-entropy', params 'aaaax' (as plain text"
    assert said in done.err


def test_the_sample_is_known_by_its_content_wherever_it_is(tmp_path, capsys, monkeypatch):
    """After a plain `pip install .` the repository's sample_models/classifier.pt is not the
    installed file: the README's gate and interpolate examples run on any copy of it."""
    from sample_models import SAMPLE_CHECKPOINT, SAMPLE_DATA

    copy = tmp_path / "sample_models"
    copy.mkdir()
    for path in (SAMPLE_CHECKPOINT, SAMPLE_DATA):
        (copy / path.name).write_bytes(path.read_bytes())
    sd = torch.load(SAMPLE_CHECKPOINT, weights_only=True)["state_dict"]
    torch.save({k: v + 0.01 for k, v in sd.items()}, tmp_path / "seed1.pt")
    monkeypatch.chdir(tmp_path)
    ckpt = "sample_models/classifier.pt"
    r = run(["gate", ckpt, "--max", "lambda_max=50", "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    assert json.loads(r.out)["metrics"]["lambda_max"]["value"] == pytest.approx(43.13266092)
    r = run(["interpolate", ckpt, "seed1.pt", "--steps", "3", "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    assert json.loads(r.out)["loss"][0] == pytest.approx(0.334401, abs=1e-6)
    meta = torch.load(SAMPLE_CHECKPOINT, weights_only=True)
    torch.save({**meta, "lr": 0.02}, copy / "changed.pt")  # other bytes: not ours
    r = run(["spectrum", str(copy / "changed.pt")], capsys, monkeypatch)
    assert r.code == 2 and "--trust-checkpoint" in r.err


LOADERS = """
import torch
from torch.utils.data import DataLoader, Dataset, SubsetRandomSampler, WeightedRandomSampler

D = torch.load({path!r})


class Rows(Dataset):
    def __len__(self):
        return len(D["y"])

    def __getitem__(self, i):
        return D["x"][i], D["y"][i]


def collate(items):
    return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])


def ordered():
    return DataLoader(Rows(), batch_size=7, collate_fn=collate)


def shuffled():
    return DataLoader(Rows(), batch_size=7, shuffle=True, collate_fn=collate)


def subset():
    return DataLoader(Rows(), batch_size=7, sampler=SubsetRandomSampler([9, 3, 30, 12, 3]))


def weighted():
    return DataLoader(Rows(), batch_size=7, sampler=WeightedRandomSampler([1.0] * 40, 40))
"""


def test_a_shuffling_loader_gives_the_numbers_of_the_data_in_order(problem, capsys, monkeypatch):
    folder, lin, x, y = problem
    (folder / "loaders_trust.py").write_text(LOADERS.format(path=str(folder / "data.pt")))
    torch.save(lin.state_dict(), folder / "m.pt")
    monkeypatch.chdir(folder)
    w, b = lin.weight.detach(), lin.bias.detach()

    def spectrum(fn):
        return run(
            ["spectrum", "m.pt", *LINEAR, "--data", f"loaders_trust.py:{fn}"], capsys, monkeypatch
        )

    ordered, shuffled = spectrum("ordered"), spectrum("shuffled")
    assert top(shuffled) == pytest.approx(top(ordered), rel=1e-12)
    assert top(shuffled) == pytest.approx(dense_lambda_max(w, b, x, y), rel=1e-9)
    assert "shuffles" not in ordered.err
    said = "shuffles; a mean over the whole data set does not depend on the order"
    assert (
        said in shuffled.err
        and "(40 examples) is read in its own order, in batches of 7" in shuffled.err
    )
    index = torch.tensor([3, 3, 9, 12, 30])  # a shuffled subset: its examples, each pass
    assert top(spectrum("subset")) == pytest.approx(dense_lambda_max(w, b, x[index], y[index]))
    r = spectrum("weighted")  # a random sample each pass: refused, in one line
    assert r.code == 3 and len(r.err.splitlines()) == 1 and "WeightedRandomSampler" in r.err


def test_what_the_metadata_chose_is_said_only_with_an_answer(problem, capsys, monkeypatch):
    folder, lin, x, y = problem
    meta = {"state_dict": lin.state_dict(), "loss": "cross-entropy", "lr": 0.05}
    torch.save({**meta, "data": "data.pt"}, folder / "m.pt")
    torch.save({**meta, "data": "absent.pt"}, folder / "gone.pt")
    monkeypatch.chdir(folder)
    r = run(["spectrum", "m.pt", *LINEAR[:4], "--k", "1", "--k-bottom", "0"], capsys, monkeypatch)
    assert r.code == 0, r.err
    said = "from the metadata of m.pt: loss 'cross-entropy', data 'data.pt', lr 0.05"
    assert said in r.err.splitlines()[0]
    r = run(["spectrum", "gone.pt", *LINEAR[:4]], capsys, monkeypatch)
    assert r.code == 2 and len(r.err.splitlines()) == 1 and "absent.pt" in r.err
    kwargs = {"in_features": 4, "out_features": 3}
    torch.save({**meta, "factory": "torch.nn:Linear", "factory_kwargs": kwargs}, folder / "k.pt")
    args = ["spectrum", "k.pt", "--model-factory", "torch.nn:Linear", "--data", "data.pt"]
    r = run([*args, "--k", "1", "--k-bottom", "0"], capsys, monkeypatch)  # its kwargs: said
    assert r.code == 0 and 'factory kwargs {"in_features": 4, "out_features": 3}' in r.err


def test_a_regex_not_typed_is_bounded_in_time(problem, capsys, monkeypatch):
    """A found config's or a trusted file's `params` stays a regex, tried first in a process of
    its own that is stopped when it backtracks; a benign one selects as typed ones do."""
    import landscape.cli.session as session

    folder, lin, x, y = problem
    name = "a" * 40 + "x"
    net = "from torch import nn\n\n\nclass Long(nn.Linear):\n    def __init__(self):\n"
    net += f"        super().__init__(4, 3)\n        self.register_parameter({name!r}, "
    net += "nn.Parameter(self.bias.detach().clone()))\n\n    def forward(self, x):\n"
    net += f"        return super().forward(x) + getattr(self, {name!r})\n"
    (folder / "long_net2.py").write_text(net)
    sd = {**lin.state_dict(), name: lin.bias.detach().clone()}
    meta = {"factory": "long_net2.py:Long", "params": "(a+)+$"}
    torch.save({"state_dict": sd, **meta}, folder / "trusted.pt")
    torch.save(sd, folder / "plain.pt")
    monkeypatch.setattr(session, "REGEX_SECONDS", 1.0)
    monkeypatch.chdir(folder)
    args = ["--data", "data.pt", "--k", "1", "--k-bottom", "0", "--json"]
    r = run(["spectrum", "trusted.pt", "--trust-checkpoint", *args], capsys, monkeypatch)
    assert r.code == 2 and "from the metadata of trusted.pt did not finish" in r.err, r.err
    plain = ["spectrum", "plain.pt", "--model-factory", "long_net2.py:Long", *args]
    (folder / "landscape.toml").write_text('params = "(a+)+$"\n')
    r = run(plain, capsys, monkeypatch)
    assert r.code == 2 and "from the config found here did not finish" in r.err, r.err
    (folder / "landscape.toml").write_text('params = "^a+x$|^bias$"\n')
    r = run(plain, capsys, monkeypatch)
    assert json.loads(r.out)["num_params"] == 6, r.err
