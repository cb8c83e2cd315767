"""Corpus part (see tests/corpus.py): trust and where things resolve (issue 20, items 6-8).

- What the user typed resolves where the user is: a `--data`/`--model-factory` file, module or
  data file that exists only beside the checkpoint is not taken from there.
- A config found in the current folder (`landscape.toml`, `pyproject.toml`) may not name code
  or grant trust.
- Untrusted strings are data: a metadata or found-config regex that would backtrack for ever,
  and names with escape sequences, which the one error line shows escaped.
- A DataLoader that draws a random sample on each pass is refused (exit 3).

Every malicious file writes its marker when its code runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from corpus import LINEAR_KW, Case, Payload

EVIL_PY = "open({marker!r}, 'w').close()\n\n\ndef make():\n    return None\n\n\nbuild = make\n"
LONG_NAME = "a" * 40 + "x"  # `(a+)+$` against it backtracks 2^40 times as a regex
LONG_NET = f"""
from torch import nn


class Long(nn.Linear):
    def __init__(self):
        super().__init__(4, 3)
        self.register_parameter({LONG_NAME!r}, nn.Parameter(self.bias.detach().clone()))

    def forward(self, x):
        return super().forward(x) + getattr(self, {LONG_NAME!r})
"""
LOADERS = """
import torch
from torch.utils.data import DataLoader, RandomSampler, TensorDataset, WeightedRandomSampler

DATA = TensorDataset(torch.randn(32, 4, dtype=torch.float64), torch.randint(0, 3, (32,)))


def weighted():
    return DataLoader(DATA, batch_size=8, sampler=WeightedRandomSampler([1.0] * 32, 32))


def replacement():
    return DataLoader(DATA, batch_size=8, sampler=RandomSampler(DATA, replacement=True))
"""
ESCAPES = "evil\x1b[2J\x1b]0;owned\x07\u202e\x9b\r"
SHOWN = "evil\\x1b[2j\\x1b]0;owned\\x07\\u202e\\x9b\\r"  # as the error line prints it (lowered)


def build(inp: Path, markers: Path, f: dict[str, Path]) -> None:
    def raw(name: str, data: bytes) -> None:
        f[name] = inp / name
        f[name].write_bytes(data)

    def save(name: str, obj) -> None:
        f[name] = inp / name
        torch.save(obj, f[name])

    def evil(name: str) -> None:  # beside the corpus's checkpoints (lin.pt, ...)
        raw(name, EVIL_PY.format(marker=str(markers / f"{name}.ran")).encode())

    for name in ("dataf_beside.py", "netf_beside.py", "helpermod_beside.py", "netmod_beside.py"):
        evil(name)
    evil("cfg_data.py")
    sd = torch.load(f["lin.pt"], weights_only=True)
    torch.save(torch.ones(15, dtype=torch.float64), inp / "dir_beside.pt")
    save("meta_module_data.pt", {"state_dict": sd, "data": "helpermod_beside:make"})
    save("meta_cwd_data.pt", {"state_dict": sd, "data": "only_cwd.pt"})
    for name in ("found_trust.pt", "found_trust_pp.pt"):
        save(name, {"state_dict": Payload(markers / f"{name}.ran")})
    raw("long_net.py", LONG_NET.encode())
    long_sd = {**sd, LONG_NAME: sd["bias"].clone()}
    save("redos.pt", {"state_dict": long_sd, "params": "(a+)+$", "loss": "cross-entropy"})
    save("esc_keys.pt", {**sd, ESCAPES: torch.zeros(1)})
    save("esc_factory.pt", {"state_dict": sd, "factory": ESCAPES + ":run"})
    save("esc_data.pt", {"state_dict": sd, "data": ESCAPES + ".pt"})
    raw("random_loaders.py", LOADERS.encode())


def cases(p) -> list[Case]:
    factory = ["--model-factory", "torch.nn:Linear", "--factory-kwargs", json.dumps(LINEAR_KW)]
    lin = ["spectrum", p["lin.pt"], *factory]
    spec = [*lin, "--data", p["data.pt"]]
    marker = p["markers"]
    real = getattr(p, "files", None) is not None
    data_bytes = Path(p["data.pt"]).read_bytes() if real else b""
    c = Case
    return [
        # ---- what the user typed resolves in the current folder, never beside the checkpoint
        c("cwd-data-file-beside", [*lin, "--data", "dataf_beside.py:make"],
          "not found in the current directory", marker="dataf_beside.py"),
        c("cwd-data-module-beside", [*lin, "--data", "helpermod_beside:make"],
          "no module named 'helpermod_beside'", marker="helpermod_beside.py"),
        c("cwd-data-pt-beside", [*lin, "--data", "data.pt"],
          "data file 'data.pt' not found in the current directory"),
        c("cwd-factory-file-beside",
          ["spectrum", p["lin.pt"], "--model-factory", "netf_beside.py:build"],
          "not found in the current directory", marker="netf_beside.py"),
        c("cwd-factory-module-beside",
          ["spectrum", p["lin.pt"], "--model-factory", "netmod_beside:build"],
          "no module named 'netmod_beside'", marker="netmod_beside.py"),
        c("cwd-direction-beside",
          ["taylor-check", *spec[1:], "--direction-file", "dir_beside.pt"], "not found"),
        c("meta-data-module", ["spectrum", p["meta_module_data.pt"], *factory],
          "--data helpermod_beside:make", marker="helpermod_beside.py"),
        c("meta-data-not-from-cwd", ["spectrum", p["meta_cwd_data.pt"], *factory],
          "data file 'only_cwd.pt' not found in '", setup={"only_cwd.pt": data_bytes}),
        # ---- a config found in the current folder may not name code or grant trust
        c("found-toml-trust", ["spectrum", p["found_trust.pt"], "--data", p["data.pt"]],
          "'trust_checkpoint'", setup={"landscape.toml": b"trust_checkpoint = true\n"},
          marker="found_trust.pt"),
        c("found-toml-trust-dashed", ["spectrum", p["found_trust.pt"], "--data", p["data.pt"]],
          "grants trust", setup={"landscape.toml": b"trust-checkpoint = true\n"},
          marker="found_trust.pt"),
        c("found-pyproject-trust",
          ["spectrum", p["found_trust_pp.pt"], "--data", p["data.pt"]], "--config pyproject.toml",
          setup={"pyproject.toml": b"[tool.landscape]\ntrust_checkpoint = true\n"},
          marker="found_trust_pp.pt"),
        c("found-toml-trust-meta-factory",
          ["spectrum", p["meta_factory.pt"], "--data", p["data.pt"]], "grants trust",
          setup={"landscape.toml": b"trust_checkpoint = true\n"}, marker="meta_factory.pt"),
        c("found-toml-factory", ["spectrum", p["lin.pt"], "--data", p["data.pt"]],
          "'model_factory'", setup={"landscape.toml": _factory_toml(marker, "")},
          marker="found_factory"),
        c("found-pyproject-factory", ["spectrum", p["lin.pt"], "--data", p["data.pt"]],
          "names code", setup={"pyproject.toml": _factory_toml(marker, "tool.landscape.")},
          marker="found_factory"),
        c("found-toml-data-factory", lin, "'data'",
          setup={"landscape.toml": f'data = "{p["cfg_data.py"]}:make"\n'.encode()},
          marker="cfg_data.py"),
        c("found-toml-factory-kwargs",
          ["spectrum", p["lin.pt"], "--model-factory", "torch.nn:Linear", "--data", p["data.pt"]],
          "'factory_kwargs'",
          setup={"landscape.toml": b"[factory_kwargs]\nin_features = 4\nout_features = 3\n"}),
        # ---- untrusted strings are data
        c("meta-params-redos",
          ["spectrum", p["redos.pt"], "--model-factory", f"{p['long_net.py']}:Long", "--data",
           p["data.pt"]], "taken as plain text"),
        c("found-toml-params-redos",
          ["spectrum", p["redos.pt"], "--model-factory", f"{p['long_net.py']}:Long", "--data",
           p["data.pt"]], "did not finish matching",
          setup={"landscape.toml": b'params = "(a+)+$"\n'}),
        c("escaped-state-dict-keys", ["spectrum", p["esc_keys.pt"], *factory], SHOWN),
        c("escaped-metadata-factory", ["spectrum", p["esc_factory.pt"], "--data", p["data.pt"]],
          SHOWN),
        c("escaped-metadata-data", ["spectrum", p["esc_data.pt"], *factory], SHOWN),
        # ---- loaders that draw another sample on every pass
        c("loader-weighted", [*lin, "--data", f"{p['random_loaders.py']}:weighted"],
          "WeightedRandomSampler", code=3),
        c("loader-replacement", [*lin, "--data", f"{p['random_loaders.py']}:replacement"],
          "with replacement", code=3),
    ]  # fmt: skip


def _factory_toml(markers: str, prefix: str) -> bytes:
    head = "[tool.landscape]\n" if prefix else ""
    args = json.dumps(["touch", f"{markers}/found_factory.ran"])
    text = f'{head}model_factory = "subprocess:run"\n[{prefix}factory_kwargs]\nargs = {args}\n'
    return text.encode()
