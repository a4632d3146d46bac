"""Table 2: LoRA / DoRA in single-task mode over rank, target modules, bias and learning rate."""

from search_spaces.spec import Choice, LogUniform, Scheduler, StudySpec

_LR = 3e-4  # the learning rate of the paper rows (DEFAULT_LR for adapters)

STUDY = StudySpec(
    name="lora_sweep",
    description="Table 2: LoRA/DoRA single-task over r, targets, bias, lr",
    base={"mode": "single_task", "method": "lora"},
    space={
        "method": Choice(("lora", "dora")),
        "r": Choice((2, 4, 8, 16, 32, 64, 128)),
        "targets": Choice(("qkv", "attn", "all_linear")),
        "bias": Choice(("none", "all")),
        "lr": LogUniform(1e-4, 1e-3),
    },
    # The paper's 8 Table 2 rows, evaluated first; then TPE explores.
    points_to_evaluate=(
        {"method": "lora", "r": 2, "targets": "qkv", "bias": "none", "lr": _LR},
        {"method": "lora", "r": 4, "targets": "qkv", "bias": "none", "lr": _LR},
        {"method": "lora", "r": 16, "targets": "qkv", "bias": "none", "lr": _LR},
        {"method": "lora", "r": 64, "targets": "qkv", "bias": "none", "lr": _LR},
        {"method": "dora", "r": 64, "targets": "qkv", "bias": "none", "lr": _LR},
        {"method": "lora", "r": 64, "targets": "all_linear", "bias": "none", "lr": _LR},
        {"method": "lora", "r": 64, "targets": "all_linear", "bias": "all", "lr": _LR},
        {"method": "lora", "r": 128, "targets": "all_linear", "bias": "all", "lr": _LR},
    ),
    # cpu: the 8 paper rows and 2 proposed by TPE, then 3 seeds each of the paper rows and the
    # best 2 (about 30 trials): what fits 25 minutes on 2 cores
    samples={"smoke": 3, "cpu": 10, "paper": 48},
    scheduler=Scheduler(grace_period=1, reduction_factor=2),
)
