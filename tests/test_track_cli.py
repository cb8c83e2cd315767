"""`landscape track` through the console entry point: rows in step order equal to the
library's (and to a dense float64 Hessian), --json, --csv, --png, bad input (exit 2, one line)
and a checkpoint that fails mid-run (its row, exit 3)."""

import csv
import json

import pytest
import torch
from cli import run
from dense import dense_hessian
from torch import nn

import landscape as ls
from landscape.losses import get_loss
from landscape.problem import build_problem

FACTORY = """
import torch
from torch import nn


def build(hidden=12):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(5, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
        nn.Linear(hidden, 2),
    ).double()
"""
STEPS = (0, 100, 200, 300)


def _build(hidden=12):
    namespace: dict = {}
    exec(FACTORY, namespace)
    return namespace["build"](hidden)


def _data():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(48, 5, generator=g, dtype=torch.float64)
    return x, torch.randn(48, 2, generator=g, dtype=torch.float64)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Full-batch GD at η = 0.65 (λ_max sharpens past 2/η ≈ 3.08); saved out of step order by
    name (ck_a.pt is step 300) so that the order must come from the metadata."""
    folder = tmp_path_factory.mktemp("trackcli")
    (folder / "ckpts").mkdir()
    (folder / "factory.py").write_text(FACTORY)
    x, y = _data()
    torch.save({"x": x, "y": y}, folder / "data.pt")
    model = _build()
    opt = torch.optim.SGD(model.parameters(), lr=0.65)
    names = dict(zip(STEPS, ("ck_d", "ck_c", "ck_b", "ck_a"), strict=True))
    for t in range(max(STEPS) + 1):
        if t in STEPS:
            blob = {"state_dict": model.state_dict(), "optimizer": opt.state_dict(), "step": t}
            torch.save(blob, folder / "ckpts" / f"{names[t]}.pt")
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return folder


def _args(folder, *extra):
    return [
        "track", str(folder / "ckpts" / "*.pt"), "--data", str(folder / "data.pt"),
        "--model-factory", f"{folder / 'factory.py'}:build", "--loss", "mse", *extra,
    ]  # fmt: skip


def _dense_top(path):
    model, (x, y) = _build(), _data()
    model.load_state_dict(torch.load(path)["state_dict"])
    problem = build_problem(model, x, y, get_loss("mse"), batch_size=None, dtype=torch.float64)
    return float(torch.linalg.eigvalsh(dense_hessian(problem))[-1])


@pytest.fixture(scope="module")
def library(run_dir):
    return ls.track(_build(), run_dir / "ckpts" / "*.pt", _data(), "mse", dtype="float64", tol=1e-6)


def test_rows_in_step_order_equal_the_library_and_the_dense_truth(
    run_dir, library, capsys, monkeypatch
):
    r = run(_args(run_dir, "--tol", "1e-6", "--json"), capsys, monkeypatch)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["command"] == "track" and doc["order"] == "step"
    rows = doc["checkpoints"]
    assert [row["step"] for row in rows] == list(STEPS)
    assert [row["path"].rsplit("/", 1)[-1] for row in rows] == [
        "ck_d.pt", "ck_c.pt", "ck_b.pt", "ck_a.pt"
    ]  # fmt: skip
    for row, want in zip(rows, library.checkpoints, strict=True):
        assert row["top"][0]["value"] == pytest.approx(want.top[0].value, rel=1e-9)
        assert row["top"][0]["converged"] and row["edge"] == pytest.approx(2 / 0.65)
    truth = _dense_top(rows[1]["path"])  # step 100, past the edge
    top = rows[1]["top"][0]
    assert abs(top["value"] - truth) <= top["error_bound"] + 1e-12
    assert truth > 2 / 0.65  # the run did reach the edge of stability


def test_the_terminal_view_has_one_row_per_checkpoint_in_step_order(
    run_dir, library, capsys, monkeypatch
):
    r = run(_args(run_dir, "--tol", "1e-6"), capsys, monkeypatch)
    assert r.code == 0, r.err
    lines = [line for line in r.out.splitlines() if ".pt" in line]
    assert [line.split("│")[1].strip() for line in lines] == [str(s) for s in STEPS]
    for line, want in zip(lines, library.checkpoints, strict=True):
        shown = float(line.split("│")[3].split("±")[0])
        assert shown == pytest.approx(want.top[0].value, rel=1e-8)
    assert "order used (step): ck_d.pt, ck_c.pt, ck_b.pt, ck_a.pt" in r.err


def test_csv_has_a_header_and_one_row_per_checkpoint(run_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "track.csv"
    r = run(_args(run_dir, "--csv", out, "--metrics", "lambda_max,lr"), capsys, monkeypatch)
    assert r.code == 0, r.err
    rows = list(csv.DictReader(out.open()))
    assert [int(row["step"]) for row in rows] == list(STEPS)
    assert all(float(row["lambda_max"]) > 0 and row["proxy"] == "" for row in rows)
    assert all(float(row["edge"]) == pytest.approx(2 / 0.65) for row in rows)


def test_png_is_written(run_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "track.png"
    r = run(_args(run_dir, "--png", out), capsys, monkeypatch)
    assert r.code == 0, r.err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_glob_matching_nothing_is_one_line_exit_2(run_dir, tmp_path, capsys, monkeypatch):
    args = _args(run_dir, "--csv", tmp_path / "t.csv")
    args[1] = str(run_dir / "nothing_*.pt")
    r = run(args, capsys, monkeypatch)
    assert r.code == 2 and r.out == ""
    assert len(r.err.strip().splitlines()) == 1 and "nothing_*.pt" in r.err
    assert "Traceback" not in r.err and not (tmp_path / "t.csv").exists()


def test_another_architecture_is_one_line_exit_2_naming_the_file(
    run_dir, tmp_path, capsys, monkeypatch
):
    wide = tmp_path / "wide.pt"
    torch.save({"state_dict": _build(hidden=7).state_dict(), "step": 50}, wide)
    args = _args(run_dir)
    args.insert(2, str(wide))
    r = run(args, capsys, monkeypatch)
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and "wide.pt" in r.err


def test_adam_metrics_without_adam_state_is_exit_2(run_dir, capsys, monkeypatch):
    r = run(_args(run_dir, "--metrics", "lambda_max,adam"), capsys, monkeypatch)
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r.err
    assert "ck_" in r.err and "Adam" in r.err


def test_a_failing_checkpoint_is_its_row_and_exit_3(run_dir, tmp_path, capsys, monkeypatch):
    state = torch.load(run_dir / "ckpts" / "ck_c.pt")
    state["state_dict"]["0.weight"][0, 0] = float("nan")
    state["step"] = 150
    torch.save(state, tmp_path / "broken.pt")
    args = _args(run_dir, "--json")
    args.insert(2, str(tmp_path / "broken.pt"))
    r = run(args, capsys, monkeypatch)
    assert r.code == 3, r.err
    rows = json.loads(r.out)["checkpoints"]
    assert [row["step"] for row in rows] == [0, 100, 150, 200, 300]
    assert "NaN" in rows[2]["error"] and rows[2]["top"] == []
    assert all(row["error"] is None and row["top"][0]["converged"] for row in rows[:2] + rows[3:])
    assert "broken.pt" in r.err and "1 of 5 checkpoints failed" in r.err


def test_lightning_checkpoints_are_read_as_lightning_writes_them(tmp_path, capsys, monkeypatch):
    """A LightningModule's ModelCheckpoint files: the model's keys under the module's
    attribute (`net.0.weight`), the step as `global_step`, the optimizer in `optimizer_states`:
    rows in global_step order with the momentum edge (2 + 2β)/η, λ_max the dense truth."""
    lightning = pytest.importorskip("lightning")

    class Module(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = _build()

        def training_step(self, batch, _):
            return nn.functional.mse_loss(self.net(batch[0]), batch[1])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.5)

    (tmp_path / "factory.py").write_text(FACTORY)
    x, y = _data()
    torch.save({"x": x, "y": y}, tmp_path / "data.pt")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=48)
    saver = lightning.pytorch.callbacks.ModelCheckpoint(
        dirpath=tmp_path / "ckpts", every_n_train_steps=4, save_top_k=-1
    )
    lightning.Trainer(
        max_steps=12, callbacks=[saver], logger=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu",
    ).fit(Module(), loader)  # fmt: skip
    monkeypatch.chdir(tmp_path)
    args = ["track", "ckpts", "--data", "data.pt", "--model-factory", "factory.py:build"]
    r = run([*args, "--loss", "mse", "--tol", "1e-8", "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    rows = json.loads(r.out)["checkpoints"]
    assert [row["step"] for row in rows] == [4, 8, 12]
    assert all(row["edge"] == pytest.approx((2 + 2 * 0.5) / 0.1) for row in rows)
    blob = torch.load(rows[-1]["path"], weights_only=False)
    model = _build()
    model.load_state_dict({k[len("net.") :]: v for k, v in blob["state_dict"].items()})
    problem = build_problem(model, x, y, get_loss("mse"), batch_size=None, dtype=torch.float64)
    truth = float(torch.linalg.eigvalsh(dense_hessian(problem))[-1])
    top = rows[-1]["top"][0]
    assert abs(top["value"] - truth) <= top["error_bound"] + 1e-12
