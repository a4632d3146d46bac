"""Methods: LoRA, DoRA, AdaLoRA, VeRA, IA3, OFT, BOFT and HRA under one protocol.

Each method first runs at a parameter budget near the paper's LoRA r=16 on q/k/v (about 1% of
the encoder) at its own default learning rate, then at three times it; VeRA and IA3 cannot
reach that budget and run at their natural size. Then TPE explores methods, sizes, targets and
learning rates (a multiple of each method's default), and each method's best configuration
by validation gets the same seed reruns, so every method has the same tuning budget.
"""

from search_spaces.spec import Choice, LogUniform, Scheduler, StudySpec

# (method, size, targets): adapter parameters per task on all-MiniLM-L6-v2 (hidden 384)
_FIRST = (
    ("lora", 16, "qkv"),  # 221,184
    ("dora", 16, "qkv"),  # 228,096 (LoRA + a magnitude per output)
    ("adalora", 16, "qkv"),  # 221,472 at the start, pruned to 2/3 of the ranks
    ("oft", 64, "qkv"),  # 217,728 (blocks of 64)
    ("boft", 32, "qkv"),  # 228,096 (blocks of 32, one butterfly factor)
    ("hra", 32, "qkv"),  # 221,184 (32 reflections)
    ("vera", 64, "all_linear"),  # 23,040: natural size (d_out + r per layer)
    ("ia3", 16, "all_linear"),  # 27,648: natural size (one scale per feature)
)

STUDY = StudySpec(
    name="peft_methods",
    description="Methods at a common parameter budget: LoRA, DoRA, AdaLoRA, OFT, BOFT, HRA, VeRA, IA3",
    base={"mode": "single_task", "method": "lora"},
    space={
        "method": Choice(("lora", "dora", "adalora", "oft", "boft", "hra", "vera", "ia3")),
        # valid for every method on 384/768-wide BERTs: even, and divides every in_features
        "r": Choice((4, 8, 16, 32, 64)),
        "targets": Choice(("qkv", "attn", "all_linear")),
        "lr_scale": LogUniform(1 / 3, 3.0),
    },
    points_to_evaluate=tuple(
        {"method": m, "r": r, "targets": t, "lr_scale": s} for s in (1.0, 3.0) for m, r, t in _FIRST
    ),
    # cpu: each method once at its default rate, then 2 more seeds of each: 24 trials in
    # about 25 minutes (HRA's trials take 4x LoRA's; both rates, 32 trials, took about 30).
    # paper: both rates, then 32 proposed by TPE.
    samples={"smoke": 2, "cpu": 8, "paper": 48},
    seeds={"smoke": 1, "cpu": 3, "paper": 3},
    rerun_best_of="method",
    rerun_first_points=False,
    scheduler=Scheduler(grace_period=1, reduction_factor=2),
)
