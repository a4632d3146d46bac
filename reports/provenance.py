"""What the title page says: how the PDF was made, from what, and the study's settings.

Settings come from study.json; where it lacks a key, from what the rows carry; else "unknown".
"""

from __future__ import annotations

import datetime as dt
from importlib import metadata
from typing import Any

from model.encoder import EMBEDDED_SHA256
from model.spec import TASKS
from reports.figures.trials import format_duration
from reports.loading import Source, StudyData
from reports.rows import config, mode, number, order_label, status_counts, task_order
from study.records import Status, StudyMeta, best
from study.scales import RECIPE_VERSION

UNKNOWN = "unknown"
LIBRARIES = ("torch", "transformers", "peft", "ray", "optuna")
REPORT_LIBRARIES = ("peft-study", "matplotlib", "pandas", "optuna")  # what the report imports

TASK_ORDER = TASKS
SPLIT_ORDER = ("train", "dev", "test")

Line = tuple[str, str, str]  # (kind: title | heading | item | text, key, value)


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return UNKNOWN


def how_made(data: StudyData, command: str) -> list[Line]:
    made = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    tools = ", ".join(f"{p} {version(p)}" for p in REPORT_LIBRARIES)
    return [
        ("title", "", f"peft-study report: {data.name}"),
        (
            "text",
            "",
            f"Made by `{command}` on {made} with {tools}. The report reads only the stored "
            "results (trials.jsonl, study.json, optuna.journal) of the folders below; "
            "it trains nothing. Reference values: study/reference/paper_tables.csv.",
        ),
    ]


def usage_lines(data: StudyData) -> list[Line]:
    """How many rows were used, per source, and what is missing."""
    rows = data.rows
    counts = status_counts(rows)
    scored = sum(r.scored for r in rows)
    lines: list[Line] = [
        (
            "item",
            "trials used",
            f"{scored} of {len(rows)} rows: {counts['completed']} completed (tables and figures), "
            f"{counts['stopped_early']} stopped early (figures only), {counts['errored']} "
            "errored (counted, not used)",
        )
    ]
    for source in data.sources:
        requested = source.meta.samples if source.meta else None
        partial = ""
        n_train = sum(r.kind != "merge" for r in source.rows)
        if isinstance(requested, int) and n_train < requested:
            partial = f"; partial or still running: {n_train} of {requested} trials written"
        lines.append(
            (
                "item",
                f"source {source.name}",
                f"{source.folder.resolve()}: {len(source.rows)} rows, trials.jsonl sha256 "
                f"{source.trials_sha256[:16]}..., study.json "
                f"{'present' if source.meta else 'absent'}{partial}",
            )
        )
    if data.missing:
        lines.append(("item", "missing studies", ", ".join(data.missing) + " (no results found)"))
    return lines


QUORA_NOTE = (
    "The embedded all-MiniLM-L6-v2 was trained as a mean-pooled sentence encoder, partly on "
    "Quora duplicate questions and other sentence-pair sets: Para and STS start high, and its "
    "scores are not comparable to the paper's bert-base."
)


def selection_lines(rows: list, floors: dict | None) -> list[Line]:
    """The trial each study selected (by validation) with its validation and dev scores side
    by side, and the floors on the same dev rows."""
    lines: list[Line] = [("heading", "", "Selected trial and the no-training floor")]
    by_study: dict[str, list] = {}
    for r in rows:
        by_study.setdefault(str(r.study or "study"), []).append(r)
    for study, group in sorted(by_study.items()):
        chosen = best(group)
        if chosen is None:
            continue
        if chosen.val_overall is not None:
            val = _scores(chosen.val_scores())
        else:
            val = "no validation split"
        text = f"trial {chosen.trial_id} ({_config_text(chosen)}): validation {val}; "
        lines.append(("item", study, text + f"dev {_scores(chosen.scores())}"))
    if floors:
        lines.append(("item", "no training", f"dev {_scores(floors)} (the same dev rows)"))
    else:
        lines.append(("item", "no training", "not recorded (a study made before floors were)"))
    return lines


def _scores(scores: dict) -> str:
    parts = [f"{k} {v:.4f}" for k, v in scores.items() if isinstance(v, int | float)]
    return ", ".join(parts) or UNKNOWN


def _config_text(row) -> str:  # noqa: ANN001
    c = config(row)
    if row.kind == "merge":
        return f"merge {c.get('merge_method')}"
    if c.get("method") == "full":  # r, targets and bias mean nothing when every weight trains
        text = f"full fine-tuning, head design {c.get('head_design')}"
    else:
        text = f"{c.get('method')} r={c.get('r')} {c.get('targets')} bias {c.get('bias')}"
    if mode(row) == "sequential":
        text += f", order {order_label(task_order(row))}"
    return text + f", seed {row.seed}" if row.seed is not None else text


def settings_lines(source: Source) -> list[Line]:
    """The study's settings block (title page), one per source."""
    rows = source.rows
    meta = source.meta or StudyMeta()  # no study.json: what the rows carry, else unknown
    configs = [config(r) for r in rows if r.kind != "merge"]
    lines: list[Line] = [("heading", "", f"Study {source.name}")]
    if meta.description:
        lines.append(("item", "description", meta.description))
    if meta.recipe_version != RECIPE_VERSION:
        earlier = (
            "made by an earlier recipe (no validation split: selection read the dev rows the "
            "tables report; no floors, no seed reruns); read its numbers with that in mind"
        )
        lines.append(("item", "EARLIER RECIPE", earlier))
    else:
        lines.append(("item", "recipe", str(meta.recipe.get("summary", ""))))
    shas = {meta.model_sha256} | {r.model_sha256 for r in rows}
    if EMBEDDED_SHA256 in shas:
        lines.append(("item", "model note", QUORA_NOTE))
    scale = meta.scale or _from_rows({c.get("scale") for c in configs})
    lines.append(("item", "scale", str(scale)))
    samples = UNKNOWN if meta.samples is None else str(meta.samples)
    lines.append(("item", "samples requested", samples))
    embedded = "embedded all-MiniLM-L6-v2"  # an empty model_path means the embedded model
    model = meta.model_path or _from_rows({c.get("model_path") or embedded for c in configs})
    lines.append(("item", "model", str(model)))
    sha = meta.model_sha256 or _from_rows({r.model_sha256 for r in rows})
    lines.append(("item", "model sha256", str(sha)))
    lines.append(("item", "data sizes", _data_sizes(meta.data_sizes, rows, configs)))
    lines.append(("item", "search", _search(meta.search or None)))
    lines.append(("item", "scheduler", _scheduler(source.meta, rows)))
    lines.append(("item", "hardware", _hardware(meta.hardware, rows)))
    if meta.resources:
        res = ", ".join(f"{k} {v}" for k, v in meta.resources.items())
        lines.append(("item", "resources", res))
    lines.append(("item", "wall time", _wall_time(meta.started_at, rows)))
    lines.append(("item", "versions", _versions(meta.versions, rows)))
    return lines


def _from_rows(values: set) -> str:
    values = {v for v in values if v not in (None, "")}
    if not values:
        return UNKNOWN
    return ", ".join(sorted(map(str, values))) + " (from rows)"


def _data_sizes(sizes: dict, rows: list, configs: list[dict]) -> str:
    if isinstance(sizes, dict) and sizes:
        parts = []
        for task in sorted(sizes, key=lambda t: (_rank(TASK_ORDER, t), t)):
            split = sizes[task]
            if isinstance(split, dict):
                names = sorted(split, key=lambda k: (_rank(SPLIT_ORDER, k), k))
                parts.append(f"{task} " + " / ".join(f"{k} {split[k]}" for k in names))
            else:
                parts.append(f"{task} {split}")
        return "; ".join(parts)
    carried = next((r for r in rows if r.train_examples and r.dev_examples), None)
    if carried:
        tasks = carried.train_examples
        return (
            "; ".join(
                f"{t} train {tasks[t]} / dev {carried.dev_examples.get(t, '?')}" for t in tasks
            )
            + " (from a row)"
        )
    if configs:
        train = _from_rows({c.get("train_per_task") for c in configs})
        dev = _from_rows({c.get("dev_per_task") for c in configs})
        return f"per task: train_per_task {train}, dev_per_task {dev} (0 = all)"
    return UNKNOWN


def _search(search: Any) -> str:
    if not isinstance(search, dict):
        return UNKNOWN
    text = f"{search.get('sampler', UNKNOWN)}, seed {search.get('seed', UNKNOWN)}, metric "
    text += f"{_listed(search.get('metric'))} ({_listed(search.get('mode'))})"
    if search.get("points_to_evaluate") is not None:
        text += f", {search['points_to_evaluate']} configurations evaluated first"
    extra = {
        k: v
        for k, v in search.items()
        if k not in ("sampler", "seed", "metric", "mode", "points_to_evaluate")
    }
    return text + "".join(f", {k} {v}" for k, v in extra.items())


def _scheduler(meta: StudyMeta | None, rows: list) -> str:
    if meta is None:
        stopped = sum(r.status is Status.STOPPED_EARLY for r in rows)
        return UNKNOWN + (f" ({stopped} stopped-early rows)" if stopped else "")
    sched = meta.scheduler
    if not sched:
        return "none: every trial runs all its epochs"
    if isinstance(sched, dict):
        rest = ", ".join(f"{k} {v}" for k, v in sched.items() if k != "type")
        return f"{sched.get('type', UNKNOWN)} ({rest})"
    return str(sched)


def _listed(value: Any) -> str:
    """'overall' or ['overall', 'params_pct'] -> 'overall, params_pct'."""
    if value is None:
        return UNKNOWN
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def _hardware(hw: Any, rows: list[dict]) -> str:
    if isinstance(hw, dict) and hw:
        gpus = hw.get("gpus")
        gpu_text = UNKNOWN if gpus is None else (", ".join(map(str, gpus)) or "none")
        text = f"CPU {hw.get('cpu', UNKNOWN)}, {hw.get('cores', UNKNOWN)} cores, GPUs: {gpu_text}"
        rest = {k: v for k, v in hw.items() if k not in ("cpu", "cores", "gpus")}
        return text + "".join(f"; {k} {v}" for k, v in rest.items())
    devices = _from_rows({r.device for r in rows})
    nodes = _from_rows({r.node_id for r in rows})
    return f"{UNKNOWN} (devices: {devices}; nodes: {nodes})"


def _wall_time(started_at: str, rows: list) -> str:
    seconds = [number(r.seconds) for r in rows]
    seconds = [s for s in seconds if s is not None]
    text = (
        f"{format_duration(sum(seconds))} summed over {len(seconds)} trials" if seconds else UNKNOWN
    )
    finished = sorted(str(r.finished_at) for r in rows if r.finished_at)
    if started_at and finished:
        text += f"; started {started_at}, last row {finished[-1]}"
    return text


def _versions(versions: Any, rows: list[dict]) -> str:
    versions = dict(versions) if isinstance(versions, dict) else {}
    names = list(LIBRARIES) + sorted(set(versions) - set(LIBRARIES))
    return ", ".join(f"{n} {versions.get(n) or UNKNOWN}" for n in names)


def _rank(order: tuple[str, ...], item: str) -> int:
    return order.index(item) if item in order else len(order)
