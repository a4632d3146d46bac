"""The command line's arguments: one parser per command, built from study/options.py's
dataclasses (each field one flag, its default and docstring the help); each error one line."""

from __future__ import annotations

import argparse
import dataclasses
import typing

from study.errors import UserError
from study.options import (
    BaselineOptions,
    BenchOptions,
    ExportOptions,
    PredictOptions,
    ReportOptions,
    RunOptions,
    ShowOptions,
    StatusOptions,
    TrainOptions,
    TrialOptions,
    field_docs,
)

DESCRIPTION = (
    "Hyperparameter studies of parameter-efficient fine-tuning for a multi-task BERT "
    "(SST, Quora, STS). Start with `list`, then `run lora_sweep`."
)
# command -> (its options class or None, one-line help, description)
COMMANDS: dict[str, tuple[type | None, str, str]] = {
    "list": (None, "list the named studies with their trial counts per scale", ""),
    "train": (
        TrainOptions,
        "train and evaluate one trial in-process (no Ray)",
        "Train one config and print its dev metrics as a JSON line.",
    ),
    "run": (
        RunOptions,
        "run a named study on Ray Tune + Optuna",
        "Run a named study: Ray Tune schedules, Optuna proposes, ASHA stops early.",
    ),
    "params": (
        TrialOptions,
        "the exact parameter counts of one config, without training it",
        "Count a config's trainable parameters on the meta device (no weights are loaded or "
        "trained) and print them as one JSON line.",
    ),
    "baseline": (
        BaselineOptions,
        "the no-training floors (majority class, cosine of mean-pooled embeddings)",
        "Print what the untrained model scores: SST's majority class, Para's cosine threshold "
        "(chosen on training rows) and STS's cosine, on the whole dev files or a scale's dev "
        "subsample. The last line is one JSON object.",
    ),
    "report": (
        ReportOptions,
        "build the PDF report of a study folder (no Ray, no training)",
        "Regenerate the paper's tables and figures from a study's trials.jsonl.",
    ),
    "predict": (
        PredictOptions,
        "write leaderboard-format predictions from a trained trial",
        "Predict with a trial's saved adapters and heads (no Ray, no Optuna).",
    ),
    "show": (
        ShowOptions,
        "print a study as a study file (YAML), to copy and edit",
        "Print a built-in study (or a checked study file) in the format `run FILE` reads: "
        "`python -m study show lora_sweep > mine.yaml`, edit it, `python -m study run "
        "mine.yaml`.",
    ),
    "status": (
        StatusOptions,
        "where a study stands: counts, running trials, the best, what is left",
        "Read a study folder (during a study, after a crash, or a copy) and print its counts "
        "by status, the trials running and for how long, the top configurations by validation "
        "with their dev scores and seeds, the floors and what is left to run.",
    ),
    "export": (
        ExportOptions,
        "a study's trials as a flat table (CSV), or a trial as Hub-ready folders",
        "One row per trial of trials.jsonl, flattened (config.*, params.*, the dev and "
        "validation scores, seconds, memory, status, phase): the table `from study import "
        "load_trials` returns.",
    ),
    "bench": (
        BenchOptions,
        "measure where a trial's time goes (prints ratios, writes JSON)",
        "",
    ),
}


def version() -> str:
    """The installed distribution's version (pyproject.toml's, once installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("peft-study")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option as one line (not usage + error)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message} (see --help)")


def add_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """One argument per field of the options dataclass `cls`: positional fields first, in
    order; --name-with-dashes for the rest, typed by the field's annotation."""
    hints, docs = typing.get_type_hints(cls), field_docs(cls)
    fields = dataclasses.fields(cls)
    ordered = [f for f in fields if f.metadata.get("positional")]
    ordered += [f for f in fields if not f.metadata.get("positional")]
    for f in ordered:
        help_text = docs.get(f.name, "").replace("%", "%%")  # argparse formats help with %
        if f.metadata.get("positional"):
            parser.add_argument(f.name, help=help_text)
            continue
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        kwargs: dict = {"dest": f.name, "help": help_text}
        if f.metadata.get("metavar"):
            kwargs["metavar"] = f.metadata["metavar"]
        hint = hints[f.name]
        if hint is bool:
            parser.add_argument(flag, action="store_true", default=f.default, **kwargs)
        elif typing.get_origin(hint) is tuple:
            parser.add_argument(flag, action="append", default=[], **kwargs)
        else:
            kind = next(t for t in (typing.get_args(hint) or (hint,)) if t is not type(None))
            parser.add_argument(flag, type=kind, default=f.default, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m study", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"peft-study {version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (cls, help_text, description) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=description or None)
        if cls is not None:
            add_options(p, cls)
    return parser
