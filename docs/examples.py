"""Run the docs' console examples and write their output into the pages; draw the figures.

    python docs/examples.py              # rerun every example, rewrite its console block
    python docs/examples.py --check      # run every example, fail unless each exits as marked
    python docs/examples.py --figures    # redraw the figures (docs/*.png) with the commands
    python docs/examples.py PAGE.md ...  # only these pages (default: README.md and docs/)
    python docs/examples.py --check --jobs 4   # pages in parallel (each page's run in order)

An example is a marker line followed by a ```console block, which this script owns:

    <!-- run: landscape spectrum --k 3 -->
    <!-- run exit=2: landscape spectrum --basis-memory 100kB -->
    <!-- run head=12 tail=3: landscape taylor-check -->
    ```console
    $ landscape spectrum --k 3
    ...its output...
    ```

Several markers in a row make one block. `exit=N` is the exit code the command must end with
(default 0); `head=N` / `tail=N` keep the first / last N lines of the output (with a `...`
line between). Every ```console block of the docs must come after markers (tests/test_docs.py
checks it), so no console example is written by hand.

The commands of one page run in order, in one scratch folder per page (what a command writes
stays for the next), holding links to the repository's sample_models/, configs/, tests/ and
the files of docs/examples/; `landscape` there is this checkout's `python -m landscape`. Output
is stdout and stderr as a terminal shows them, interleaved. Timings in the output change from
run to run; --check compares nothing but the exit codes."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MARKER = re.compile(r"^<!-- run(?P<opts>(?: \w+=\d+)*): (?P<cmd>.+?) -->$")
LINKED = ("sample_models", "configs", "tests")
TIMEOUT = 300

# The figures in the docs, each drawn by the command that draws it (run in a scratch folder;
# the file named last is copied to docs/).
FIGURES = {
    "spectrum.png": ["landscape spectrum --density --png spectrum.png"],
    "ggn_gap.png": ["landscape ggn-gap --png ggn_gap.png"],
    "taylor.png": ["landscape taylor-check --png taylor.png"],
    "slices.png": ["landscape sharpness --out out", "cp out/slices.png slices.png"],
    "surface.png": ["landscape surface --png surface.png"],
    "interpolate.png": [
        'python -c "import torch; from sample_models.make_sample import train; '
        "torch.manual_seed(1); d = torch.load('sample_models/classifier_data.pt'); "
        "torch.save(train(d['x'], d['y'])[0].state_dict(), 'seed1.pt')\"",
        "landscape interpolate sample_models/classifier.pt seed1.pt --png interpolate.png",
    ],
}


@dataclass
class Example:
    command: str
    exit: int = 0
    head: int | None = None
    tail: int | None = None


@dataclass
class Block:
    examples: list[Example]
    start: int  # index of the first marker line
    end: int  # index one past the block's closing fence


def parse(lines: list[str]) -> list[Block]:
    """The example blocks of a page: markers, then a ```console block."""
    blocks, i = [], 0
    while i < len(lines):
        if not MARKER.match(lines[i]):
            i += 1
            continue
        start, examples = i, []
        while i < len(lines) and (m := MARKER.match(lines[i])):
            opts = dict(o.split("=") for o in m.group("opts").split())
            examples.append(Example(m.group("cmd"), **{k: int(v) for k, v in opts.items()}))
            i += 1
        if i >= len(lines) or lines[i] != "```console":
            raise SystemExit(f"line {i + 1}: a run marker must be followed by ```console")
        close = lines.index("```", i + 1)
        blocks.append(Block(examples, start, close + 1))
        i = close + 1
    return blocks


def scratch() -> Path:
    """A folder to run a page's commands in, with `landscape` on its PATH."""
    where = Path(tempfile.mkdtemp(prefix="landscape-docs-"))
    for name in LINKED:
        (where / name).symlink_to(ROOT / name)
    for f in (DOCS / "examples").iterdir():
        if f.is_file():
            shutil.copy(f, where / f.name)
    (where / ".bin").mkdir()
    wrapper = where / ".bin/landscape"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m landscape "$@"\n')
    wrapper.chmod(0o755)
    return where


def environment(where: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{where / '.bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
    env["PATH"] += os.environ.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"  # stdout and stderr interleaved as on a terminal
    env.setdefault("OMP_NUM_THREADS", "1")
    env.pop("COLUMNS", None)
    return env


def run(example: Example, where: Path) -> tuple[int, list[str]]:
    proc = subprocess.run(
        ["bash", "-c", example.command],
        cwd=where,
        env=environment(where),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT,
    )
    text = proc.stdout.replace(str(where) + "/", "").replace(str(where), ".")
    return proc.returncode, [line.rstrip() for line in text.rstrip("\n").splitlines()]


def shown(example: Example, output: list[str]) -> list[str]:
    head, tail = example.head, example.tail
    if head is None and tail is None:
        return output
    first = output[: head or 0]
    last = output[len(output) - tail :] if tail else []
    if (head or 0) + (tail or 0) >= len(output):
        return output
    return [*first, "...", *last]


def page(path: Path, check: bool) -> list[str]:
    """Run a page's examples; rewrite its console blocks unless checking. Returns failures."""
    lines = path.read_text().split("\n")
    blocks = parse(lines)
    if not blocks:
        return []
    where, failures, out = scratch(), [], []
    try:
        for block in blocks:
            body = []
            for ex in block.examples:
                start = time.perf_counter()
                code, output = run(ex, where)
                took = time.perf_counter() - start
                status = "ok" if code == ex.exit else f"FAILED: exit {code}, expected {ex.exit}"
                print(f"{path.relative_to(ROOT)}: {ex.command} ({took:.1f} s) {status}")
                if code != ex.exit:
                    failures.append(f"{path.relative_to(ROOT)}: `{ex.command}` exited {code}")
                    failures += ["    " + line for line in output[-5:]]
                body += [f"$ {ex.command}", *shown(ex, output)]
            out.append((block, body))
    finally:
        shutil.rmtree(where, ignore_errors=True)
    if not check and not failures:
        for block, body in reversed(out):
            fence = block.start + len(block.examples)
            lines[fence + 1 : block.end - 1] = body
        path.write_text("\n".join(lines))
    return failures


def figures() -> list[str]:
    failures = []
    for name, commands in FIGURES.items():
        where = scratch()
        try:
            for command in commands:
                code, output = run(Example(command), where)
                print(f"{name}: {command} → exit {code}")
                if code:
                    failures += [f"{name}: `{command}` exited {code}", *output[-5:]]
                    break
            else:
                shutil.copy(where / name, DOCS / name)
        finally:
            shutil.rmtree(where, ignore_errors=True)
    return failures


def main(argv: list[str]) -> int:
    check = "--check" in argv
    if "--figures" in argv:
        failures = figures()
    else:
        jobs = int(argv[argv.index("--jobs") + 1]) if "--jobs" in argv else 1
        named = [Path(a).resolve() for a in argv if a.endswith(".md")]
        pages = named or [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
        with ThreadPoolExecutor(jobs) as pool:  # each page in its own scratch folder
            failures = [f for found in pool.map(lambda p: page(p, check), pages) for f in found]
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
