"""Every example in README.md and docs/ runs (slow: `make test-slow`).

How a documentation example is written, and what this test does with it:

- A fenced block whose info string is ``sh`` or ``python`` is an example, and it is run.
  ``sh no-run: REASON`` (or ``python no-run: REASON``) marks one that cannot run here (a camera, a database
  server, an hour-long benchmark); the test reports it as skipped with REASON. Any other info string (``text``,
  ``yaml``, ``console``) is not run.
- All blocks run in reading order, README.md first and then the pages in ``ORDER`` (pages not listed follow in
  file-name order), in one temporary working directory, so a ``runs/...`` folder made by one example is there for
  the next. That directory holds links named ``recipes``, ``benchmarks`` and ``.venv`` to the repository's, and
  ``../shared/datasets`` points at the real datasets (``$EDGEVISION_DATA`` or the repository's ``../shared``).
- Commands are shrunk so the whole file takes a few minutes; the docs show the full-size commands, and this test
  checks that they run, not how well they learn. Epoch counts become 1, searches run 2 trials, synthetic shapes
  have 128 / 32 / 32 samples, a real dataset named by ``--data`` is capped at ``LIMIT`` samples per split, input
  sizes at ``MAX_SIZE`` pixels, and timing budgets are cut. A recipe (``edgevision run``, ``search``,
  ``quickstart``) is copied with the same caps, and one already run in this session is linked, not run again.
- A block that names a shared dataset is skipped when that dataset is absent, and a command that needs a run
  folder which a skipped example would have made is skipped too.
- ``edgevision ...`` lines run in this process through the console-script entry point (no interpreter start-up per
  line); other lines (pipes, redirections, ``unzip``, ``python``) run in bash with the venv first on PATH.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ORDER = ["README.md", "docs/usage.md", "docs/verbs/models.md", "docs/verbs/train.md", "docs/verbs/eval.md",
         "docs/verbs/profile.md", "docs/verbs/distill.md", "docs/verbs/prune.md", "docs/verbs/sensitivity.md",
         "docs/verbs/cluster.md", "docs/verbs/pack.md", "docs/verbs/unpack.md", "docs/verbs/shrink.md",
         "docs/verbs/quantize.md", "docs/verbs/lowrank.md", "docs/verbs/export.md", "docs/verbs/bench.md",
         "docs/verbs/report.md", "docs/verbs/run.md", "docs/verbs/quickstart.md", "docs/verbs/anchors.md",
         "docs/tasks.md", "docs/verbs/predict.md", "docs/verbs/demo.md", "docs/verbs/faces.md",
         "docs/verbs/search.md"]
LIMIT = 24  # samples per split of a real dataset
MAX_SIZE = 128  # input side of real images
# Shared datasets a block needs, recognised by what it names.
NEEDS = {r"\bmnist\b": ["mnist"], r"pennfudan|penn_fudan|presence": ["penn_fudan_ped"],
         r"coco128|presence": ["coco128"], r"\borl\b|orl_faces|faces": ["orl_faces"], r"\blfw\b": ["lfw_deepfunneled"]}
SMALL = ("orl",)  # real datasets small enough to use whole
SYNTHETIC = ["--set", "data.options.n_train=128", "--set", "data.options.n_val=32", "--set", "data.options.n_test=32"]
# Flags a doc may already use under the name the CLI is moving to; mapped to today's name while the CLI lacks it.
SHELL_OPS = set("|&;<>()")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str
    code: str
    no_run: str | None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[str]:
    found = ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").rglob("*.md"))]
    return [p for p in ORDER if p in found] + [p for p in found if p not in ORDER]


def blocks(page: str) -> list[Block]:
    out, lines = [], (REPO / page).read_text().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(sh|python)\b\s*(.*)$", lines[i])
        if not m:
            i += 1
            continue
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        rest = m.group(2).strip()
        no_run = rest.split(":", 1)[1].strip() if rest.startswith("no-run") else None
        if rest.startswith("no-run") and not no_run:
            raise AssertionError(f"{page}:{start}: `no-run` needs a reason (no-run: why)")
        out.append(Block(page, start, m.group(1), "\n".join(body), no_run))
        i += 1
    return out


ALL = [b for p in pages() for b in blocks(p)]


def commands(code: str) -> list[str]:
    """Logical shell lines: continuations joined, comment-only lines dropped, a here-document kept whole."""
    out, lines = [], re.sub(r"\\\n", " ", code).splitlines()
    while lines:
        line = lines.pop(0).strip()
        if not line or line.startswith("#"):
            continue
        m = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line)
        if m:
            body = []
            while lines and lines[0].strip() != m.group(1):
                body.append(lines.pop(0))
            line = "\n".join([line, *body, lines.pop(0) if lines else m.group(1)])
        out.append(line)
    return out


def is_plain(line: str) -> bool:
    """An edgevision command with no shell syntax, so it can run in this process."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.whitespace_split, lex.commenters = True, "#"
    toks = list(lex)
    return bool(toks) and toks[0] in ("edgevision", ".venv/bin/edgevision") and "$" not in line and \
        not any(t and set(t) <= SHELL_OPS for t in toks)


def shrink_text(text: str) -> str:
    """The caps that apply to a command line or a Python block, whatever runs it."""
    text = re.sub(r"(--(?:soft-)?epochs[ =])\d+", r"\g<1>1", text)
    text = re.sub(r"\b((?:soft_)?epochs=)\d+", r"\g<1>1", text)
    text = re.sub(r"(--trials[ =])\d+", r"\g<1>2", text)
    text = re.sub(r"(--max-frames[ =])\d+", r"\g<1>3", text)
    text = re.sub(r"(--agp-end[ =])[\d.]+", r"\g<1>1", text)
    text = re.sub(r"(--input-size[ =])(\d+)\b(?!x)", lambda m: m.group(1) + str(min(int(m.group(2)), MAX_SIZE)), text)
    text = re.sub(r"(data\.options\.n_(?:train|val|test)=)\d+", r"\g<1>32", text)
    return re.sub(r"([\"']n_(?:train|val|test)[\"']:\s*)\d+", r"\g<1>64", text)


def shrink_recipe(doc: dict) -> dict:
    """A recipe with every epoch count 1, two search trials and small data."""
    def walk(v):
        if isinstance(v, dict):
            out = {}
            for k, x in v.items():
                if k in ("epochs", "soft_epochs", "agp_end") and isinstance(x, (int, float)):
                    out[k] = 1
                elif k == "warmup_epochs":
                    out[k] = 0
                elif k == "input_size" and isinstance(x, int):
                    out[k] = min(x, MAX_SIZE)
                elif k in ("budget_s", "rounds"):
                    out[k] = {"budget_s": 0.05, "rounds": 1}[k]
                elif isinstance(k, str) and k.endswith(".epochs") and isinstance(x, dict):
                    out[k] = {"choices": [1]}
                else:
                    out[k] = walk(x)
            return out
        return [walk(x) for x in v] if isinstance(v, list) else v
    doc = walk(doc)
    data = doc.setdefault("data", {})
    if str(data.get("source", "synthetic:shapes")).startswith("synthetic"):
        data["options"] = {**data.get("options", {}), "n_train": 128, "n_val": 32, "n_test": 32}
    else:
        data["limit"] = LIMIT
    if "search" in doc:
        doc["search"]["trials"] = 2
    return doc


def recipe_path(name: str, tmp: Path) -> str:
    """A shrunk copy of a recipe file, or of a packaged recipe given by name."""
    path = Path(name)
    if not path.suffix:
        path = Path(str(resources.files("edgevision") / "recipes" / f"{name}.yaml"))
    dst = tmp / f"shrunk-{path.stem}.yaml"
    dst.write_text(yaml.safe_dump(shrink_recipe(yaml.safe_load(path.read_text())), sort_keys=False))
    return str(dst)


def shrink_argv(argv: list[str], tmp: Path, help_of) -> list[str]:
    verb = argv[0]
    if "--help" in argv or "-h" in argv:
        return argv
    if verb == "quickstart":
        argv = ["run", "quickstart", *argv[1:]]
        if "--out" not in argv:
            argv += ["--out", "runs/quickstart"]
        verb = "run"
    if verb in ("run", "search"):
        argv = [verb, recipe_path(argv[1], tmp), *argv[2:]]
    data = argv[argv.index("--data") + 1] if "--data" in argv else config_source(argv)
    if verb in ("train", "distill") and data and not data.startswith(SMALL):
        argv += SYNTHETIC if data.startswith("synthetic") else ["--set", f"data.limit={LIMIT}"]
    if verb == "bench":
        argv += ["--budget", "0.05"]
    if verb in ("profile", "sensitivity", "quantize"):
        argv += {"profile": ["--set", "budget_s=0.05"], "sensitivity": ["--limit", "32"],
                 "quantize": ["--calib-samples", "32"]}[verb]
    return argv


def config_source(argv: list[str]) -> str | None:
    """The data source of a ``--config`` file, if it names one."""
    if "--config" not in argv:
        return None
    doc = yaml.safe_load(Path(argv[argv.index("--config") + 1]).read_text()) or {}
    return (doc.get("data") or {}).get("source")


def inputs(argv: list[str]) -> list[str]:
    """The run folders a command reads (every ``runs/...`` argument that is not an ``--out``)."""
    outs = {argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("--out", "--db", "--jsonl")}
    found = []
    for a in argv:
        for part in a.split("+"):
            if part.startswith("runs/") and a not in outs:
                found.append("/".join(Path(part).parts[:2]))
    return found


class Session:
    """The shared working directory, the console-script entry point and what has been skipped so far."""

    def __init__(self, root: Path) -> None:
        self.cwd = root / "work"
        self.tmp = root / "tmp"
        for d in (self.cwd, self.tmp, root / "shared"):
            d.mkdir(parents=True, exist_ok=True)
        datasets = Path(os.environ["EDGEVISION_DATA"]) if os.environ.get("EDGEVISION_DATA") else \
            REPO.parent / "shared" / "datasets"
        if datasets.is_dir():
            (root / "shared" / "datasets").symlink_to(datasets.resolve())
        self.datasets = root / "shared" / "datasets"
        for name, target in (("recipes", REPO / "recipes"), ("benchmarks", REPO / "benchmarks"),
                             (".venv", Path(sys.prefix))):
            (self.cwd / name).symlink_to(target)
        self.main = next(iter(metadata.entry_points(group="console_scripts", name="edgevision"))).load()
        self.skipped: list[str] = []
        self.recipes: dict[str, Path] = {}
        self._help: dict[str, str] = {}
        self.env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                    "EDGEVISION_PROGRESS": "0", "EDGEVISION_DATA": str(self.datasets)}

    def help_of(self, verb: str) -> str:
        if verb not in self._help:
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):
                self.main([verb, "--help"])
            self._help[verb] = buf.getvalue()
        return self._help[verb]

    def missing(self, block: Block) -> list[str]:
        text = "\n".join(commands(block.code))
        need = {d for pat, ds in NEEDS.items() if re.search(pat, text) for d in ds}
        return sorted(d for d in need if not (self.datasets / d).is_dir())

    def check_inputs(self, argv: list[str]) -> None:
        for run in inputs(argv):
            if not (self.cwd / run).exists() and self.skipped:
                pytest.skip(f"needs {run}, which a skipped example would have made ({', '.join(self.skipped)})")

    def run_line(self, line: str) -> None:
        line = shrink_text(line)
        if is_plain(line):
            argv = shlex.split(line, comments=True)[1:]
            argv = shrink_argv(argv, self.tmp, self.help_of)
            self.check_inputs(argv)
            if self.reuse_recipe(argv):
                return
            try:
                rc = self.main(argv)
            except SystemExit as e:  # --help
                rc = e.code or 0
            assert rc == 0, f"`edgevision {shlex.join(argv)}` exited with {rc}"
            return
        self.check_inputs(shlex.split(line, comments=True))
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", line], cwd=self.cwd, env=self.env,
                           capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, f"`{line}` exited with {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"

    def reuse_recipe(self, argv: list[str]) -> bool:
        """A recipe already run in this session is linked to the new ``--out`` instead of run again."""
        if argv[0] != "run" or "--out" not in argv:
            return False
        out = self.cwd / argv[argv.index("--out") + 1]
        done = self.recipes.setdefault(argv[1], out)
        if done == out or out.exists():
            return False
        out.parent.mkdir(parents=True, exist_ok=True)
        out.symlink_to(done.resolve(), target_is_directory=True)
        return True

    def run_python(self, code: str) -> None:
        self.check_inputs(re.findall(r"(?<!out=)[\"'](runs/[^\"']+)[\"']", code))  # read, not written
        exec(compile(shrink_text(code), "<doc example>", "exec"), {"__name__": "__doc_example__"})


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Session:
    return Session(tmp_path_factory.mktemp("doc-examples"))


@pytest.mark.slow
@pytest.mark.parametrize("block", ALL, ids=[b.id for b in ALL])
def test_example_runs(block: Block, session: Session, monkeypatch) -> None:
    if block.no_run:
        pytest.skip(f"marked not runnable: {block.no_run}")
    absent = session.missing(block)
    if absent:
        session.skipped.append(block.id)
        pytest.skip(f"needs the shared dataset(s) {', '.join(absent)} (../shared/datasets or $EDGEVISION_DATA)")
    monkeypatch.chdir(session.cwd)
    monkeypatch.setenv("EDGEVISION_DATA", str(session.datasets))
    try:
        if block.lang == "python":
            session.run_python(block.code)
        else:
            for line in commands(block.code):
                session.run_line(line)
    except pytest.skip.Exception:
        session.skipped.append(block.id)
        raise


def test_examples_are_found() -> None:
    """The convention is in use: the README has runnable examples, and every no-run block says why."""
    readme = [b for b in ALL if b.page == "README.md"]
    assert any(b.no_run is None for b in readme)
    assert all(b.no_run is None or b.no_run.strip() for b in ALL)


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors of a markdown page."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    heads = re.findall(r"^#+\s+(.*)$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_doc_links_resolve() -> None:
    """Every relative link in README.md, docs/ and benchmarks/LOG.md points at a file (and heading) that exists."""
    broken = []
    for page in [REPO / p for p in pages()] + [REPO / "benchmarks" / "LOG.md"]:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists() or (anchor and dest.suffix == ".md" and anchor not in _anchors(dest)):
                broken.append(f"{page.relative_to(REPO)}: {target}")
    assert not broken, broken
