"""Everything the full report needs: the studies behind Tables 1-3 and Figures 1-2."""

from search_spaces.spec import StudySpec

STUDY = StudySpec(
    name="paper",
    description="suite: full_finetune + lora_sweep + multitask_order (Tables 1-3)",
    base={},
    space={},
    samples={"cpu": 38, "paper": 72},
    includes=("full_finetune", "lora_sweep", "multitask_order"),
    scheduler=None,
)
