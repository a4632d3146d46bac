"""The command line's arguments: one parser per command, each error one line."""

from __future__ import annotations

import argparse

from study.errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option as one line (not usage + error)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message} (see --help)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", default="cpu", help="smoke | cpu | paper (default: cpu)")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set r=64 --set targets=all_linear (repeatable)",
    )
    p.add_argument(
        "--model-path",
        default="",
        metavar="DIR",
        help="local BERT folder (default: $PEFT_STUDY_MODEL_PATH or the embedded all-MiniLM-L6-v2)",
    )
    p.add_argument(
        "--data-dir",
        default="",
        metavar="DIR",
        help="folder with the minBERT-layout files (default: $PEFT_STUDY_DATA_DIR or data/)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m study",
        description=(
            "Hyperparameter studies of parameter-efficient fine-tuning for a multi-task BERT "
            "(SST, Quora, STS). Start with `list`, then `run lora_sweep`."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("list", help="list the named studies with their trial counts per scale")

    p = sub.add_parser(
        "train",
        help="train and evaluate one trial in-process (no Ray)",
        description="Train one config and print its dev metrics as a JSON line.",
    )
    _common(p)
    p.add_argument(
        "--out", default="", metavar="DIR", help="run folder (default: runs/train/<time>)"
    )

    p = sub.add_parser(
        "run",
        help="run a named study on Ray Tune + Optuna",
        description="Run a named study: Ray Tune schedules, Optuna proposes, ASHA stops early.",
    )
    p.add_argument("study", help="study name (see `list`)")
    _common(p)
    p.add_argument(
        "--samples",
        type=int,
        default=None,
        help="number of trials (default: the study's for the scale)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="runs per chosen configuration, the paper rows and the --top-k best (default: the "
        "study's for the scale, 3 at the cpu scale); the search's own run counts as one",
    )
    p.add_argument(
        "--top-k",
        type=int,
        default=None,
        help="best search configurations that get seed reruns besides the paper rows (default 2)",
    )
    p.add_argument(
        "--cpus-per-trial",
        type=float,
        default=None,
        help="CPUs per trial (default: all CPUs / max-concurrent)",
    )
    p.add_argument(
        "--gpus-per-trial",
        type=float,
        default=0.0,
        help="GPUs per trial, fractions allowed (e.g. 0.25)",
    )
    p.add_argument(
        "--max-concurrent", type=int, default=None, help="trials at once (default: 1 on CPU)"
    )
    p.add_argument(
        "--address", default="", help="join a Ray cluster: auto | HOST:PORT | ray://HOST:PORT"
    )
    p.add_argument(
        "--fresh-workers",
        action="store_true",
        help="start a new worker process per trial, named after its trial in the dashboard "
        "(default: a worker runs trial after trial, which saves its start-up per trial)",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue an interrupted study in the same folder"
    )
    p.add_argument("--out", default="", metavar="DIR", help="study folder (default: runs/NAME)")
    p.add_argument(
        "--storage",
        default="",
        metavar="URI",
        help="Ray experiment storage: a folder or a pyarrow URI such as s3://bucket/path (default: OUT/ray)",
    )
    p.add_argument(
        "--objectives",
        default="overall",
        help="overall | overall,params_pct (multi-objective, no ASHA)",
    )
    p.add_argument(
        "--max-params-pct",
        type=float,
        default=None,
        metavar="P",
        help="a parameter budget: proposals above P%% params_pct are pruned before they run",
    )
    p.add_argument(
        "--dashboard-host",
        default="127.0.0.1",
        help="dashboard bind address for a local Ray (default 127.0.0.1)",
    )
    p.add_argument(
        "--dashboard-port",
        type=int,
        default=None,
        help="dashboard port for a local Ray (default 8265, or a free port when it is taken)",
    )

    p = sub.add_parser(
        "params",
        help="the exact parameter counts of one config, without training it",
        description="Count a config's trainable parameters on the meta device (no weights are "
        "loaded or trained) and print them as one JSON line.",
    )
    _common(p)

    p = sub.add_parser(
        "baseline",
        help="the no-training floors (majority class, cosine of mean-pooled embeddings)",
        description="Print what the untrained model scores: SST's majority class, Para's "
        "cosine threshold (chosen on training rows) and STS's cosine, on the whole dev files or "
        "a scale's dev subsample. The last line is one JSON object.",
    )
    p.add_argument(
        "--scale", default="", help="smoke | cpu | paper: that scale's dev subsample (default: all)"
    )
    p.add_argument("--model-path", default="", metavar="DIR", help="local BERT folder")
    p.add_argument("--data-dir", default="", metavar="DIR", help="the minBERT-layout files")

    p = sub.add_parser(
        "report",
        help="build the PDF report of a study folder (no Ray, no training)",
        description="Regenerate the paper's tables and figures from a study's trials.jsonl.",
    )
    p.add_argument("study", help="study name (reads runs/NAME) or 'paper' for the combined report")
    p.add_argument("--out", default="", metavar="DIR", help="study folder (default: runs/NAME)")

    p = sub.add_parser(
        "predict",
        help="write leaderboard-format predictions from a trained trial",
        description="Predict with a trial's saved adapters and heads (no Ray, no Optuna).",
    )
    p.add_argument(
        "target", help="a trial's run folder, or a study name (its best completed trial)"
    )
    p.add_argument("--split", default="dev", help="dev | test (default: dev)")
    p.add_argument(
        "--data-dir", default="", metavar="DIR", help="folder with the minBERT-layout files"
    )
    p.add_argument(
        "--out",
        default="",
        metavar="DIR",
        help="where the *-output.csv files go (default: TARGET/predictions)",
    )

    p = sub.add_parser(
        "bench", help="measure where a trial's time goes (prints ratios, writes JSON)"
    )
    p.add_argument("--json", default="", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--quick", action="store_true", help="fewer steps and no Ray/Trainer runs")
    p.add_argument(
        "--asha",
        default="",
        metavar="STUDY_DIR",
        help="only report what ASHA early stopping saved in a finished study folder",
    )
    return parser
