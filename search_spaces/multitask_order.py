"""Table 3 (top): LoRA r=64 on all linear layers, sequential training, over the 6 task orders."""

from search_spaces.spec import Choice, StudySpec

_ORDERS = (
    "sst-para-sts",
    "sst-sts-para",
    "para-sst-sts",
    "para-sts-sst",
    "sts-sst-para",
    "sts-para-sst",
)

STUDY = StudySpec(
    name="multitask_order",
    description="Table 3 top: sequential LoRA r=64 all_linear over the 6 task orders",
    paper_table="table3",
    base={"mode": "sequential", "method": "lora", "r": 64, "targets": "all_linear", "bias": "none"},
    space={"task_order": Choice(_ORDERS)},
    points_to_evaluate=tuple({"task_order": o} for o in _ORDERS),
    samples={"smoke": 2, "cpu": 6, "paper": 6},
    scheduler=None,  # every order runs to the end
)
