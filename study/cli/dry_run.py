"""`run --dry-run`: the checked plan of each study, printed; nothing starts (no Ray)."""

from __future__ import annotations

import dataclasses
import json

from search_spaces.spec import Choice, LogUniform, Uniform
from study.plan import StudyPlan


def plan_text(plan: StudyPlan) -> str:
    spec = plan.spec
    lines = [f"study {spec.name}: {spec.description}"]
    lines.append(f"  folder: {plan.study_dir} (checked writable)")
    lines.append(f"  {'resumes the study there' if plan.resume else 'a new study'}")
    lines.append(f"  storage: {plan.storage}")
    lines.append(f"  kind: {spec.kind}; scale: {plan.base.scale}")
    lines.append(
        f"  trials: {plan.samples} in the search, then {plan.seeds} seed(s) per chosen "
        f"configuration (the first points{'' if spec.rerun_first_points else ' not'} rerun; "
        + (
            f"each value of {spec.rerun_best_of}'s best"
            if spec.rerun_best_of
            else f"the top {plan.top_k} others"
        )
        + ")"
    )
    objective = ", ".join(f"{m} ({d})" for m, d in zip(plan.metrics, plan.modes, strict=True))
    lines.append(f"  objective: {objective}; sampler TPE, seed {plan.seed}")
    sched = spec.scheduler
    if sched is not None and len(plan.metrics) == 1:
        lines.append(
            f"  ASHA: grace {min(sched.grace_period, plan.base.epochs)} epoch(s), reduction "
            f"factor {sched.reduction_factor}, max {plan.base.epochs} epochs; first points "
            f"{'run fully' if sched.run_first_points_fully else 'may be stopped'}"
        )
    else:
        lines.append("  ASHA: none (every trial runs all its epochs)")
    if plan.max_params_pct is not None:
        lines.append(f"  parameter budget: proposals above {plan.max_params_pct:g}% are pruned")
    if plan.decide:
        budget = "no limit" if plan.budget_s is None else f"{plan.budget_s / 60:g} min"
        lines.append(
            f"  decide phase: Stein's two-stage procedure, E={plan.min_effect:g}, budget {budget}"
        )
    lines.append(
        f"  resources per trial: {plan.cpus_per_trial:g} CPU(s), {plan.gpus_per_trial:g} GPU(s);"
        f" {plan.max_concurrent} at once; "
        + (f"cluster {plan.address}" if plan.address else "a local Ray")
    )
    lines.append("  space:" if spec.space else "  space: none")
    for name, param in spec.space.items():
        lines.append(f"    {name}: {_param(param)}")
    points = spec.points_to_evaluate[: plan.samples]
    lines.append(f"  first points ({len(points)} of {len(spec.points_to_evaluate)}):")
    lines += [f"    {json.dumps(p)}" for p in points]
    lines.append("  base config:")
    lines += [f"    {k}: {v}" for k, v in dataclasses.asdict(plan.base).items()]
    return "\n".join(lines)


def _param(param: object) -> str:
    if isinstance(param, Choice):
        return "choice of " + ", ".join(map(str, param.values))
    if isinstance(param, LogUniform):
        return f"log-uniform in [{param.low:g}, {param.high:g}]"
    if isinstance(param, Uniform):
        return f"uniform in [{param.low:g}, {param.high:g}]"
    return repr(param)
