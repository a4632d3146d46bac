"""Everything the full report needs: the studies behind Tables 1-3 and Figures 1-2."""

from search_spaces.spec import StudySpec

STUDY = StudySpec(
    name="paper",
    description="suite: full_finetune + lora_sweep + multitask_order + merge (Tables 1-3)",
    base={},
    space={},
    samples={"cpu": 32, "paper": 172},
    includes=("full_finetune", "lora_sweep", "multitask_order", "merge"),
    scheduler=None,
)
