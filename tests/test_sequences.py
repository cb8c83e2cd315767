"""Outputs with positions (language models, segmentation), ignored targets, dict inputs and
ModelOutput, against dense float64 truths computed without the tool: the loss as
`F.cross_entropy(logits.reshape(-1, C), y.reshape(-1), ignore_index=-100)` on the whole set,
its Hessian by autograd, the GGN from the Jacobian and each token's softmax Hessian."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from cli import run
from torch import nn
from torch.func import functional_call, jacrev

from landscape.curvature import make_operator
from landscape.errors import InputError
from landscape.estimators.lanczos import extreme_eigenpairs
from landscape.losses import get_loss
from landscape.problem import build_problem, unflatten

V, T = 7, 5  # vocabulary, sequence length


class TinyLM(nn.Module):
    """A causal model small enough for dense truths: token + position embeddings, one mixing
    layer over the prefix (a cumulative mean), tanh and a vocabulary head. Keyword inputs."""

    def __init__(self, d: int = 4):
        super().__init__()
        self.tok = nn.Embedding(V, d)
        self.pos = nn.Embedding(T, d)
        self.mix = nn.Linear(d, d)
        self.head = nn.Linear(d, V)

    def forward(self, input_ids, attention_mask):
        h = self.tok(input_ids) + self.pos(torch.arange(input_ids.shape[1]))
        h = h * attention_mask.unsqueeze(-1)
        prefix = h.cumsum(1) / torch.arange(1, input_ids.shape[1] + 1).reshape(1, -1, 1)
        return {"logits": self.head(torch.tanh(self.mix(prefix))), "hidden": prefix}


def lm_data(n: int = 6, seed: int = 0):
    """Right-padded sequences of lengths 2..T; targets: the next token, -100 where padded."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, V, (n, T), generator=gen)
    lengths = torch.randint(2, T + 1, (n,), generator=gen)
    mask = (torch.arange(T).reshape(1, -1) < lengths.reshape(-1, 1)).long()
    ids = ids * mask
    labels = torch.full((n, T), -100)
    labels[:, :-1] = torch.where(mask[:, 1:] == 1, ids[:, 1:], -100)
    return {"input_ids": ids, "attention_mask": mask}, labels


def dense_truths(model, problem, x, y, logits_of, class_dim=-1):
    """Loss, H, G and EF at θ, each computed directly (not through the tool's operators);
    `model` may be a twin of the problem's (same weights, e.g. eager attention)."""
    names, theta = problem.names, problem.flat_params()

    def logits(flat):
        out = functional_call(model, dict(zip(names, unflatten(flat, problem.params))), (), x)
        z = logits_of(out)
        return z.movedim(1, -1) if class_dim == 1 else z

    def loss(flat):
        z = logits(flat)
        return F.cross_entropy(z.reshape(-1, z.shape[-1]), y.reshape(-1), ignore_index=-100)

    H = torch.autograd.functional.hessian(loss, theta)
    z = logits(theta).detach()
    C = z.shape[-1]
    J = jacrev(logits)(theta).reshape(-1, C, len(theta))  # (tokens, C, p)
    p = torch.softmax(z.reshape(-1, C), -1)
    keep = y.reshape(-1) != -100
    G = torch.zeros_like(H)
    for t in torch.nonzero(keep).flatten():
        HL = torch.diag(p[t]) - torch.outer(p[t], p[t])
        G += J[t].T @ HL @ J[t]
    G /= keep.sum()

    def sequence_losses(flat):
        zz = logits(flat)
        ce = F.cross_entropy(
            zz.reshape(-1, C), y.reshape(-1), ignore_index=-100, reduction="none"
        ).reshape(y.shape[0], -1)
        return ce.sum(1)

    g = jacrev(sequence_losses)(theta)  # (examples, p): per-sequence gradients
    EF = g.T @ g / keep.sum()
    return float(loss(theta)), H, G, EF


def lm_problem(batch_size=None):
    torch.manual_seed(3)
    model = TinyLM().double()
    x, y = lm_data()
    problem = build_problem(model, x, y, get_loss("cross-entropy"), batch_size=batch_size)
    return model, problem, x, y


@pytest.mark.parametrize("batch_size", [None, 4])
def test_a_language_model_with_padding_matches_the_dense_truths(batch_size):
    model, problem, x, y = lm_problem(batch_size)
    loss, H, G, EF = dense_truths(model, problem, x, y, lambda out: out["logits"])
    assert problem.num_targets == int((y != -100).sum()) < y.numel()
    assert problem.loss_at() == pytest.approx(loss, rel=1e-13)  # exact across uneven batches
    scale = float(H.abs().max())
    for curvature, truth in (("hessian", H), ("ggn", G), ("fisher", G), ("ef", EF)):
        op = make_operator(curvature, problem)
        assert torch.allclose(op.dense(), truth, atol=1e-11 * scale), curvature
    eig = extreme_eigenpairs(make_operator("hessian", problem), 3, 3, tol=1e-10)
    exact = torch.linalg.eigvalsh(H)
    assert [e.value for e in eig.top] == pytest.approx(exact[-3:].flip(0).tolist(), abs=1e-9)
    assert [e.value for e in eig.bottom] == pytest.approx(exact[:3].tolist(), abs=1e-9)


def test_monte_carlo_fisher_skips_ignored_targets():
    _, problem, x, y = lm_problem()
    op = make_operator("fisher", problem, mc_samples=4000, seed=1)
    G = make_operator("ggn", problem).dense()
    assert torch.allclose(op.dense(), G, atol=0.1 * float(G.abs().max()))
    z, targets = problem.all_outputs()
    scores = problem.loss.sample_scores(z, targets, 2, torch.Generator().manual_seed(0))
    ignored = (targets == -100).reshape(-1)
    assert float(scores.reshape(2, -1, V)[:, ignored].abs().max()) == 0.0


def test_segmentation_outputs_with_classes_along_dimension_1():
    """(N, C, H, W) outputs, (N, H, W) labels with ignored pixels: PyTorch's own layout."""
    torch.manual_seed(5)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 3, 1)).double()
    x = torch.randn(3, 2, 4, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (3, 4, 5))
    y[0, :2] = -100
    y[2, :, 4] = -100
    problem = build_problem(model, x, y, get_loss("cross-entropy"), batch_size=2)
    assert problem.loss.class_dim == 1
    with torch.no_grad():
        truth = float(F.cross_entropy(model(x), y, ignore_index=-100))
    assert problem.loss_at() == pytest.approx(truth, rel=1e-13)
    _, H, G, _ = dense_truths(model, problem, {"input": x}, y, lambda out: out, class_dim=1)
    scale = float(H.abs().max())
    assert torch.allclose(make_operator("hessian", problem).dense(), H, atol=1e-11 * scale)
    assert torch.allclose(make_operator("ggn", problem).dense(), G, atol=1e-11 * scale)


def test_ambiguous_class_dimension_asks_for_it():
    model = nn.Linear(3, 3).double()
    x = torch.randn(4, 3, 3, dtype=torch.float64)  # outputs (4, 3, 3), labels (4, 3)
    y = torch.randint(0, 3, (4, 3))
    with pytest.raises(InputError, match="`class_dim` 1 or `class_dim` -1") as exc:
        build_problem(model, x, y, get_loss("cross-entropy"))
    assert exc.value.fields == ("class_dim",)
    problem = build_problem(model, x, y, get_loss("cross-entropy", class_dim=-1))
    with torch.no_grad():
        z = model(x)
    truth = float(F.cross_entropy(z.reshape(-1, 3), y.reshape(-1)))
    assert problem.loss_at() == pytest.approx(truth, rel=1e-13)


def test_a_tuple_output_and_a_named_output():
    torch.manual_seed(1)
    model = TinyLM().double()
    x, y = lm_data()
    with pytest.raises(InputError, match="no 'scores' entry"):
        build_problem(model, x, y, get_loss("cross-entropy"), output_key="scores")
    target = torch.zeros(len(y), T, 4, dtype=torch.float64)
    problem = build_problem(model, x, target, get_loss("mse"), output_key="hidden")
    assert problem.all_outputs()[0].shape[1] == T * 4
    with torch.no_grad():
        truth = float((model(**x)["hidden"] ** 2).mean())
    assert problem.loss_at() == pytest.approx(truth, rel=1e-13)


def test_the_command_line_takes_a_flat_dict_with_a_target(tmp_path, capsys, monkeypatch):
    torch.manual_seed(3)
    model = TinyLM().double()
    x, y = lm_data()
    here = str(Path(__file__).parent)
    (tmp_path / "lm.py").write_text(
        f"import sys\nsys.path.insert(0, {here!r})\nfrom test_sequences import TinyLM\n\n\n"
        "def build():\n    return TinyLM()\n"
    )
    torch.save(model.state_dict(), tmp_path / "lm.pt")
    torch.save({**x, "labels": y}, tmp_path / "tokens.pt")
    monkeypatch.chdir(tmp_path)
    args = ["spectrum", "lm.pt", "--model-factory", "lm.py:build", "--data", "tokens.pt"]
    r = run(
        [*args, "--target", "labels", "--k", "2", "--k-bottom", "1", "--json"], capsys, monkeypatch
    )
    assert r.code == 0, r.err
    report = json.loads(r.out)
    problem = build_problem(model, x, y, get_loss("cross-entropy"))
    _, H, _, _ = dense_truths(model, problem, x, y, lambda out: out["logits"])
    exact = torch.linalg.eigvalsh(H)
    assert report["top"][0]["value"] == pytest.approx(float(exact[-1]), rel=1e-8)
    assert report["loss"] == pytest.approx(problem.loss_at(), rel=1e-12)
    r = run([*args, "--json"], capsys, monkeypatch)
    assert r.code == 2 and "--target" in r.err


# -- Hugging Face models as they are (small configs, random weights, nothing downloaded) ------
transformers = pytest.importorskip("transformers")


def gpt2(seed: int = 0, attention: str = "sdpa"):
    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        vocab_size=V, n_positions=T, n_embd=8, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0
    )
    config._attn_implementation = attention
    return transformers.GPT2LMHeadModel(config).double().eval()


def test_gpt2_as_it_is_matches_its_own_loss_and_the_dense_truths():
    model = gpt2()
    x, y = lm_data(n=5, seed=2)
    problem = build_problem(model, x, y, get_loss("cross-entropy"), batch_size=3)
    labels = torch.where(x["attention_mask"] == 1, x["input_ids"], -100)
    with torch.no_grad():
        own = float(model(**x, labels=labels).loss)  # shifts the labels itself; float32 loss
    twin = gpt2(attention="eager")  # the same weights through eager attention: the truth
    loss, H, G, _ = dense_truths(twin, problem, x, y, lambda out: out.logits)
    assert problem.loss_at() == pytest.approx(loss, rel=1e-13)
    assert problem.loss_at() == pytest.approx(own, rel=1e-6)
    exact = torch.linalg.eigvalsh(H)
    eig = extreme_eigenpairs(make_operator("hessian", problem), 2, 2, tol=1e-9)
    assert [e.value for e in eig.top] == pytest.approx(exact[-2:].flip(0).tolist(), abs=1e-8)
    assert [e.value for e in eig.bottom] == pytest.approx(exact[:2].tolist(), abs=1e-8)
    ggn = extreme_eigenpairs(make_operator("ggn", problem), 1, 0, tol=1e-9)
    assert ggn.top[0].value == pytest.approx(float(torch.linalg.eigvalsh(G)[-1]), rel=1e-8)
    F_dense = make_operator("fisher", problem).dense()
    assert torch.allclose(F_dense, G, atol=1e-11 * float(G.abs().max()))


def test_a_bert_classifier_returning_a_model_output():
    torch.manual_seed(4)
    config = transformers.BertConfig(
        vocab_size=13,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=T,
        num_labels=3,
    )
    model = transformers.BertForSequenceClassification(config).double().eval()
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 13, (6, T), generator=gen)
    mask = torch.ones(6, T, dtype=torch.long)
    mask[::2, 3:] = 0
    x, y = {"input_ids": ids, "attention_mask": mask}, torch.randint(0, 3, (6,), generator=gen)
    problem = build_problem(model, x, y, get_loss("cross-entropy"), params="classifier|pooler")
    with torch.no_grad():
        own = float(model(**x, labels=y).loss)
    loss, H, G, _ = dense_truths(model, problem, x, y, lambda out: out.logits)
    assert problem.loss_at() == pytest.approx(loss, rel=1e-13)
    assert problem.loss_at() == pytest.approx(own, rel=1e-6)
    scale = float(H.abs().max())
    assert torch.allclose(make_operator("hessian", problem).dense(), H, atol=1e-11 * scale)
    assert torch.allclose(make_operator("ggn", problem).dense(), G, atol=1e-11 * scale)


def test_a_dataloader_of_flat_dict_batches_with_a_target(tmp_path):
    from landscape.load import load_data

    x, y = lm_data(n=7, seed=4)
    (tmp_path / "loader.py").write_text(
        "import torch\n"
        f"data = torch.load({str(tmp_path / 'd.pt')!r})\n\n\n"
        "class Items(torch.utils.data.Dataset):\n"
        "    def __len__(self):\n        return len(data['labels'])\n\n"
        "    def __getitem__(self, i):\n        return {k: v[i] for k, v in data.items()}\n\n\n"
        "def loader():\n    return torch.utils.data.DataLoader(Items(), batch_size=3)\n\n\n"
        "def items():\n    return Items()\n"
    )
    torch.save({**x, "labels": y}, tmp_path / "d.pt")
    for fn in ("loader", "items"):
        got_x, got_y = load_data(f"{tmp_path / 'loader.py'}:{fn}", target="labels")
        assert sorted(got_x) == ["attention_mask", "input_ids"]
        assert torch.equal(got_x["input_ids"], x["input_ids"]) and torch.equal(got_y, y)
    sub_x, sub_y = load_data(str(tmp_path / "d.pt"), target="labels", samples=4, seed=1)
    assert len(sub_y) == 4 and sub_x["input_ids"].shape == (4, T)
    picked = [i for i in range(7) if any(torch.equal(y[i], r) for r in sub_y)]
    assert torch.equal(sub_x["input_ids"], x["input_ids"][picked])
