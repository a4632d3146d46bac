"""Table 3 (top): LoRA r=64 on all linear layers, sequential training, over the 6 task orders.

The cpu preset runs the three rotations first (each task first once: sst-para-sts,
para-sts-sst, sts-sst-para) with 3 seeds each; the paper scale runs all six."""

from search_spaces.spec import TASK_ORDERS, Choice, StudySpec

ROTATIONS = ("sst-para-sts", "para-sts-sst", "sts-sst-para")

STUDY = StudySpec(
    name="multitask_order",
    description="Table 3 top: sequential LoRA r=64 all_linear over the 6 task orders",
    base={"mode": "sequential", "method": "lora", "r": 64, "targets": "all_linear", "bias": "none"},
    space={"task_order": Choice(TASK_ORDERS)},
    points_to_evaluate=tuple(
        {"task_order": o} for o in ROTATIONS + tuple(o for o in TASK_ORDERS if o not in ROTATIONS)
    ),
    samples={"smoke": 2, "cpu": 3, "paper": 6},
    scheduler=None,  # every order runs to the end
)
