"""What `python -m study run` prints when a study ends: its counts and its best trial."""

from __future__ import annotations

from study.plan import StudyPlan
from study.records import Status, best, params_text, read_records


def print_summary(plan: StudyPlan) -> bool:
    """The study's closing lines; False when it holds no trial at all (it ran nothing)."""
    rows = read_records(plan.study_dir)
    counts = ", ".join(f"{sum(r.status is s for r in rows)} {s.value}" for s in Status)
    print(f"study {plan.spec.name}: {len(rows)} trials ({counts}) in {plan.study_dir}/trials.jsonl")
    chosen = best(rows)
    if chosen is None:
        print("no completed trial")
        return bool(rows)
    on = "validation" if chosen.val_overall is not None else "dev"
    print(
        f"best trial {chosen.trial_id} (chosen on {on} overall "
        f"{chosen.selection_score():.4f}): dev overall {chosen.overall:.4f}  sst "
        f"{chosen.sst:.3f}  para {chosen.para:.3f}  sts {chosen.sts:.3f}  params "
        f"{chosen.params_pct:.2f}%"
    )
    print(f"its configuration: {params_text(chosen.params)}")
    print(f"its adapters: {chosen.adapter_dir}")
    return True
