"""Streamed data: a Dataset or DataLoader from a factory is read batch by batch on every pass
and gives the numbers the same data gives in memory (to 1e-12); --samples reads only the
chosen indices; a loader that augments is refused (exit 3) in one line (one that shuffles is
read in the dataset's order: tests/test_trust.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from cli import run

from landscape.load import import_object, load_data, open_data
from landscape.load.stream import Stream
from landscape.losses import get_loss
from landscape.problem import build_problem
from sample_models.mlp import build

N = 24
KWARGS = {"in_features": 3, "hidden": [5], "classes": 2}

FACTORIES = """
import os
import weakref

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

DATA = torch.load(DATA_FILE)
X, Y = DATA["x"], DATA["y"]
READS = []  # every index read, in order
ALIVE = [0, 0]  # items alive now, most alive at once


def _gone():
    ALIVE[0] -= 1


def _tracked(t):
    ALIVE[0] += 1
    ALIVE[1] = max(ALIVE)
    weakref.finalize(t, _gone)
    return t


class Items(Dataset):
    def __len__(self):
        return len(Y)

    def __getitem__(self, i):
        READS.append(int(i))
        if "RANK" in os.environ:  # under torchrun: what each rank read
            with open(f"reads_{os.environ['RANK']}.txt", "a") as f:
                f.write(f"{i}\\n")
        return _tracked(X[i].clone()), int(Y[i])


class Augmented(Items):
    def __getitem__(self, i):
        x, y = super().__getitem__(i)
        return x + 0.01 * torch.randn(x.shape), y


class WithNaN(Items):
    def __getitem__(self, i):
        x, y = super().__getitem__(i)
        return (x * float("nan") if i == 17 else x), y


class InOrder(IterableDataset):
    def __iter__(self):
        for i in range(len(Y)):
            READS.append(i)
            yield X[i], int(Y[i])


class Tokens(Dataset):
    def __len__(self):
        return len(TOKENS["labels"])

    def __getitem__(self, i):
        READS.append(int(i))
        return {k: v[i] for k, v in TOKENS.items()}


def dataset():
    return Items()


def loader():
    return DataLoader(Items(), batch_size=5)


def shuffled():
    return DataLoader(Items(), batch_size=5, shuffle=True)


def augmented():
    return DataLoader(Augmented(), batch_size=5)


def iterable():
    return DataLoader(InOrder(), batch_size=5)


def with_nan():
    return WithNaN()


def tokens():
    global TOKENS
    TOKENS = torch.load(TOKENS_FILE)
    return Tokens()
"""


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A model, its data as a file, and factories over the same data in `data.py`."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(N, 3, generator=g), torch.randint(0, 2, (N,), generator=g)
    torch.save({"x": x, "y": y}, tmp_path / "d.pt")
    torch.save(build(**KWARGS).state_dict(), tmp_path / "m.pt")
    head = f"DATA_FILE = {str(tmp_path / 'd.pt')!r}\nTOKENS_FILE = {str(tmp_path / 't.pt')!r}\n"
    (tmp_path / "data.py").write_text(head + textwrap.dedent(FACTORIES))
    monkeypatch.chdir(tmp_path)
    return tmp_path


MODEL = [
    "m.pt",
    "--model-factory",
    "sample_models.mlp:build",
    "--factory-kwargs",
    json.dumps(KWARGS),
]


def report(command: str, data: str, *extra: str, capsys, monkeypatch) -> dict:
    r = run([command, *MODEL, "--data", data, *extra, "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    return json.loads(r.out)


def factory_module(work: Path) -> dict:
    """The globals of data.py as the command line imported it (one module per file)."""
    return import_object(f"{work / 'data.py'}:dataset").__globals__


def numbers(a, b, path=""):
    """Pairs of every number in two reports, by path (timings, the route, the basis, which
    the free memory of the moment sizes, and the orthogonality of the returned vectors, which
    is round-off, 1e-16, left out)."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for key in a:
            if "seconds" not in key and key not in ("strategy", "basis", "orthogonality"):
                yield from numbers(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            yield from numbers(u, v, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(a, bool):
        yield path, a, b
    else:
        assert a == b, (path, a, b)


def assert_same(a: dict, b: dict, rel: float = 1e-12) -> int:
    """Every number to `rel`; the residual bounds, being round-off where the batches differ,
    to `rel`·max|λ| (as the distributed tests compare them)."""
    scale = max([abs(e["value"]) for e in a.get("top", [])] + [1.0])
    count = 0
    for path, u, v in numbers(a, b):
        size = scale if path.endswith("error_bound") else max(abs(u), abs(v), 1e-300)
        assert abs(u - v) <= rel * size, (path, u, v)
        count += 1
    return count


COMMANDS = {  # each command's options, and the factory it reads (a Dataset or a DataLoader)
    "spectrum": (["--k", "2", "--k-bottom", "1", "--trace-samples", "8"], "loader"),
    "ggn-gap": (["--k", "2", "--mc-samples", "2", "--probes", "4"], "dataset"),
    "taylor-check": (["--steps", "6"], "loader"),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_streamed_dataset_or_loader_gives_the_numbers_held_in_memory(
    work, command, capsys, monkeypatch
):
    options, fn = COMMANDS[command]
    args = [*options, "--batch-size", "5", "--strategy", "double-backward"]
    held = report(command, "d.pt", *args, capsys=capsys, monkeypatch=monkeypatch)
    streamed = report(command, f"data.py:{fn}", *args, capsys=capsys, monkeypatch=monkeypatch)
    assert assert_same(held, streamed) > 5


def test_the_data_is_read_per_pass_and_never_held(work, capsys, monkeypatch):
    """The streamed route reads every example once per pass, in data order, one batch at a
    time; the kept-graph route (auto, when the graphs fit) reads it into memory once."""
    module = factory_module(work)
    args = ["--k", "1", "--k-bottom", "0", "--trace-samples", "4", "--batch-size", "4"]
    held = report("spectrum", "d.pt", *args, capsys=capsys, monkeypatch=monkeypatch)
    module["READS"].clear()
    streamed = report(
        "spectrum", "data.py:dataset", *args, "--strategy", "double-backward",
        capsys=capsys, monkeypatch=monkeypatch,
    )  # fmt: skip
    assert_same(held, streamed)
    probe, reads = module["READS"][:4], module["READS"][4:]  # the first batch, read for probes
    assert probe == [0, 1, 2, 3]
    passes, rest = divmod(len(reads), N)
    assert rest == 0 and passes >= streamed["products"]
    assert all(reads[i * N : (i + 1) * N] == list(range(N)) for i in range(passes))
    assert module["ALIVE"][1] <= 4  # items alive at once: one batch's
    module["READS"].clear()
    kept = report("spectrum", "data.py:loader", *args, capsys=capsys, monkeypatch=monkeypatch)
    assert kept["strategy"] == "kept-graph"
    assert_same(held, kept)
    assert len(module["READS"]) <= 6 * N  # a few passes to check and count, then held


def test_samples_read_only_the_chosen_indices(work, capsys, monkeypatch):
    module = factory_module(work)
    args = ["--samples", "10", "--seed", "3", "--k", "2", "--k-bottom", "1"]
    held = report("spectrum", "d.pt", *args, capsys=capsys, monkeypatch=monkeypatch)
    module["READS"].clear()
    streamed = report("spectrum", "data.py:loader", *args, capsys=capsys, monkeypatch=monkeypatch)
    assert_same(held, streamed)
    chosen = torch.randperm(N, generator=torch.Generator().manual_seed(3))[:10].sort().values
    assert set(module["READS"]) == set(chosen.tolist())
    assert streamed["num_samples"] == 10


def test_an_iterable_loader_streams_and_samples_take_the_first(work, capsys, monkeypatch):
    module = factory_module(work)
    args = ["--k", "2", "--k-bottom", "1", "--strategy", "double-backward"]
    held = report("spectrum", "d.pt", *args, capsys=capsys, monkeypatch=monkeypatch)
    assert_same(
        held, report("spectrum", "data.py:iterable", *args, capsys=capsys, monkeypatch=monkeypatch)
    )
    x, y = load_data("d.pt")
    torch.save({"x": x[:10], "y": y[:10]}, work / "first.pt")
    first = report("spectrum", "first.pt", *args, capsys=capsys, monkeypatch=monkeypatch)
    module["READS"].clear()
    streamed = report(
        "spectrum", "data.py:iterable", *args, "--samples", "10",
        capsys=capsys, monkeypatch=monkeypatch,
    )  # fmt: skip
    assert_same(first, streamed)
    assert max(module["READS"]) < 15  # the reading stops after the batch holding the 10th
    r = run(
        ["spectrum", *MODEL, "--data", "data.py:iterable", "--batch-size", "4"], capsys, monkeypatch
    )
    assert r.code == 2 and "makes its own batches" in r.err


@pytest.mark.parametrize(("fn", "words"), [("augmented", "random transforms")])
def test_a_loader_that_augments_is_refused(work, fn, words, capsys, monkeypatch):
    r = run(["spectrum", *MODEL, "--data", f"data.py:{fn}"], capsys, monkeypatch)
    assert r.code == 3, r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "shuffle=False" in r.err + lines[0]


def test_a_stream_is_checked_for_nan_on_its_first_pass(work, capsys, monkeypatch):
    r = run(
        ["spectrum", *MODEL, "--data", "data.py:with_nan", "--batch-size", "5"], capsys, monkeypatch
    )
    assert r.code == 2 and "x from factory 'data.py:with_nan' has 3 non-finite values" in r.err


def test_dict_inputs_stream_with_a_target(work, capsys, monkeypatch):
    sys.path.insert(0, str(Path(__file__).parent))
    from test_sequences import TinyLM, lm_data

    x, y = lm_data(n=7, seed=4)
    torch.save({**x, "labels": y}, work / "t.pt")
    torch.manual_seed(3)
    torch.save(TinyLM().double().state_dict(), work / "lm.pt")
    (work / "lm.py").write_text(
        f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_sequences import TinyLM\n\n\ndef build():\n    return TinyLM()\n"
    )
    module = factory_module(work)
    module["READS"].clear()
    common = ["spectrum", "lm.pt", "--model-factory", "lm.py:build", "--target", "labels"]
    common += ["--k", "1", "--k-bottom", "0", "--trace-samples", "4", "--batch-size", "3"]
    common += ["--strategy", "double-backward"]
    held = run([*common, "--data", "t.pt", "--json"], capsys, monkeypatch)
    streamed = run([*common, "--data", "data.py:tokens", "--json"], capsys, monkeypatch)
    assert held.code == 0 and streamed.code == 0, held.err + streamed.err
    assert_same(json.loads(held.out), json.loads(streamed.out))
    assert len(module["READS"]) >= 5 * 7


def test_a_streamed_problem_equals_the_held_one_part_by_part(work):
    """Problem-level: the loss, gradient and subsets (sharpness's parts) of a stream."""
    model = build(**KWARGS)
    model.load_state_dict(torch.load("m.pt"))
    loss = get_loss("cross-entropy")
    stream, none = open_data(f"{work / 'data.py'}:dataset")
    assert isinstance(stream, Stream) and none is None
    x, y = load_data("d.pt")
    a = build_problem(model, x, y, loss, batch_size=5)
    b = build_problem(model, stream, None, loss, batch_size=5)
    assert isinstance(b.batches, Stream) and len(b.batches) == 5
    for pa, pb in zip(a.subsets(7), b.subsets(7), strict=True):
        (la, ga), (lb, gb) = pa.loss_and_gradient(), pb.loss_and_gradient()
        assert pb.num_samples == pa.num_samples and lb == pytest.approx(la, rel=1e-13)
        assert torch.allclose(ga, gb, rtol=1e-12, atol=1e-15)
    assert b.held().batches[0][0].shape == (5, 3)


def test_two_ranks_each_read_their_own_shard_and_equal_one_process(work, capsys, monkeypatch):
    """Under torchrun a streamed Dataset is sharded by index: each rank reads a contiguous
    half of the examples, and the figures equal one process's."""
    args = ["--k", "2", "--k-bottom", "1", "--trace-samples", "4", "--batch-size", "5"]
    args += ["--strategy", "double-backward"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", "-m", "landscape", "spectrum", *MODEL]
    command += ["--data", "data.py:dataset", *args, "--json"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    two = json.loads(result.stdout)
    assert two["distributed"]["examples_per_rank"] == [N // 2, N // 2]
    for rank, shard in enumerate((range(N // 2), range(N // 2, N))):
        reads = (work / f"reads_{rank}.txt").read_text().split()
        assert {int(i) for i in reads} == set(shard)
    one = report("spectrum", "data.py:dataset", *args, capsys=capsys, monkeypatch=monkeypatch)
    assert_same({**one, "distributed": None}, {**two, "distributed": None}, rel=1e-10)
