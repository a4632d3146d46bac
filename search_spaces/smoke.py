"""A tiny study for tests: a few LoRA trials on a handful of batches."""

from search_spaces.spec import Choice, LogUniform, Scheduler, StudySpec

STUDY = StudySpec(
    name="smoke",
    description="tiny LoRA study for tests and a quick check of the setup",
    base={"mode": "single_task", "method": "lora"},
    space={"r": Choice((2, 4, 8)), "lr": LogUniform(5e-4, 2e-3)},
    points_to_evaluate=({"r": 4, "lr": 1e-3},),
    samples={"smoke": 3, "cpu": 3},
    scheduler=Scheduler(grace_period=1, reduction_factor=2),
)
