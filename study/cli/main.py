"""`python -m study list | train | params | run | baseline | report | predict | show | status |
export | bench`: this module only wires (the arguments: study/cli/parser.py).

The arguments become a typed options dataclass (study/options.py) before anything else sees
them. Every user error ends as one line on stderr and exit code 2, before any training starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import warnings
from pathlib import Path

from study.atomic import write_text
from study.cli.parser import COMMANDS as COMMAND_OPTIONS
from study.cli.parser import build_parser
from study.errors import USER_ERRORS, UserError
from study.metrics import METRICS

EXIT_USAGE = 2


def options_from(args: argparse.Namespace):  # noqa: ANN201 - an options dataclass
    """The command's options dataclass (the parser's COMMANDS table) filled from parsed
    arguments (lists become tuples)."""
    cls = COMMAND_OPTIONS[args.command][0]
    values = {}
    for f in dataclasses.fields(cls):
        if hasattr(args, f.name):
            value = getattr(args, f.name)
            values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def cmd_list(args: argparse.Namespace) -> int:
    from search_spaces import load_study, study_names

    print(f"{'study':<16} {'smoke':>5} {'cpu':>5} {'paper':>6}  description")
    for name in study_names():
        spec = load_study(name)
        counts = [str(spec.samples.get(s, "-")) for s in ("smoke", "cpu", "paper")]
        print(f"{name:<16} {counts[0]:>5} {counts[1]:>5} {counts[2]:>6}  {spec.description}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from study.plan import base_config
    from study.preflight import check_output_dir, preflight

    options = options_from(args)
    config = base_config(options)
    preflight(config)
    default_out = f"runs/train/{time.strftime('%Y%m%d-%H%M%S')}-{config.method}"
    out = Path(check_output_dir(options.out or default_out, "run folder"))
    from study.train.run import run_trial  # torch loads only after every check passed

    print(
        f"training {config.method} ({config.mode}, scale {config.scale}) -> {out}", file=sys.stderr
    )
    record = run_trial(config, report=None, run_dir=out, progress=True)
    write_text(out / "metrics.json", record.to_json())
    keys = (*METRICS, "params_pct", "adapter_pct", "seconds")
    keys += ("precision", "adapter_dir")
    print(json.dumps({k: getattr(record, k) for k in keys}))
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    from study.plan import base_config
    from study.preflight import preflight

    config = base_config(options_from(args))
    preflight(config)
    from model.param_count import count_parameters  # torch loads only after every check passed

    counts = count_parameters(config.model_spec(), config.model_path)
    trainable, base = int(counts["trainable_params"]), int(counts["base_params"])
    # peft's print_trainable_parameters line: all = the frozen encoder plus what trains
    print(
        f"trainable params: {trainable:,} || all params: {base + trainable:,} || "
        f"trainable%: {100 * trainable / (base + trainable):.4f}"
    )
    rounded = {k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in counts.items()}
    print(json.dumps({"method": config.method, "r": config.r, "targets": config.targets} | rounded))
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from study.plan import baseline_config
    from study.preflight import preflight

    options = options_from(args)
    config = baseline_config(options)
    preflight(config)
    from study.train.baseline import baseline, calibrate  # torch loads only after the checks

    where = f"the {config.scale} scale's dev subsample" if options.scale else "the whole dev files"
    print(f"no-training floors on {where} (computed once, then cached)", file=sys.stderr)
    floors = baseline(config)
    fit = calibrate(config)
    rows = ", ".join(f"{t} {n}" for t, n in floors.dev_rows.items())
    print(f"dev rows: {rows}")
    print(f"sst {floors.sst:.4f}: the majority class ({floors.majority_class}) of sst-train.csv")
    print(
        f"para {floors.para:.4f}: cosine of mean-pooled embeddings > {fit.para_threshold:.4f}, the "
        f"threshold chosen on {config.train_per_task or 'all'} training pairs"
    )
    print(f"sts {floors.sts:.4f}: Pearson r of that cosine")
    print(f"overall {floors.overall:.4f}")
    print(json.dumps(floors.scores()))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from study.cli.summary import print_summary
    from study.plan import make_plans

    options = options_from(args)
    plans = make_plans(options)  # every check, before Ray starts
    if options.dry_run:
        from study.cli.dry_run import plan_text

        print("\n\n".join(plan_text(plan) for plan in plans))
        return 0
    if any(plan.address for plan in plans):
        # Joining a cluster: keep Ray's token auth on. Ray reads this when it is first imported.
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    from study.tuning.execute import run_study  # Ray and Optuna are imported only now

    empty = []
    for plan in plans:
        if len(plans) > 1:
            print(f"== {args.study}: study {plan.spec.name} -> {plan.study_dir}", file=sys.stderr)
        then = None
        if plan.decide:
            from study.decide.phase import decide_phase

            then = decide_phase
        run_study(plan, then)
        if not print_summary(plan):
            empty.append(plan)
    for plan in empty:  # never exit 0 having run nothing
        why = " (every proposal was outside --max-params-pct)" if plan.max_params_pct else ""
        print(
            f"error: study {plan.spec.name} ran no trial{why}; its folder is {plan.study_dir}",
            file=sys.stderr,
        )
    return EXIT_USAGE if empty else 0


def cmd_report(args: argparse.Namespace) -> int:
    from reports.cli import run

    return run(options_from(args))


def cmd_predict(args: argparse.Namespace) -> int:
    from study.predict import run

    return run(options_from(args))


def cmd_show(args: argparse.Namespace) -> int:
    from study.study_files import load_spec, show

    print(show(load_spec(options_from(args).study)), end="")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from study.status import status_text

    options = options_from(args)
    if options.top_k < 1:
        raise UserError(f"--top-k={options.top_k} is invalid: must be an integer >= 1")
    print(status_text(options.target, options.top_k))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from study.atomic import atomic_file
    from study.records.frame import load_trials, study_folder

    options = options_from(args)
    if not options.csv and not options.hub:
        raise UserError("export: say what to write: --csv FILE and/or --hub DIR")
    if options.hub:
        from study.hub.export import export_hub

        for folder in export_hub(options.target, options.hub):
            print(f"wrote {folder}")
        if not options.csv:
            return 0
    folder = study_folder(options.target)
    table = load_trials(folder)
    with atomic_file(options.csv, "w") as fh:
        table.to_csv(fh, index=False)
    print(f"{len(table)} trials x {len(table.columns)} columns from {folder} -> {options.csv}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from study.bench.main import run

    return run(options_from(args))


COMMANDS = {
    "list": cmd_list,
    "train": cmd_train,
    "run": cmd_run,
    "params": cmd_params,
    "baseline": cmd_baseline,
    "report": cmd_report,
    "predict": cmd_predict,
    "show": cmd_show,
    "status": cmd_status,
    "export": cmd_export,
    "bench": cmd_bench,
}


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = lambda msg, cat, *a, **k: f"warning: {msg}\n"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
