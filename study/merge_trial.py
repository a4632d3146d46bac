"""Stage 2 of the merge study: a pure trial that combines saved adapters and scores dev.

run_merge_trial(params, stage1, base, report, run_dir) trains nothing: it reads the stage-1
adapters (study/merge_stage1.py), builds the merged or EoE model (model/merged_model.py),
evaluates it on dev and reports once (final=True) with run_trial's metric keys.

params: merge_method (model.merge.MERGE_METHODS), lambda_sst, lambda_para, lambda_sts, and
density (ties, dare, dare_ties). orthoada uses the orthogonal stage-1 set, the rest the
standard one.

A merge trial's run folder (written when run_dir is given), loadable by
model.checkpoint.load_trial (it sees merge.json and calls model.merge.load_merged) or by
load_merge_run here:
    config.json                    the stage-1 TrialConfig (heads, pooling, data sizes, model)
    meta.json                      model_sha256, dev metrics, library versions
    checkpoint/heads.safetensors   a copy of the stage-1 heads
    merge.json                     the recipe:
        format        "peft-study-merge/1"
        method        merge_method
        lambdas       {task: λ}  as sampled
        weights       {task: w}  what multiplies each ΔW (fedavg: λ / Σλ; eoe: λ per expert)
        density       float or null (ties, dare, dare_ties)
        seed          seed of DARE's random drops (the stage-1 config's seed)
        stage1_dir    absolute stage-1 run folder
        adapters      {task: absolute peft adapter folder in stage1_dir} (referenced, not copied)
        heads         absolute heads.safetensors of the stage-1 run
        model_sha256  sha256 of the base model weights the adapters were trained on
        dev           {sst, para, sts, overall} of this merge
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from model.autocast_inputs import keep_activations_in_autocast_dtype
from model.checkpoint import library_versions
from model.encoder import load_tokenizer, weights_sha256
from model.merge import check_density, check_lambdas, check_method, method_weights
from model.merged_model import build_from_recipe, load_merged
from model.multitask import MultiTaskBert
from study.config import TASKS, TrialConfig
from study.dataset import task_data
from study.errors import ConfigError, UserError
from study.evaluate import evaluate
from study.hardware import (
    autocast,
    gpu_name,
    pick_device,
    resolve_precision,
    set_threads,
    thread_nice,
)
from study.memory import peak_gpu_mb, peak_rss_mb, start_trial_memory
from study.merge_stage1 import (
    adapter_path,
    first_difference,
    heads_path,
    read_stage1_config,
    read_summary,
    stage1_config,
    write_json,
)

Report = Callable[[dict[str, Any]], None]
EVAL_BATCH = 64
RECIPE = "merge.json"
RECIPE_FORMAT = "peft-study-merge/1"
LAMBDA_KEYS = tuple(f"lambda_{t}" for t in TASKS)
PARAM_KEYS = ("merge_method", *LAMBDA_KEYS, "density")
_COUNTS = ("params_pct", "params_total_pct", "adapter_pct", "adapter_params")
_COUNTS += ("trainable_params", "base_params")


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
    method = check_method(params["merge_method"])
    lambdas = check_lambdas([params[k] for k in LAMBDA_KEYS], len(TASKS))
    return method, lambdas, check_density(method, params.get("density"))


def stage1_dir(stage1: dict[str, Any], method: str) -> Path:
    """The stage-1 run folder a method merges: orthoada the orthogonal set, others standard."""
    name = "orthogonal" if method == "orthoada" else "standard"
    if not stage1.get(name):
        raise ConfigError(f"stage 1 has no {name} adapter set; run prepare_task_adapters first")
    return Path(stage1[name]).resolve()


def make_recipe(method: str, lambdas: list[float], density: float | None, source: Path) -> dict:
    """The merge.json content (see the module docstring) for a stage-1 run folder."""
    config = read_stage1_config(source)
    meta_file = source / "meta.json"
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    weights = lambdas if method == "eoe" else method_weights(method, lambdas)
    return {
        "format": RECIPE_FORMAT,
        "method": method,
        "lambdas": dict(zip(TASKS, lambdas, strict=True)),
        "weights": dict(zip(TASKS, weights, strict=True)),
        "density": density,
        "seed": config.seed,
        "stage1_dir": str(source),
        "adapters": {t: str(adapter_path(source, t)) for t in TASKS},
        "heads": str(heads_path(source)),
        "model_sha256": meta.get("model_sha256", ""),
    }


def load_merge_run(run_dir: str | Path) -> tuple[TrialConfig, MultiTaskBert]:
    """The model of a merge trial folder (for predict); UserError if it has no merge.json."""
    path = Path(run_dir) / RECIPE
    if not path.is_file():
        raise UserError(f"{run_dir} is not a merge trial folder: no {RECIPE}")
    recipe = json.loads(path.read_text())
    if recipe.get("format") != RECIPE_FORMAT:
        raise UserError(f"{path}: unknown format {recipe.get('format')!r}, need {RECIPE_FORMAT}")
    config = read_stage1_config(run_dir)
    return config, load_merged(run_dir, config, recipe)


def save_merge_run(
    run_dir: str | Path, config: TrialConfig, recipe: dict[str, Any], scores: dict[str, float]
) -> Path:
    """Write the run folder described in the module docstring; returns it (absolute)."""
    run_dir = Path(run_dir).resolve()
    (run_dir / "checkpoint").mkdir(parents=True, exist_ok=True)
    heads = run_dir / "checkpoint" / "heads.safetensors"
    shutil.copyfile(recipe["heads"], heads.with_suffix(".tmp"))
    os.replace(heads.with_suffix(".tmp"), heads)
    write_json(run_dir / "config.json", config.to_dict())
    meta = {"model_sha256": recipe["model_sha256"], "dev": scores, **library_versions()}
    write_json(run_dir / "meta.json", meta)
    write_json(run_dir / RECIPE, {**recipe, "dev": scores})  # last: marks the folder whole
    return run_dir


def run_merge_trial(
    params: dict[str, Any],
    stage1: dict[str, Any],
    base: TrialConfig,
    report: Report | None = None,
    run_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Merge, evaluate on dev, report once (final=True), return run_trial's metric keys."""
    start_trial_memory()
    t_start, cpu_start, started_unix = time.perf_counter(), time.process_time(), time.time()
    method, lambdas, density = merge_params(params)
    set_threads(base.threads)
    source = stage1_dir(stage1, method)
    summary = read_summary(source)
    recipe = make_recipe(method, lambdas, density, source)
    config = read_stage1_config(source)
    differs = first_difference(config.to_dict(), stage1_config(base, config.orthogonal))
    if differs is not None:
        raise ConfigError(
            f"the stage-1 adapters in {source} were trained with another config ({differs}); "
            "run prepare_task_adapters with this base first"
        )
    model = build_from_recipe(config, recipe, recipe["heads"])
    device = pick_device()
    precision = resolve_precision(config.precision, device)
    model = model.to(device)
    if precision == "bf16":  # evaluate as trials do: a bf16 residual stream
        keep_activations_in_autocast_dtype(model)
    t_built = time.perf_counter()
    model_sha = weights_sha256(config.model_path)
    dev = task_data(config, "dev", load_tokenizer(config.model_path), model_sha)
    scores = evaluate(model, dev, EVAL_BATCH, autocast(precision, device))
    t_eval = time.perf_counter()
    row = {"epoch": 1, **scores}
    if run_dir is not None:
        save_merge_run(run_dir, config, recipe, scores)
    final = {
        **row,
        **_counts(summary, method),
        "final": True,
        "seconds": time.perf_counter() - t_start,
        "started_unix": started_unix,
        "ended_unix": time.time(),
        "cpu_seconds": time.process_time() - cpu_start,
        "nice": thread_nice(),
        "epochs_run": 1,
        "history": [row],
        "precision": precision,
        "device": device.type,
        "model_sha256": model_sha,
        "trained_params": summary.get("trained_params", []),
        "time_split": {
            "setup": round(t_built - t_start, 3),
            "eval": round(t_eval - t_built, 3),
            "save": round(time.perf_counter() - t_eval, 3),
        },
        "train_examples": summary.get("train_examples", {}),
        "dev_examples": {t: len(e) for t, e in dev.items()},
        "adapter_dir": str(Path(run_dir).resolve()) if run_dir is not None else None,
        "merge_method": method,
        "lambdas": recipe["lambdas"],
        "merge_weights": recipe["weights"],
        "density": density,
        "stage1_dir": str(source),
        "residual_overlap": summary.get("residual_overlap"),
        "peak_rss_mb": peak_rss_mb(),
        "peak_gpu_mb": peak_gpu_mb(),
        "gpu": gpu_name(device),
    }
    if report is not None:
        report(dict(final))
    return final


def _counts(summary: dict[str, Any], method: str) -> dict[str, Any]:
    """Stage-1 parameter counts. A merge keeps one adapter's worth (params_pct = one task's
    share, as Table 3 counts AvgFed); EoE keeps every adapter, so it counts all of them."""
    counts = {k: summary[k] for k in _COUNTS if k in summary}
    if method == "eoe":
        counts["params_pct"] = counts["params_total_pct"]
        counts["adapter_pct"] = counts["adapter_pct"] * len(TASKS)
        counts["adapter_params"] = counts["adapter_params"] * len(TASKS)
    return counts
