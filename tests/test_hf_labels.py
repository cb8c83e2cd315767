"""Hugging Face causal-LM labels (`labels = input_ids`, -100 at padding, shifted by the model)
against truths computed without the tool: the loss by HF's own recipe in float64 (logits[:, :-1]
against labels[:, 1:], the mean over the counted ones; HF's `model(**batch).loss` itself to its
float32 upcast), λ_max from a dense float64 Hessian of that loss by autograd (GPT-2's through
an eager-attention twin; Llama's eager attention takes its softmax in float32, so its truth runs
the model itself on the math kernel), the GGN from the Jacobian of the shifted logits. A tiny
GPT-2 and a tiny Llama, random weights in float64, right-padded batches of unequal padding.
Llama's RMSNorm computes in float32 whatever the model's dtype (its gradients too): the factory
gives it its own formula in the input's dtype, so that float64 truths are float64."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from cli import run
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel

from landscape.curvature import make_operator
from landscape.errors import InputError
from landscape.estimators.lanczos import extreme_eigenpairs
from landscape.labels import LabelConvention
from landscape.losses import get_loss
from landscape.problem import build_problem, unflatten

transformers = pytest.importorskip("transformers")

V, T, N = 50, 10, 7  # vocabulary, sequence length, sequences
LENGTHS = [10, 7, 3, 10, 5, 9, 2]  # batches of 3: unequal padding, an uneven last batch
SUBSET = {"gpt2": r"c_proj\.bias|ln_2|ln_f", "llama": r"norm|k_proj"}  # θ of the dense truths

FACTORY = """
import types

import torch
import transformers


def build_gpt2(attention="sdpa"):
    config = transformers.GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=1,
                                     n_head=2, bos_token_id=0, eos_token_id=0)
    config._attn_implementation = attention
    return transformers.GPT2LMHeadModel(config).eval()


def rms_norm(self, hidden):
    # LlamaRMSNorm's own forward in the input's dtype (HF's casts to float32, float64 too)
    variance = hidden.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden * torch.rsqrt(variance + self.variance_epsilon))


def build_llama(attention="sdpa"):
    config = transformers.LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32,
                                      num_hidden_layers=1, num_attention_heads=2,
                                      num_key_value_heads=1, max_position_embeddings=16,
                                      bos_token_id=0, eos_token_id=0, pad_token_id=0)
    config._attn_implementation = attention
    model = transformers.LlamaForCausalLM(config).eval()
    for module in model.modules():
        if type(module).__name__ == "LlamaRMSNorm":
            module.forward = types.MethodType(rms_norm, module)
    return model
"""


@pytest.fixture(scope="module")
def factory(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hf")
    (folder / "hf.py").write_text(FACTORY)
    namespace: dict = {}
    exec(compile(FACTORY, str(folder / "hf.py"), "exec"), namespace)
    return folder, namespace


def model_pair(factory, name: str, seed: int = 0):
    """The model (sdpa attention, float64) and the one its truths run: GPT-2's eager twin
    with the same weights, Llama itself (its eager softmax is float32)."""
    _, namespace = factory
    torch.manual_seed(seed)
    model = namespace[f"build_{name}"]()
    return model.double().eval(), twin_of(factory, name, model)


def twin_of(factory, name, model):
    if name == "llama":
        return model.double().eval()
    twin = factory[1][f"build_{name}"]("eager")
    twin.load_state_dict(model.state_dict())
    return twin.double().eval()


def hf_data(seed: int = 1):
    """Right-padded token ids and HF labels: input_ids where attended, -100 at padding."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, V, (N, T), generator=gen)
    mask = (torch.arange(T) < torch.tensor(LENGTHS)[:, None]).long()
    ids = ids * mask
    return {"input_ids": ids, "attention_mask": mask}, torch.where(mask == 1, ids, -100)


def pre_shifted(labels):
    """The README's pre-shifted labels: y[t] = input_ids[t + 1], -100 at padding and the end."""
    return torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], -100)], 1)


def hf_recipe(logits, labels):
    """Hugging Face's ForCausalLMLoss in float64: pad, shift, mean over the counted."""
    shifted = F.pad(labels, (0, 1), value=-100)[:, 1:]
    return F.cross_entropy(logits.reshape(-1, V), shifted.reshape(-1), ignore_index=-100)


def logits_fn(twin, problem, x):
    def logits(flat):
        values = dict(zip(problem.names, unflatten(flat, problem.params), strict=True))
        with sdpa_kernel(SDPBackend.MATH):
            return functional_call(twin, values, (), x).logits

    return logits


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_the_loss_is_hugging_faces_per_batch_and_the_token_mean_across(factory, name):
    model, _ = model_pair(factory, name)
    x, labels = hf_data()
    problem = build_problem(model, x, labels, get_loss("cross-entropy"), batch_size=3)
    assert problem.loss.shift and len(problem.notes) == 1
    assert "labels = input_ids" in problem.notes[0] and "labels[:, 1:]" in problem.notes[0]
    sums, counts = [], []
    for start in range(0, N, 3):
        rows = slice(start, start + 3)
        bx, by = {k: v[rows] for k, v in x.items()}, labels[rows]
        one = build_problem(model, bx, by, get_loss("cross-entropy"))
        with torch.no_grad():
            out = model(**bx, labels=by)  # HF's own loss: float32 (it upcasts the logits)
        truth = float(hf_recipe(out.logits, by))
        assert abs(one.loss_at() - truth) <= 1e-12 * truth
        assert abs(one.loss_at() - float(out.loss)) <= 1e-6 * truth
        counted = int((by[:, 1:] != -100).sum())
        assert one.num_targets == counted
        sums.append(truth * counted)
        counts.append(counted)
    mean = sum(sums) / sum(counts)
    assert len(set(counts)) > 1 and problem.num_targets == sum(counts)
    assert abs(problem.loss_at() - mean) <= 1e-12 * mean
    with torch.no_grad():
        whole = float(hf_recipe(model(**x).logits, labels))
    assert abs(problem.loss_at() - whole) <= 1e-12 * whole


def ggn_products(logits, theta, labels, vs):
    """G v = Jᵀ H_L J v / count for each column v: the logits at t against the label at t + 1,
    H_L = diag p − ppᵀ at each counted position (autograd's jvp and vjp, no tool code)."""
    z = logits(theta).detach()
    p = torch.softmax(z[:, :-1], -1)
    keep = (labels[:, 1:] != -100).unsqueeze(-1).to(z.dtype)
    out = []
    for v in vs.T:
        Jv = torch.autograd.functional.jvp(logits, theta, v)[1][:, :-1]
        u = torch.zeros_like(z)
        u[:, :-1] = keep * (p * Jv - p * (p * Jv).sum(-1, keepdim=True))
        out.append(torch.autograd.functional.vjp(logits, theta, u)[1] / keep.sum())
    return torch.stack(out, 1)


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_lambda_max_and_the_ggn_are_those_of_the_shifted_loss(factory, name):
    model, twin = model_pair(factory, name)
    x, labels = hf_data()
    problem = build_problem(
        model, x, labels, get_loss("cross-entropy"), batch_size=3, params=SUBSET[name]
    )
    logits = logits_fn(twin, problem, x)
    theta = problem.flat_params()
    H = torch.autograd.functional.hessian(lambda f: hf_recipe(logits(f), labels), theta)
    exact = torch.linalg.eigvalsh(H)
    eig = extreme_eigenpairs(make_operator("hessian", problem), 1, 1, tol=1e-10)
    top, bottom = eig.top[0], eig.bottom[0]
    scale = float(exact.abs().max())
    assert abs(top.value - float(exact[-1])) <= top.error_bound + 1e-10 * scale
    assert abs(bottom.value - float(exact[0])) <= bottom.error_bound + 1e-10 * scale
    # the GGN and the exact Fisher on random vectors: Jᵀ H_L J v over the shifted positions
    vs = torch.randn(len(theta), 3, generator=torch.Generator().manual_seed(2), dtype=theta.dtype)
    G_vs = ggn_products(logits, theta, labels, vs)
    for curvature in ("ggn", "fisher"):
        got = make_operator(curvature, problem).matmat(vs)
        assert torch.allclose(got, G_vs, rtol=0, atol=1e-12 * float(G_vs.abs().max())), curvature
    # the own-token loss (unshifted) is another matrix: the test can tell them apart
    unshifted = build_problem(
        model, x, labels, get_loss("cross-entropy"), params=SUBSET[name], shift_labels="no"
    )
    other = extreme_eigenpairs(make_operator("hessian", unshifted), 1, 0, tol=1e-8).top[0]
    assert abs(other.value - float(exact[-1])) > 0.1 * scale


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_pre_shifted_labels_give_the_same_numbers(factory, name):
    model, _ = model_pair(factory, name)
    x, labels = hf_data()
    hf = build_problem(model, x, labels, get_loss("cross-entropy"), batch_size=3)
    pre = build_problem(model, x, pre_shifted(labels), get_loss("cross-entropy"), batch_size=4)
    assert not pre.loss.shift and "shifted already" in pre.notes[0]
    assert pre.num_targets == hf.num_targets
    assert abs(pre.loss_at() - hf.loss_at()) <= 1e-13 * hf.loss_at()
    v = torch.randn(hf.num_params, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for curvature in ("hessian", "ggn", "ef"):
        a, b = make_operator(curvature, hf).matvec(v), make_operator(curvature, pre).matvec(v)
        assert torch.allclose(a, b, rtol=0, atol=1e-12 * float(a.abs().max())), curvature


def test_shift_labels_no_scores_each_position_against_its_own_token(factory):
    model, _ = model_pair(factory, "gpt2")
    x, labels = hf_data()
    problem = build_problem(model, x, labels, get_loss("cross-entropy"), shift_labels="no")
    assert not problem.loss.shift and problem.notes == ()
    with torch.no_grad():
        z = model(**x).logits
    own = float(F.cross_entropy(z.reshape(-1, V), labels.reshape(-1), ignore_index=-100))
    assert abs(problem.loss_at() - own) <= 1e-12 * own
    assert abs(own - float(hf_recipe(z, labels))) > 0.01
    assert problem.num_targets == int((labels != -100).sum())


def test_shift_labels_yes_shifts_for_a_model_the_tool_cannot_recognise(factory):
    """A causal model not named like one: auto leaves its labels alone, yes shifts them."""
    model, _ = model_pair(factory, "gpt2")
    wrapped = type("Decoder", (torch.nn.Module,), {"forward": lambda s, **k: s.m(**k)})()
    wrapped.m = model
    x, labels = hf_data()
    auto = build_problem(wrapped, x, labels, get_loss("cross-entropy"))
    forced = build_problem(wrapped, x, labels, get_loss("cross-entropy"), shift_labels="yes")
    assert not auto.loss.shift and auto.notes == ()
    assert forced.loss.shift and "as asked" in forced.notes[0]
    with torch.no_grad():
        truth = float(hf_recipe(model(**x).logits, labels))
    assert abs(forced.loss_at() - truth) <= 1e-12 * truth


class Wrapped(torch.nn.Module):
    """A causal model under a name that says nothing, whose own loss is GPT-2's (it shifts)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, input_ids, attention_mask, labels=None):
        return self.inner(input_ids=input_ids, attention_mask=attention_mask, labels=labels)


def test_the_models_own_loss_says_whether_it_shifts(factory):
    """Asked of the model: a wrapper whose loss shifts is shifted for; BartForCausalLM, named
    like a causal LM, scores each position against its own label, and so does the tool."""
    model, _ = model_pair(factory, "gpt2")
    x, labels = hf_data()
    wrapped = build_problem(Wrapped(model), x, labels, get_loss("cross-entropy"), batch_size=3)
    assert wrapped.loss.shift and "labels = input_ids" in wrapped.notes[0]
    with torch.no_grad():
        truth = float(hf_recipe(model(**x).logits, labels))
    assert abs(wrapped.loss_at() - truth) <= 1e-12 * truth
    torch.manual_seed(0)
    config = transformers.BartConfig(
        vocab_size=V, d_model=16, decoder_layers=1, decoder_attention_heads=2,
        decoder_ffn_dim=32, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32,
        max_position_embeddings=16, pad_token_id=0, bos_token_id=0, eos_token_id=0,
        decoder_start_token_id=0,
    )  # fmt: skip
    bart = transformers.BartForCausalLM(config).double().eval()
    problem = build_problem(bart, x, labels, get_loss("cross-entropy"), batch_size=3)
    assert not problem.loss.shift and "its own label" in problem.notes[0]
    with torch.no_grad():
        out = bart(**x, labels=labels)
    own = float(F.cross_entropy(out.logits.reshape(-1, V), labels.reshape(-1)))
    assert abs(problem.loss_at() - own) <= 1e-12 * own
    assert abs(problem.loss_at() - float(out.loss)) <= 1e-12 * own  # Bart's own: float64


def test_labels_that_cannot_be_told_apart_are_refused(factory):
    model, _ = model_pair(factory, "gpt2")
    x, labels = hf_data()
    constant = {"input_ids": torch.full((N, T), 7), "attention_mask": torch.ones(N, T).long()}
    with pytest.raises(LabelConvention, match="could be either"):
        build_problem(model, constant, torch.full((N, T), 7), get_loss("cross-entropy"))
    noise = torch.randint(0, V, (N, T), generator=torch.Generator().manual_seed(9))
    with pytest.raises(LabelConvention, match="neither input_ids"):
        build_problem(model, x, noise, get_loss("cross-entropy"))
    embeds = {"inputs_embeds": torch.randn(N, T, 16, dtype=torch.float64)}
    with pytest.raises(LabelConvention, match="no token ids"):
        build_problem(model, embeds, labels, get_loss("cross-entropy"))
    with pytest.raises(InputError, match="no sequence positions"):
        build_problem(model, x, labels.float(), get_loss("mse"), shift_labels="yes")
    # the user's word settles it
    fine = build_problem(model, x, noise, get_loss("cross-entropy"), shift_labels="no")
    assert fine.num_targets == N * T


def test_a_streamed_dataloader_is_told_and_shifted_as_held_data(factory, tmp_path):
    model, _ = model_pair(factory, "gpt2")
    x, labels = hf_data()
    from landscape.load import open_data

    torch.save({**x, "labels": labels}, tmp_path / "d.pt")
    (tmp_path / "loader.py").write_text(
        "import torch\n"
        f"data = torch.load({str(tmp_path / 'd.pt')!r})\n\n\n"
        "class Items(torch.utils.data.Dataset):\n"
        "    def __len__(self):\n        return len(data['labels'])\n\n"
        "    def __getitem__(self, i):\n        return {k: v[i] for k, v in data.items()}\n\n\n"
        "def loader():\n    return torch.utils.data.DataLoader(Items(), batch_size=3)\n"
    )
    stream, _ = open_data(f"{tmp_path / 'loader.py'}:loader", target="labels")
    streamed = build_problem(model, stream, None, get_loss("cross-entropy"))
    held = build_problem(model, x, labels, get_loss("cross-entropy"), batch_size=3)
    assert streamed.loss.shift and streamed.notes == held.notes
    assert abs(streamed.loss_at() - held.loss_at()) <= 1e-13 * held.loss_at()


# -- the command line ---------------------------------------------------------------------
def save(factory, name, data=hf_data, seed=0):
    """The factory's model (float32 weights: exact in float64) and data saved; the arguments."""
    folder, namespace = factory
    torch.manual_seed(seed)
    model = namespace[f"build_{name}"]()
    torch.save(model.state_dict(), folder / f"{name}.pt")
    x, labels = data()
    torch.save({**x, "labels": labels}, folder / "tokens.pt")
    args = [folder / f"{name}.pt", "--model-factory", f"{folder / 'hf.py'}:build_{name}"]
    return model, [*map(str, args), "--data", str(folder / "tokens.pt"), "--target", "labels"]


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_the_command_line_follows_the_models_convention(factory, capsys, monkeypatch, name):
    model, args = save(factory, name)
    twin = twin_of(factory, name, model)
    model = model.double()
    x, labels = hf_data()
    common = [*args, "--params", SUBSET[name], "--batch-size", "3", "--k", "1", "--k-bottom", "0"]
    r = run(["spectrum", *common, "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    assert sum("labels = input_ids" in line for line in r.err.splitlines()) == 1
    report = json.loads(r.out)
    with torch.no_grad():
        out = model(**x, labels=labels)
    truth = float(hf_recipe(out.logits, labels))
    assert abs(report["loss"] - truth) <= 1e-12 * truth
    assert abs(report["loss"] - float(out.loss)) <= 1e-6 * truth  # HF's own, float32
    problem = build_problem(model, x, labels, get_loss("cross-entropy"), params=SUBSET[name])
    logits = logits_fn(twin, problem, x)
    H = torch.autograd.functional.hessian(
        lambda f: hf_recipe(logits(f), labels), problem.flat_params()
    )
    top = report["top"][0]
    exact = float(torch.linalg.eigvalsh(H)[-1])
    assert abs(top["value"] - exact) <= top["error_bound"] + 1e-10 * abs(exact)
    r = run(["spectrum", *common, "--shift-labels", "no", "--json"], capsys, monkeypatch)
    assert r.code == 0, r.err
    assert "labels = input_ids" not in r.err
    own = float(F.cross_entropy(out.logits.reshape(-1, V), labels.reshape(-1)))
    assert abs(json.loads(r.out)["loss"] - own) <= 1e-12 * own


def constant_data():
    ids = torch.full((N, T), 7)
    return {"input_ids": ids, "attention_mask": torch.ones(N, T).long()}, ids


def noise_data():
    x, _ = hf_data()
    return x, torch.randint(1, V, (N, T), generator=torch.Generator().manual_seed(3))


def test_the_command_line_takes_pre_shifted_labels_and_refuses_ambiguous_ones(
    factory, capsys, monkeypatch
):
    quick = ["spectrum", "--k", "1", "--k-bottom", "0", "--json"]
    _, args = save(factory, "gpt2", lambda: (hf_data()[0], pre_shifted(hf_data()[1])))
    r = run([*quick, *args], capsys, monkeypatch)
    assert r.code == 0 and "shifted already" in r.err, r.err
    pre = json.loads(r.out)["loss"]
    _, args = save(factory, "gpt2")
    r = run([*quick, *args], capsys, monkeypatch)
    assert r.code == 0 and abs(json.loads(r.out)["loss"] - pre) <= 1e-13 * pre
    cases = [
        (constant_data, [], "could be either"),
        (noise_data, [], "neither input_ids"),
        (noise_data, ["--loss", "mse", "--shift-labels", "yes"], "no sequence positions"),
    ]
    for data, extra, words in cases:
        _, args = save(factory, "gpt2", data)
        r = run(["spectrum", *args, *extra], capsys, monkeypatch)
        lines = r.err.strip().splitlines()
        assert r.code == 2 and len(lines) == 1 and "Traceback" not in r.err, r.err
        assert words in lines[0] and "--shift-labels" in lines[0], lines[0]
    _, args = save(factory, "gpt2", noise_data)
    r = run([*quick, *args, "--shift-labels", "no"], capsys, monkeypatch)
    assert r.code == 0, r.err
