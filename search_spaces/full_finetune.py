"""Table 1 and Figure 2: full fine-tuning, sequential, head design 1-3 x the 6 task orders.

The paper's heads on [CLS] at every scale, since this study compares them (the cpu scale's
default cosine heads have no design 3)."""

from search_spaces.spec import TASK_ORDERS, Choice, StudySpec

STUDY = StudySpec(
    name="full_finetune",
    description="Table 1 + Figure 2: full fine-tuning, head design x task order",
    base={"mode": "sequential", "method": "full", "pair_head": "paper", "pooling": "cls"},
    space={"head_design": Choice((1, 2, 3)), "task_order": Choice(TASK_ORDERS)},
    # The whole 3 x 6 grid, so Figure 2 is complete at every scale but smoke.
    points_to_evaluate=tuple(
        {"head_design": d, "task_order": o} for d in (3, 1, 2) for o in TASK_ORDERS
    ),
    samples={"smoke": 2, "cpu": 18, "paper": 18},
    seeds={"smoke": 1, "cpu": 1, "paper": 3},  # 18 cells x 3 seeds does not fit a CPU
    scheduler=None,  # a grid: every cell runs to the end
)
