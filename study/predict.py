"""`python -m study predict TARGET`: leaderboard-format predictions from a saved trial.

TARGET is a run folder (config.json, meta.json, checkpoint/), a study folder (trials.jsonl), or
a study name, read as the folder runs/NAME under the current directory; a study means its best
completed trial. Only what the trial saved is loaded (study.train.checkpoint.load_trial: config,
adapters, heads, a merge recipe if any). No Ray, no Optuna.

Output, one file per task in the minBERT leaderboard layout (the header spelling is theirs):
    sst-{split}-output.csv   "id \\t Predicted_Sentiment \\n"     then "{id} , {0..4} \\n"
    para-{split}-output.csv  "id \\t Predicted_Is_Paraphrase \\n" then "{id} , {0|1} \\n"
    sts-{split}-output.csv   "id \\t Predicted_Similiarity \\n"   then "{id} , {0..5} \\n"
Each file holds every row of the split's file, in file order. On dev the printed scores come
from the trial's own dev subsample (dev_per_task, data_seed), evaluated the way run_trial
evaluated it, so they equal the recorded ones; the scores of the written whole-file predictions
are printed beside them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from study.atomic import write_text
from study.config import TASKS
from study.errors import DataError, UserError
from study.metrics import METRICS, overall_of, task_score
from study.options import PredictOptions
from study.records import TRIALS, TrialRecord, best, read_records

SPLITS = ("dev", "test")
HEADERS = {
    "sst": "Predicted_Sentiment",
    "para": "Predicted_Is_Paraphrase",
    "sts": "Predicted_Similiarity",  # sic: the leaderboard's spelling
}
DEFAULT_STUDIES = Path("runs")


def run(options: PredictOptions) -> int:
    """The CLI entry: resolve the target, load it, predict, write, print; returns 0."""
    if options.split not in SPLITS:
        raise UserError(
            f"--split {options.split!r} is invalid: must be one of {' | '.join(SPLITS)}"
        )
    run_dir, row = resolve_target(options.target)
    out_dir = Path(options.out).expanduser() if options.out else run_dir / "predictions"
    summary = predict_trial(run_dir, options.split, options.data_dir, out_dir, row)
    print(json.dumps(summary, sort_keys=True))
    return 0


def load_run(run_dir: Path):  # noqa: ANN201 - (TrialConfig, MultiTaskBert)
    """A trained or merged trial's config and model, in eval mode."""
    from study.merge.recipe import RECIPE, load_merge_run
    from study.train.checkpoint import load_trial

    if (run_dir / RECIPE).is_file():
        config, model = load_merge_run(run_dir)
        return config, model.eval()
    return load_trial(run_dir)


def resolve_target(target: str) -> tuple[Path, TrialRecord | None]:
    """(run folder, the study's trials.jsonl row or None) for a run folder, study folder or name."""
    path = Path(target).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return path, None
    if path.is_dir() and (path / TRIALS).is_file():
        return best_trial(path)
    if path.is_dir():
        raise UserError(
            f"{path} is not a trial folder (no config.json) nor a study folder (no trials.jsonl)"
        )
    if path.exists():
        raise UserError(f"{path} is a file; pass a trial's run folder, a study folder or a name")
    if len(path.parts) != 1 or path.suffix:
        raise UserError(f"{target}: no such folder; pass a trial's run folder or a study name")
    study_dir = DEFAULT_STUDIES / target
    if not (study_dir / TRIALS).is_file():
        raise UserError(
            f"unknown study {target!r}: no {study_dir}/trials.jsonl under {Path.cwd()} "
            f"(run `python -m study run {target}` first, or pass a run folder)"
        )
    return best_trial(study_dir)


def best_trial(study_dir: Path) -> tuple[Path, TrialRecord]:
    """The study's best trial (study/records/select.py: the best configuration by mean
    validation score over its seeds, then its best seed) and its run folder."""
    row = best(read_records(study_dir))
    if row is None:
        raise UserError(f"study folder {study_dir} has no completed trial with a saved checkpoint")
    if not row.adapter_dir:
        raise UserError(
            f"best trial {row.trial_id} of {study_dir} has no saved checkpoint "
            "(adapter_dir is empty in trials.jsonl); rerun the study with --resume"
        )
    run_dir = Path(row.adapter_dir).expanduser()
    if not run_dir.is_absolute() and not run_dir.is_dir():
        run_dir = study_dir / run_dir  # a relative adapter_dir is read from the study folder
    if not run_dir.is_dir():
        raise UserError(
            f"best trial {row.trial_id} of {study_dir}: its run folder {run_dir} is missing"
        )
    return run_dir, row


def predict_trial(
    run_dir: Path,
    split: str,
    data_dir: str,
    out_dir: Path,
    row: TrialRecord | None = None,
) -> dict[str, Any]:
    """Load the trial, write the output files, print what was done; return a summary dict."""
    from model.accel import accelerate
    from model.encoder import load_tokenizer, weights_sha256
    from study.data.files import FILE_NAMES, resolve_data_dir
    from study.train.checkpoint import read_meta
    from study.train.device import autocast, pick_device, resolve_precision, set_threads

    config, model = load_run(run_dir)
    meta = read_meta(run_dir)
    if data_dir:
        config = config.replace(data_dir=str(Path(data_dir).expanduser().resolve()))
    folder = resolve_data_dir(config.data_dir)
    set_threads(config.threads)
    device = pick_device()
    # The precision the trial ran with, when recorded; else the config resolved as it would be.
    recorded_precision = meta.get("precision") or (row.precision if row else None)
    precision = recorded_precision or resolve_precision(config.precision, device)
    ac = autocast(precision, device)
    model.to(device)
    if config.accelerate:  # the numerics of the trial's own evaluation
        accelerate(model, device, precision)
    tokenizer = load_tokenizer(config.model_path)
    model_sha = weights_sha256(config.model_path)
    chosen = "" if row is None else f" (best trial {row.trial_id} of its study)"
    print(f"trial {run_dir}{chosen}: {config.method}, {config.mode}, scale {config.scale}")
    print(f"data {folder}; {precision} on {device.type}")
    _check_recorded_runtime(meta, precision, device.type)

    tasks = [t for t in TASKS if (folder / FILE_NAMES[t, split]).is_file() or split == "dev"]
    skipped = [t for t in TASKS if t not in tasks]
    for task in skipped:
        print(
            f"note: {task} skipped: no {FILE_NAMES[task, split]} in {folder}",
            file=sys.stderr,
        )
    if not tasks:
        raise DataError(f"no {split} files in {folder}; expected {FILE_NAMES['sst', split]} etc.")

    summary: dict[str, Any] = {
        "run_dir": str(run_dir),
        "split": split,
        "out": str(out_dir),
        "skipped": skipped,
        "precision": precision,
        "device": device.type,
    }
    sub_preds: dict[str, tuple[list[str], np.ndarray]] = {}
    if split == "dev":
        scored, sub_preds = _dev_subsample(model, config, tokenizer, model_sha, ac, meta, row)
        summary.update(scored)

    files, full_scores, n_rows = {}, {}, {}
    for task in tasks:
        ids, preds, labels = _predict_file(
            model, config, task, split, tokenizer, ac, sub_preds.get(task)
        )
        files[task] = str(write_output(out_dir, task, split, ids, preds))
        n_rows[task] = len(ids)
        print(f"{task}: wrote {len(ids)} rows -> {files[task]}")
        if labels is not None:
            full_scores[task] = task_score(task, preds, labels)
    summary["files"] = files
    if split == "dev":
        full_scores["overall"] = overall_of(full_scores)
        summary["dev_full"] = full_scores
        rows = ", ".join(f"{t} {n} rows" for t, n in n_rows.items())
        print(f"whole dev files ({rows}; the written predictions): {_scores_text(full_scores)}")
    return summary


def _dev_subsample(model, config, tokenizer, model_sha, ac, meta, row):  # noqa: ANN001, ANN202
    """Scores on the trial's own dev subsample, computed as run_trial computed them, and the
    subsample's (ids, predictions) per task."""
    from study.data.splits import task_data
    from study.train.evaluate import predict

    dev = task_data(config, "dev", tokenizer, model_sha)
    preds = {task: predict(model, enc, autocast=ac) for task, enc in dev.items()}
    scores = {task: task_score(task, preds[task], dev[task].labels) for task in TASKS}
    scores["overall"] = overall_of(scores)
    rows = {task: len(enc) for task, enc in dev.items()}
    print(
        f"dev scores on the trial's own dev subsample (dev_per_task={config.dev_per_task}, "
        f"data_seed={config.data_seed}: {', '.join(f'{t} {n} rows' for t, n in rows.items())}); "
        "computed as the trial computed its recorded metrics; the written files below hold "
        "every row of the dev files:"
    )
    print(f"  {_scores_text(scores)}")
    saved = meta.get("dev") or {}
    recorded = {k: saved.get(k) for k in METRICS} if saved else None
    matches = recorded == scores
    if recorded is None:
        print("  recorded: none (meta.json has no dev metrics)")
    else:
        print(f"  recorded (meta.json): {'identical' if matches else _scores_text(recorded)}")
    if row is not None:
        row_scores = row.scores()
        row_match = row_scores == scores
        matches = matches and row_match
        print(
            f"  recorded (trials.jsonl): {'identical' if row_match else _scores_text(row_scores)}"
        )
    if recorded is not None and not matches:
        print(
            "warning: dev scores differ from the recorded ones (see the lines above)",
            file=sys.stderr,
        )
    scored = {
        "dev_subsample": scores,
        "dev_subsample_rows": rows,
        "recorded": recorded,
        "matches_recorded": matches if recorded is not None else None,
    }
    return scored, {t: (dev[t].row_ids, preds[t]) for t in TASKS}


def _predict_file(model, config, task, split, tokenizer, ac, known):  # noqa: ANN001, ANN202
    """(ids, predictions, labels or None) for every row of the task's file, in file order."""
    from study.data.batching import encode
    from study.data.files import load_split
    from study.train.evaluate import predict

    data = load_split(task, split, config.data_dir)
    if known is not None and known[0] == data.ids:  # the subsample was the whole file
        return data.ids, known[1], data.labels
    print(f"predicting {task} {split}: {len(data)} rows", file=sys.stderr, flush=True)
    enc = encode(data, tokenizer, config.max_len, joint=config.head_design == 3)
    return data.ids, predict(model, enc, autocast=ac), data.labels


def write_output(out_dir: Path, task: str, split: str, ids: list[str], preds: np.ndarray) -> Path:
    """Write {task}-{split}-output.csv in the leaderboard layout (whole or absent)."""
    path = Path(out_dir) / f"{task}-{split}-output.csv"
    lines = [f"id \t {HEADERS[task]} \n"]
    for row_id, value in zip(ids, preds, strict=True):
        text = repr(float(value)) if task == "sts" else str(int(value))
        lines.append(f"{row_id} , {text} \n")
    return write_text(path, "".join(lines))


def _scores_text(scores: dict[str, Any]) -> str:
    """Every digit (repr), so equality with the recorded numbers can be read off."""
    return "  ".join(f"{k} {scores.get(k)!r}" for k in METRICS if k in scores)


def _check_recorded_runtime(meta: dict[str, Any], precision: str, device: str) -> None:
    """Recorded numbers are reproducible only on the device kind they were made on."""
    saved = meta.get("device")
    if saved and saved != device:
        print(
            f"note: the trial ran on {saved}, this is {device}; dev scores may differ slightly",
            file=sys.stderr,
        )
