"""Stage 2 of the merge study: a pure trial that combines saved adapters and scores dev.

run_merge_trial(params, stage1, base, report, run_dir) trains nothing: it reads the stage-1
adapters (stage1.py), builds the merged or EoE model (model/merging/saved.py), evaluates it on dev
and reports one final TrialRecord. Its run folder is described in recipe.py.

params: merge_method (model.merging.methods.MERGE_METHODS), lambda_sst, lambda_para, lambda_sts, and
density (ties, dare, dare_ties); a seed rerun's also seed, the stage-1 seed whose adapters it
merges (else the first seed's). orthoada uses the orthogonal stage-1 set, the rest the
standard one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from model.accel import accelerate
from model.encoder import load_tokenizer, weights_sha256
from model.errors import ModelConfigError
from model.merging.methods import check_density, check_lambdas, check_method
from study.config import TASKS, TrialConfig
from study.data.splits import task_data
from study.errors import ConfigError
from study.merge.recipe import build_from_recipe, make_recipe, save_merge_run
from study.merge.stage1 import first_difference, read_stage1_config, read_summary, stage1_config
from study.records import COUNTS, EpochScores, MergeInfo, TrialRecord
from study.train.device import autocast, gpu_name, pick_device, resolve_precision, set_threads
from study.train.evaluate import evaluate
from study.train.stats import RunStats

Report = Callable[[TrialRecord], None]
LAMBDA_KEYS = tuple(f"lambda_{t}" for t in TASKS)
PARAM_KEYS = ("merge_method", *LAMBDA_KEYS, "density")


def merge_params(params: dict[str, Any]) -> tuple[str, list[float], float | None]:
    """(method, [λ_sst, λ_para, λ_sts], density or None) from a trial's params."""
    unknown = sorted(set(params) - set(PARAM_KEYS))
    if unknown:
        raise ConfigError(f"unknown merge parameter {unknown[0]!r}; known: {', '.join(PARAM_KEYS)}")
    missing = [k for k in ("merge_method", *LAMBDA_KEYS) if k not in params]
    if missing:
        raise ConfigError(
            f"merge parameter {missing[0]!r} is missing; need {', '.join(PARAM_KEYS)}"
        )
    try:
        method = check_method(params["merge_method"])
        lambdas = check_lambdas([params[k] for k in LAMBDA_KEYS], len(TASKS))
        return method, lambdas, check_density(method, params.get("density"))
    except ModelConfigError as err:  # a study's own input: the one-line config error
        raise ConfigError(str(err)) from None


def stage1_dir(stage1: dict[str, Any], method: str, seed: int | None = None) -> Path:
    """The stage-1 run folder a method merges: orthoada the orthogonal set, others standard;
    of seed `seed` (None: the first seed's, where the search over λ runs)."""
    name = "orthogonal" if method == "orthoada" else "standard"
    sets = stage1 if seed is None else (stage1.get("seeds") or {}).get(str(seed))
    if not sets or not sets.get(name):
        which = f"{name} adapter set" + ("" if seed is None else f" of seed {seed}")
        raise ConfigError(f"stage 1 has no {which}; run prepare_task_adapters first")
    return Path(sets[name]).resolve()


def run_merge_trial(
    params: dict[str, Any],
    stage1: dict[str, Any],
    base: TrialConfig,
    report: Report | None = None,
    run_dir: str | Path | None = None,
) -> TrialRecord:
    """Merge, evaluate on dev, report once (final=True) and return the record."""
    stats = RunStats.start(("setup", "eval", "save"))
    params = dict(params)
    seed = params.pop("seed", None)  # a seed rerun: the same merge of another seed's adapters
    method, lambdas, density = merge_params(params)
    set_threads(base.threads)
    source = stage1_dir(stage1, method, None if seed is None else int(seed))
    summary = read_summary(source)
    recipe = make_recipe(method, lambdas, density, source)
    config = read_stage1_config(source)
    expected = base if seed is None else base.replace(seed=int(seed))
    wanted = stage1_config(expected, config.orthogonal)
    differs = first_difference(config.to_dict(), wanted)
    if differs is not None:
        raise ConfigError(
            f"the stage-1 adapters in {source} were trained with another config ({differs}); "
            "run prepare_task_adapters with this base first"
        )
    model = build_from_recipe(config, recipe, recipe["heads"])
    device = pick_device()
    precision = resolve_precision(config.precision, device)
    model = model.to(device)
    if config.accelerate:  # evaluate with the numerics the stage-1 trials had
        accelerate(model, device, precision)
    stats.mark_setup()
    with stats.phase("eval"):  # the data's tokens included, as before
        model_sha = weights_sha256(config.model_path)
        tokenizer, ac = load_tokenizer(config.model_path), autocast(precision, device)
        checked = {}
        if config.val_per_task:  # what the search over λ selects on: never dev
            val = task_data(config, "val", tokenizer, model_sha)
            checked = {f"val_{k}": v for k, v in evaluate(model, val, autocast=ac).items()}
        dev = task_data(config, "dev", tokenizer, model_sha)
        scores = evaluate(model, dev, autocast=ac)
    if run_dir is not None:
        with stats.phase("save"):
            save_merge_run(run_dir, config, recipe, scores)
    record = TrialRecord(
        kind="merge",
        config=config.to_dict(),
        **scores,
        **checked,
        **_counts(summary, method),
        history=(EpochScores(1, **scores, **checked),),
        epochs_run=1,
        final=True,
        precision=precision,
        device=device.type,
        gpu=gpu_name(device),
        model_sha256=model_sha,
        trained_params=tuple(summary.get("trained_params") or ()),
        train_examples=summary.get("train_examples") or {},
        dev_examples={t: len(e) for t, e in dev.items()},
        adapter_dir=str(Path(run_dir).resolve()) if run_dir is not None else None,
        merge=MergeInfo(
            method=method,
            lambdas=recipe["lambdas"],
            weights=recipe["weights"],
            density=density,
            stage1_dir=str(source),
            residual_overlap=summary.get("residual_overlap"),
        ),
        **stats.fields(),
    )
    if report is not None:
        report(record)
    return record


def _counts(summary: dict[str, Any], method: str) -> dict[str, Any]:
    """Stage-1 parameter counts. A merge keeps one adapter's worth (params_pct = one task's
    share, as Table 3 counts AvgFed); EoE keeps every adapter, so it counts all of them."""
    counts = {k: summary[k] for k in COUNTS if summary.get(k) is not None}
    if method == "eoe":
        counts["params_pct"] = counts["params_total_pct"]
        counts["adapter_pct"] = counts["adapter_pct"] * len(TASKS)
        counts["adapter_params"] = counts["adapter_params"] * len(TASKS)
    return counts
