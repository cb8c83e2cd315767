"""`landscape spectrum` as a user runs it: outputs, files, config precedence, bad input."""

import json

import pytest
import torch
from cli import run
from torch import nn

from sample_models import SAMPLE_CHECKPOINT, SAMPLE_DATA

KEYS = {
    "command",
    "curvature",
    "num_params",
    "num_samples",
    "top",
    "bottom",
    "trace",
    "products",
    "seconds",
}


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    return lambda *args: run(list(args), capsys, monkeypatch)


def test_json_report_on_the_sample(cli):
    r = cli("spectrum", "--json", "--k", "3", "--trace")
    assert r.code == 0
    report = json.loads(r.out)  # stdout holds the JSON and nothing else
    assert KEYS <= set(report)
    assert report["command"] == "spectrum" and report["curvature"] == "hessian"
    assert report["num_params"] == 3300 and report["num_samples"] == 1024
    top = [e["value"] for e in report["top"]]
    bottom = [e["value"] for e in report["bottom"]]
    assert top == sorted(top, reverse=True) and bottom == sorted(bottom)
    assert top[0] == pytest.approx(43.13266091918, rel=1e-9)  # dense float64 reference
    assert bottom[0] == pytest.approx(-0.3604017085858, rel=1e-8)
    assert all(e["converged"] and e["error_bound"] < 1e-5 for e in report["top"])
    assert abs(report["trace"]["value"] - 167.2667371238) < 4 * report["trace"]["stderr"]
    assert isinstance(report["products"], int) and report["products"] > 0
    assert "bundled sample" in r.err


def test_a_plain_spectrum_does_only_the_solvers_work(cli):
    """No trace and no density unless asked: every product is the solver's (plus none)."""
    report = json.loads(cli("spectrum", "--json", "--k", "3").out)
    assert report["trace"] is None and report["density"] is None
    assert report["condition"]["negative_fraction_interval"] is None
    assert report["products"] == report["solver"]["products"]
    solver = report["solver"]  # 3,300 parameters: below PARTIAL_FROM, every step a full pass
    assert solver["full_passes"] == solver["krylov_dim"] and solver["orthogonality"] < 1e-12
    with_trace = json.loads(cli("spectrum", "--json", "--k", "3", "--trace-samples", "30").out)
    assert with_trace["trace"]["products"] == 30  # giving --trace-samples asks for the trace
    assert with_trace["products"] == report["products"] + 30
    text = cli("spectrum", "--k", "1", "--k-bottom", "0").out
    starts = {line.split()[0] for line in text.splitlines() if line.strip()}
    assert not {"trace", "negative"} & starts
    assert "--trace" in text and "--density" in text  # says how to ask


def test_bare_landscape_analyses_the_sample(cli):
    r = cli()
    assert r.code == 0
    assert "bundled sample" in r.err
    assert "Top eigenvalues" in r.out and "43.1326609" in r.out


def test_out_dir_png_density_per_layer(cli, tmp_path):
    r = cli(
        "spectrum",
        "--curvature",
        "ggn",
        "--k",
        "2",
        "--k-bottom",
        "0",
        "--density",
        "--per-layer",
        "--out",
        tmp_path / "run",
        "--png",
        tmp_path / "fig.png",
    )
    assert r.code == 0, r.err
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["curvature"] == "ggn" and report["bottom"] == []
    assert [b["name"] for b in report["per_layer"]] == ["hidden.0", "hidden.1", "out"]
    assert sum(b["num_params"] for b in report["per_layer"]) == 3300
    assert report["density"]["negative_fraction_interval"] == [0.0, 0.0]  # the GGN is PSD
    for png in (tmp_path / "run" / "spectrum.png", tmp_path / "fig.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_config_file_then_command_line(cli, tmp_path):
    (tmp_path / "landscape.toml").write_text('k = 3\nk_bottom = 1\ncurvature = "ggn"\n')
    report = json.loads(cli("spectrum", "--json").out)
    assert (len(report["top"]), len(report["bottom"]), report["curvature"]) == (3, 1, "ggn")
    report = json.loads(cli("spectrum", "--json", "--k", "2").out)
    assert len(report["top"]) == 2 and len(report["bottom"]) == 1


def test_explicit_state_dict_factory_and_data(cli, tmp_path):
    ckpt = torch.load(SAMPLE_CHECKPOINT, weights_only=True)
    torch.save(ckpt["state_dict"], tmp_path / "weights.pt")
    r = cli(
        "spectrum",
        tmp_path / "weights.pt",
        "--model-factory",
        "sample_models.mlp:build",
        "--data",
        SAMPLE_DATA,
        "--samples",
        "256",
        "--k",
        "1",
        "--k-bottom",
        "0",
        "--dtype",
        "float32",
        "--json",
    )
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["num_samples"] == 256 and report["dtype"] == "float32"


def one_line_error(r, *words):
    assert r.code == 2
    assert r.out == ""
    lines = [line for line in r.err.strip().splitlines() if "bundled sample" not in line]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.err
    assert "Traceback" not in r.err
    for word in words:
        assert word.lower() in lines[0].lower()


def test_bad_input_gives_one_line_and_exit_2(cli, tmp_path):
    one_line_error(cli("spectrum", "missing.pt"), "not found")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    one_line_error(cli("spectrum", "junk.pt"), "corrupt")
    one_line_error(cli("spectrum", "--k", "4000"), "larger than the number of parameters")
    one_line_error(cli("spectrum", "--tol", "0"), "--tol")
    one_line_error(cli("spectrum", "--curvature", "hesian"), "unknown curvature")
    one_line_error(cli("spectrum", "--loss", "mse"), "do not match")
    one_line_error(cli("spectrum", "--samples", "0"))
    one_line_error(cli("spectrum", "--loss", "nll"), "log-probabilities", "cross-entropy")
    if not torch.cuda.is_available():
        one_line_error(cli("spectrum", "--device", "cuda"), "CUDA is not available")
    torch.save({"x": torch.randn(8, 5), "y": torch.zeros(8, dtype=torch.long)}, "shape.pt")
    one_line_error(cli("spectrum", "--data", "shape.pt"), "shape")
    torch.save({"x": torch.randn(8, 16), "y": torch.full((8,), 9)}, "labels.pt")
    one_line_error(cli("spectrum", "--data", "labels.pt"), "labels")
    torch.save({"x": torch.randn(8, 16), "y": torch.randn(8, 4)}, "floats.pt")
    one_line_error(cli("spectrum", "--data", "floats.pt"), "not class probabilities", "mse")


def test_no_partial_output_on_failure(cli, tmp_path):
    r = cli("spectrum", "--k", "4000", "--out", tmp_path / "never")
    assert r.code == 2
    assert not (tmp_path / "never").exists()


FACTORIES = """
import torch
from torch import nn


class OnceTanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1 - y * y)


class Once(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(16, 4)

    def forward(self, x):
        return OnceTanh.apply(self.lin(x))


class Detached(Once):
    def forward(self, x):
        return self.lin(x).detach() + 0 * self.lin.weight.sum()
"""


@pytest.mark.parametrize(
    ("cls", "words"), [("Once", "differentiated twice"), ("Detached", "pass no derivatives")]
)
def test_models_without_usable_derivatives(cli, tmp_path, cls, words):
    (tmp_path / "models.py").write_text(FACTORIES)
    state = {f"lin.{k}": v for k, v in nn.Linear(16, 4).state_dict().items()}
    torch.save(state, tmp_path / "w.pt")
    r = cli("spectrum", "w.pt", "--model-factory", f"models.py:{cls}", "--data", SAMPLE_DATA)
    one_line_error(r, words)


def test_nan_loss_is_reported(cli, tmp_path):
    ckpt = torch.load(SAMPLE_CHECKPOINT, weights_only=True)
    state = dict(ckpt["state_dict"])
    first = next(iter(state))
    state[first] = torch.full_like(state[first], float("nan"))
    torch.save({**ckpt, "state_dict": state, "data": str(SAMPLE_DATA)}, tmp_path / "nan.pt")
    # NaN weights are refused at load, naming the tensor (before: the loss was NaN)
    one_line_error(cli("spectrum", "nan.pt", "--trust-checkpoint"), "weights hold nan", "hidden.0")


def test_error_text_with_brackets_is_printed_verbatim(cli):
    one_line_error(cli("spectrum", "--params", "[bad"), "'[bad'", "regex")
