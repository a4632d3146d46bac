"""Study files: a StudySpec as YAML (or TOML), written by `study show NAME` and read by
`study run FILE`. Parsed with yaml.safe_load (or tomllib), never executed.

    name: my_study                  # [a-z0-9_] , the folder is runs/NAME
    description: one line
    kind: train                     # train | merge
    base: {mode: single_task, method: lora}        # TrialConfig fields
    scale_base: {cpu: {pooling: mean}}             # per scale, after base
    space:                                         # in this order: it changes TPE's proposals
      r: {choice: [4, 8, 16]}
      lr: {log_uniform: [1.0e-4, 1.0e-3]}
      dropout: {uniform: [0.0, 0.3]}
    points_to_evaluate: [{r: 8, lr: 3.0e-4}]       # run first, never stopped early
    samples: {smoke: 3, cpu: 10, paper: 48}        # search trials per scale
    seeds: {smoke: 1, cpu: 3, paper: 3}            # runs per chosen configuration
    top_k: 2
    rerun_first_points: true
    rerun_best_of: ""                              # or a space key, e.g. method
    scheduler: {grace_period: 1, reduction_factor: 2, run_first_points_fully: true}  # or null
    includes: []                                   # a suite: the studies it runs

Every key and value is checked before anything starts; a bad one is one line naming the key,
the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any

from search_spaces import load_study as load_builtin
from search_spaces import study_names
from search_spaces.spec import Choice, LogUniform, Param, Scheduler, StudySpec, Uniform
from study.config import TrialConfig
from study.errors import UserError

SUFFIXES = (".yaml", ".yml", ".toml")
SCALES = ("smoke", "cpu", "paper")
KINDS = ("train", "merge")
PARAM_KINDS = {"choice": Choice, "log_uniform": LogUniform, "uniform": Uniform}
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_KEYS = (
    "name",
    "description",
    "kind",
    "base",
    "scale_base",
    "space",
    "points_to_evaluate",
    "samples",
    "seeds",
    "top_k",
    "rerun_first_points",
    "rerun_best_of",
    "scheduler",
    "includes",
)
"""The keys of the file form, in its order (spec_to_dict)."""


def is_study_file(name: str) -> bool:
    return Path(name).suffix.lower() in SUFFIXES


def load_spec(name: str, folder: str | Path | None = None) -> StudySpec:
    """A built-in study by name, the study a file holds, or (another name) the resolved spec
    that study.json in `folder` (default runs/NAME) stored when it started: `--resume` and
    `report` need no study file."""
    if is_study_file(name):
        return read_study_file(name)
    if name in study_names():
        return load_builtin(name)
    from study.records import read_meta

    meta_dir = Path(folder) if folder else Path("runs") / name
    meta = read_meta(meta_dir) if (meta_dir / "study.json").is_file() else None
    if meta is not None and meta.study == name and meta.spec.get("space") is not None:
        return spec_from_dict(meta.spec, str(meta_dir / "study.json"))
    load_builtin(name)  # the unknown-name error, which lists the built-in studies
    raise AssertionError("unreachable")


# --- writing -------------------------------------------------------------------------------


def spec_to_dict(spec: StudySpec) -> dict[str, Any]:
    """The file form of a spec: plain lists and dicts, in the field order of StudySpec."""
    return {
        "name": spec.name,
        "description": spec.description,
        "kind": spec.kind,
        "base": dict(spec.base),
        "scale_base": {k: dict(v) for k, v in spec.scale_base.items()},
        "space": {k: _param_to_dict(p) for k, p in spec.space.items()},
        "points_to_evaluate": [dict(p) for p in spec.points_to_evaluate],
        "samples": dict(spec.samples),
        "seeds": dict(spec.seeds),
        "top_k": spec.top_k,
        "rerun_first_points": spec.rerun_first_points,
        "rerun_best_of": spec.rerun_best_of,
        "scheduler": None if spec.scheduler is None else dataclasses.asdict(spec.scheduler),
        "includes": list(spec.includes),
    }


def _param_to_dict(param: Param) -> dict[str, list]:
    if isinstance(param, Choice):
        return {"choice": list(param.values)}
    kind = "log_uniform" if isinstance(param, LogUniform) else "uniform"
    return {kind: [param.low, param.high]}


def show(spec: StudySpec) -> str:
    """YAML of the spec, keys in order, with a header that says how to use it."""
    import yaml

    header = (
        f"# study {spec.name}: `python -m study show {spec.name} > mine.yaml`, edit it (a new\n"
        "# name gives it its own folder, runs/NAME), then `python -m study run mine.yaml`.\n"
    )
    # flow style for collections of scalars only: one line per parameter and per point
    body = yaml.safe_dump(
        spec_to_dict(spec), sort_keys=False, allow_unicode=True, width=100, default_flow_style=None
    )
    return header + body


# --- reading -------------------------------------------------------------------------------


def read_study_file(path: str | Path) -> StudySpec:
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"study file {path} not found; `python -m study show NAME` writes one")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        if path.suffix.lower() == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as err:  # noqa: BLE001 - yaml's and toml's errors: one line either way
        where = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"study file {path} does not parse: {where}") from None
    return spec_from_dict(data, str(path))


def spec_from_dict(data: Any, where: str = "study file") -> StudySpec:
    """A StudySpec from the file form, every key and value checked (module docstring)."""
    if not isinstance(data, dict):
        raise UserError(f"{where}: must be a mapping of the keys {', '.join(_KEYS)}")
    unknown = [k for k in data if k not in _KEYS]
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(_KEYS)}")
    if "name" not in data:
        raise UserError(f"{where}: the key 'name' is required")
    name = _text(data, "name", where)
    if not NAME.match(name):
        raise UserError(f"{where}: name={name!r} is invalid: letters, digits, _ . - only")
    includes = tuple(_list(data, "includes", where, []))
    for study in includes:
        if study not in study_names() or load_builtin(study).includes:
            allowed = ", ".join(n for n in study_names() if not load_builtin(n).includes)
            raise UserError(f"{where}: includes has {study!r}; allowed: {allowed}")
    kind = _text(data, "kind", where, "train")
    if kind not in KINDS:
        raise UserError(f"{where}: kind={kind!r} is invalid; allowed: {' | '.join(KINDS)}")
    base = _mapping(data, "base", where, {})
    scale_base = _mapping(data, "scale_base", where, {})
    for scale, overrides in scale_base.items():
        _scale(scale, f"scale_base.{scale}", where)
        if not isinstance(overrides, dict):
            raise UserError(f"{where}: scale_base.{scale} must be a mapping of config fields")
    space = {k: _param(k, v, where) for k, v in _mapping(data, "space", where, {}).items()}
    points = _list(data, "points_to_evaluate", where, [])
    for i, point in enumerate(points):
        if not isinstance(point, dict):
            raise UserError(f"{where}: points_to_evaluate[{i}] must be a mapping of fields")
    samples = _counts(data, "samples", where, None, minimum=1)
    if not samples:
        raise UserError(f"{where}: samples needs a trial count for at least one of {SCALES}")
    seeds = _counts(data, "seeds", where, {"smoke": 1, "cpu": 3, "paper": 3}, minimum=1)
    top_k = _integer(data, "top_k", where, 2, minimum=0)
    rerun_first = data.get("rerun_first_points", True)
    if not isinstance(rerun_first, bool):
        raise UserError(f"{where}: rerun_first_points={rerun_first!r} must be true or false")
    best_of = _text(data, "rerun_best_of", where, "")
    if best_of and best_of not in space:
        raise UserError(
            f"{where}: rerun_best_of={best_of!r} is not a space key; allowed: "
            f"'' or {', '.join(space) or 'a key of space'}"
        )
    spec = StudySpec(
        name=name,
        description=_text(data, "description", where, ""),
        base=base,
        space=space,
        samples=samples,
        scale_base=scale_base,
        points_to_evaluate=tuple(points),
        scheduler=_scheduler(data, where),
        seeds=seeds,
        top_k=top_k,
        rerun_first_points=rerun_first,
        rerun_best_of=best_of,
        kind=kind,
        includes=includes,
    )
    if not includes:
        check_fields(spec, where)
    return spec


def check_fields(spec: StudySpec, where: str) -> None:
    """base, scale_base, the space and the points name config fields (a merge study's space
    and points name its merge parameters) and hold values a TrialConfig takes."""
    base = TrialConfig()
    try:
        base = base.replace(**spec.base)
    except UserError as err:
        raise UserError(f"{where}: base: {err}") from None
    for scale, overrides in spec.scale_base.items():
        try:
            base.replace(**overrides)
        except UserError as err:
            raise UserError(f"{where}: scale_base.{scale}: {err}") from None
    if spec.kind == "merge":
        return  # study/plan.py checks the merge parameters (merge_params) before Ray
    fields = {f.name for f in dataclasses.fields(TrialConfig)}
    for key in spec.space:
        if key not in fields:
            raise UserError(f"{where}: space key {key!r} is not a config field (see `--set`)")
    for i, point in enumerate(spec.points_to_evaluate):
        try:
            base.replace(**point)
        except UserError as err:
            raise UserError(f"{where}: points_to_evaluate[{i}]: {err}") from None


def _text(data: dict, key: str, where: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise UserError(f"{where}: {key}={value!r} must be a string")
    return value


def _typed(data: dict, key: str, where: str, default: Any, kind: type, word: str) -> Any:
    """data[key] (default when absent or null), which must be a `kind` ("a mapping", "a list")."""
    value = data.get(key, default)
    if value is None:
        value = default
    if not isinstance(value, kind):
        raise UserError(f"{where}: {key} must be {word}, got {value!r}")
    return kind(value)


def _mapping(data: dict, key: str, where: str, default: dict) -> dict:
    return _typed(data, key, where, default, dict, "a mapping")


def _list(data: dict, key: str, where: str, default: list) -> list:
    return _typed(data, key, where, default, list, "a list")


def _scale(scale: Any, key: str, where: str) -> None:
    if scale not in SCALES:
        raise UserError(f"{where}: {key}: scale {scale!r} is unknown; allowed: {', '.join(SCALES)}")


def _integer(data: dict, key: str, where: str, default: int, minimum: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{where}: {key}={value!r} is invalid: an integer >= {minimum}")
    return value


def _counts(data: dict, key: str, where: str, default: dict | None, minimum: int) -> dict:
    value = data.get(key, default)
    if value is None:
        value = default or {}
    if not isinstance(value, dict):
        raise UserError(f"{where}: {key} must map scales ({', '.join(SCALES)}) to integers")
    for scale in value:
        _scale(scale, f"{key}.{scale}", where)
        _integer(value, scale, f"{where}: {key}", 0, minimum)
    return dict(value)


def _param(name: str, value: Any, where: str) -> Param:
    allowed = "{choice: [...]}, {log_uniform: [low, high]} or {uniform: [low, high]}"
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in PARAM_KINDS:
        raise UserError(f"{where}: space.{name}={value!r} is invalid; allowed: {allowed}")
    kind, args = next(iter(value.items()))
    if not isinstance(args, list) or not args:
        raise UserError(f"{where}: space.{name}.{kind} must be a non-empty list, got {args!r}")
    if kind == "choice":
        return Choice(tuple(args))
    numbers = len(args) == 2 and all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in args
    )
    if not numbers or not args[0] < args[1] or (kind == "log_uniform" and args[0] <= 0):
        need = "0 < low < high" if kind == "log_uniform" else "low < high"
        raise UserError(f"{where}: space.{name}.{kind}={args!r} is invalid: [low, high], {need}")
    return PARAM_KINDS[kind](float(args[0]), float(args[1]))


def _scheduler(data: dict, where: str) -> Scheduler | None:
    if "scheduler" not in data:
        return Scheduler()
    value = data["scheduler"]
    if value is None:
        return None
    fields = [f.name for f in dataclasses.fields(Scheduler)]
    if not isinstance(value, dict) or any(k not in fields for k in value):
        raise UserError(
            f"{where}: scheduler={value!r} is invalid; allowed: null or a mapping of "
            f"{', '.join(fields)}"
        )
    for key in ("grace_period", "reduction_factor"):
        if key in value:
            _integer(value, key, f"{where}: scheduler", 1, 1 if key == "grace_period" else 2)
    first = value.get("run_first_points_fully", True)
    if not isinstance(first, bool):
        raise UserError(f"{where}: scheduler.run_first_points_fully={first!r}: true or false")
    return Scheduler(**value)
