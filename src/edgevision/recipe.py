"""Recipes: a YAML list of stages (the same verbs as the CLI, with the same options), run in order.

```yaml
name: quickstart
data: {source: "synthetic:shapes", input_size: 32}   # merged into every stage that takes `data`
stages:
  - train: {model: student_cnn, epochs: 8}
  - eval: {}                      # `artifact` defaults to "@prev", the previous stage's artifact
  - profile: {target: "@train"}   # or name an earlier stage
  - report: {}
```

Everything is validated before the first stage runs. Each stage writes ``<out>/<name>/``; a stage whose folder
holds a complete card is skipped on a re-run, and an interrupted training stage resumes from its checkpoint.
"""

from __future__ import annotations

import copy
import time
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .config import load_yaml, validate
from .errors import ConfigError, suggest
from .runs import RunDir
from .stages import STAGES, StageResult, StageSpec, execute
from .utils.io import write_json, write_yaml
from .utils.progress import console


class RecipeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "recipe"
    out: str | None = None
    seed: int | None = None
    data: dict[str, Any] | None = None
    stages: list[dict[str, Any]] = Field(..., min_length=1)
    search: dict[str, Any] | None = Field(None, description="search space for `edgevision search` (ignored by run)")


class _Stage:
    def __init__(self, index: int, verb: str, name: str, options: dict[str, Any], spec: StageSpec) -> None:
        self.index, self.verb, self.name, self.options, self.spec = index, verb, name, options, spec


def _parse_stages(rc: RecipeConfig) -> list[_Stage]:
    out, seen = [], set()
    for i, entry in enumerate(rc.stages):
        where = f"stages[{i}]"
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConfigError(f"{where}: each stage is a mapping with one verb, e.g. '- train: {{epochs: 5}}'")
        verb, opts = next(iter(entry.items()))
        if verb not in STAGES:
            raise ConfigError(f"{where}: unknown stage {verb!r}{suggest(verb, STAGES.names())}; "
                              f"allowed: {', '.join(STAGES.names())}")
        opts = dict(opts or {})
        if not isinstance(opts, dict):
            raise ConfigError(f"{where}.{verb}: options must be a mapping")
        name = str(opts.pop("name", verb))
        if name in seen:
            name = f"{name}_{i}"
        seen.add(name)
        out.append(_Stage(i, verb, name, opts, STAGES.get(verb)))
    return out


def _with_defaults(st: _Stage, rc: RecipeConfig, out: Path, first: bool) -> dict[str, Any]:
    opts = copy.deepcopy(st.options)
    fields = st.spec.config.model_fields
    if rc.data and "data" in fields:
        opts["data"] = {**rc.data, **(opts.get("data") or {})}
    if rc.seed is not None and "seed" in fields and "seed" not in opts:
        opts["seed"] = rc.seed
    if st.spec.input_field and st.spec.input_field not in opts:
        if first:
            raise ConfigError(f"stages[{st.index}].{st.verb}: needs '{st.spec.input_field}' (no earlier stage)")
        opts[st.spec.input_field] = "@prev"
    if st.verb == "report" and "runs" not in opts:
        opts["runs"] = [str(out)]
    return opts


def _resolve_refs(value: Any, results: dict[str, StageResult], prev: str | None, where: str) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_refs(v, results, prev, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, results, prev, where) for v in value]
    if isinstance(value, str) and value.startswith("@"):
        ref = prev if value == "@prev" else value[1:]
        if ref not in results:
            raise ConfigError(f"{where}: {value!r} does not name an earlier stage ({', '.join(results) or 'none'})")
        r = results[ref]
        return str(r.artifact or r.run_dir)
    return value


def _check_refs(value: Any, names: list[str], where: str) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _check_refs(v, names, where)
    elif isinstance(value, list):
        for v in value:
            _check_refs(v, names, where)
    elif isinstance(value, str) and value.startswith("@") and value != "@prev" and value[1:] not in names:
        raise ConfigError(f"{where}: {value!r} does not name an earlier stage{suggest(value[1:], names)}")


def packaged_recipes() -> dict[str, Path]:
    """The recipes shipped in the package, by name (``quickstart`` → ``.../edgevision/recipes/quickstart.yaml``)."""
    folder = Path(str(resources.files("edgevision") / "recipes"))
    return {f.stem: f for f in sorted(folder.glob("*.yaml"))}


def recipe_path(recipe: str | Path) -> Path:
    """A recipe file, or the packaged recipe of that name; neither is a one-line error listing the names."""
    p = Path(recipe)
    if p.is_file():
        return p
    shipped = packaged_recipes()
    name = p.name[:-5] if p.name.endswith(".yaml") else p.name
    if name in shipped and p.parent in (Path("."), Path("recipes")):
        return shipped[name]
    raise ConfigError(f"recipe {str(recipe)!r}: no such file, and not a packaged recipe{suggest(name, shipped)}; "
                      f"packaged: {', '.join(shipped)}")


def load_recipe(recipe: str | Path | dict[str, Any]) -> RecipeConfig:
    """Read and validate a recipe: a file, a packaged recipe's name, or an already loaded mapping. In a file, the
    model files it names (``model: nets/my_net.py:Net``, ``weights: ckpt.pth``) are looked up beside the recipe
    first (:func:`beside`), so a recipe and its files move together."""
    if isinstance(recipe, dict):
        return validate(RecipeConfig, recipe, prefix="")
    path = recipe_path(recipe)
    return validate(RecipeConfig, beside(load_yaml(path), path.parent), prefix="")


FILE_KEYS = ("model", "student", "teacher", "target", "weights")  # option keys whose values may name a user file


def beside(value: Any, folder: Path) -> Any:
    """``value`` with each relative file named under :data:`FILE_KEYS` (a ``file.py:callable`` reference's file,
    or a weights file) made absolute when it exists in ``folder``; otherwise left for the working directory."""
    if isinstance(value, list):
        return [beside(v, folder) for v in value]
    if not isinstance(value, dict):
        return value
    return {k: _beside_one(v, folder) if k in FILE_KEYS and isinstance(v, str) else beside(v, folder)
            for k, v in value.items()}


def _beside_one(text: str, folder: Path) -> str:
    head, sep, attr = text.rpartition(":") if text.rpartition(":")[0].endswith(".py") else (text, "", "")
    p = Path(head).expanduser()
    if p.is_absolute() or not (folder / p).is_file():
        return text
    return f"{(folder / p).resolve()}{sep}{attr}"


def plan(rc: RecipeConfig, root: Path) -> tuple[list[_Stage], list[dict[str, Any]]]:
    """Every stage with its defaulted options, all validated — nothing runs (a bad key fails here)."""
    stages = _parse_stages(rc)
    planned = []
    for k, st in enumerate(stages):
        opts = _with_defaults(st, rc, root, k == 0)
        _check_refs(opts, [s.name for s in stages[:k]], f"stages[{st.index}].{st.verb}")
        validate(st.spec.config, opts, prefix=f"stages[{st.index}].{st.verb}")
        planned.append(opts)
    return stages, planned


def recipe_root(recipe: str | Path | dict[str, Any], out: str | Path | None = None) -> Path:
    """The folder a recipe runs in: ``out``, else the recipe's ``out``, else ``runs/<name>``."""
    return _root(load_recipe(recipe), out)


def _root(rc: RecipeConfig, out: str | Path | None) -> Path:
    return Path(out or rc.out or Path("runs") / rc.name)


def run(recipe: str | Path | dict[str, Any], out: str | Path | None = None, force: bool = False) -> list[StageResult]:
    """Run a recipe file (or mapping); returns one :class:`StageResult` per stage.

    Example:
        >>> edgevision.run("mnist-deep-compression", out="runs/mnist")
    """
    rc = load_recipe(recipe)
    root = _root(rc, out)
    stages, planned = plan(rc, root)
    root.mkdir(parents=True, exist_ok=True)
    write_yaml(root / "recipe.yaml", rc.model_dump(mode="json"))
    return _execute(rc, root, stages, planned, force)


def _execute(rc: RecipeConfig, root: Path, stages: list[_Stage], planned: list[dict], force: bool) -> list[StageResult]:
    results: dict[str, StageResult] = {}
    status: list[dict[str, Any]] = [{"name": s.name, "verb": s.verb, "status": "pending"} for s in stages]
    prev = None
    for st, opts, row in zip(stages, planned, status):
        where = f"stages[{st.index}].{st.verb}"
        opts = _resolve_refs(opts, results, prev, where)
        target = root / "report.html" if st.verb == "report" else root / st.name
        run_dir = RunDir(target)
        if st.verb != "report" and run_dir.is_complete() and not force:
            console.print(f"[dim]{st.name}: already complete, skipped[/]")
            res = StageResult(run_dir.path, run_dir.path / a if (a := run_dir.card().get("artifact")) else None,
                              run_dir.card())
        else:
            fields = st.spec.config.model_fields
            if force and "overwrite" in fields:  # --force starts over: the old stage folder is moved aside
                opts["overwrite"] = True
            elif "resume" in fields and not force:
                opts["resume"] = True
            console.rule(f"[bold]{rc.name} · {st.name}[/] ({st.verb})")
            cfg = validate(st.spec.config, opts, prefix=where)
            t0 = time.perf_counter()
            res = execute(st.spec, cfg, target)
            row["seconds"] = round(time.perf_counter() - t0, 2)
        results[st.name] = res
        if res.artifact is not None:  # "@prev" = the latest stage that produced an artifact
            prev = st.name
        row.update(status="complete", run_dir=str(res.run_dir), artifact=str(res.artifact) if res.artifact else None)
        write_json(root / "recipe.json", {"name": rc.name, "stages": status})
    return list(results.values())


def quickstart(out: str | Path = "runs/quickstart") -> Path:
    """Run the embedded quickstart recipe on ``synthetic:shapes`` and return the report path."""
    results = run("quickstart", out=out)
    report = next((r.artifact for r in results if r.card.get("stage") == "report"), Path(out) / "report.html")
    return Path(report)

