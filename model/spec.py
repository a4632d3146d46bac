"""What model/ needs to build a multi-task BERT, as frozen dataclasses (no study types).

study/config.py's TrialConfig.model_spec() fills these from a trial's config.
"""

from __future__ import annotations

from dataclasses import dataclass

TASKS = ("sst", "para", "sts")
# peft matches a target name against the end of each module path.
TARGET_MODULES = {
    "qkv": ("query", "key", "value"),
    "attn": ("query", "key", "value", "attention.output.dense"),
    "all_linear": (
        "query",
        "key",
        "value",
        "attention.output.dense",
        "intermediate.dense",
        "output.dense",
    ),
}


@dataclass(frozen=True)
class AdapterSpec:
    """What trains in the encoder."""

    method: str = "lora"
    """full (every weight) | one of model.peft_configs.PEFT_METHODS."""
    r: int = 16
    """The method's size parameter (model/peft_configs.py): LoRA's rank, OFT's block size..."""
    alpha: float = 32.0
    """LoRA alpha: the update is scaled by alpha / r."""
    dropout: float = 0.0
    """peft's lora_dropout."""
    targets: tuple[str, ...] = TARGET_MODULES["qkv"]
    """Module-name suffixes that get an adapter."""
    bias: str = "none"
    """none | all: with all, every bias of the encoder trains too."""
    orthogonal: bool = False
    """OrthoAda: each task's lora_A is a frozen block of one shared orthogonal basis."""
    rslora: bool = False
    """rsLoRA: scale the update by alpha / sqrt(r) instead of alpha / r."""
    init: str = "default"
    """LoRA's initialisation: default (B = 0) | gaussian | pissa | olora (these two move the
    principal part of W into the adapter, so the base weights change)."""
    target_r: int = 0
    """AdaLoRA: the average rank its budget prunes to."""
    total_step: int = 0
    """AdaLoRA: the optimizer steps this encoder will take (its budget schedule spans them)."""


@dataclass(frozen=True)
class HeadSpec:
    """The task heads (paper Sec. 4.1.1)."""

    design: int = 3
    """Last layer for Para and STS: 1 (Eq. 1), 2 (Eq. 2) or 3 (Eq. 3, joint encoding)."""
    proj_dim: int = 64
    """d, the projection size of W1, W2 in Eq. 2 and 3."""
    pooling: str = "cls"
    """Sentence vector: cls (the [CLS] state) | mean (masked mean over tokens)."""
    dropout: float = 0.3
    """Dropout on the sentence vector before every head (the cosine pair heads take none)."""
    pair_head: str = "paper"
    """paper: Eq. 4 and 5 on projections of size d | cosine: the cosine of the encoder's own
    geometry (heads.CosinePairHead)."""
    para_shift: float = 0.0
    para_scale: float = 10.0
    """The cosine Para head starts at logit = para_scale·(cos − para_shift)."""
    sts_alpha: float = 1.0
    sts_beta: float = 2.5
    """The cosine STS head starts at score = (cos + sts_alpha)·sts_beta (Eq. 5's 1 and 2.5)."""


@dataclass(frozen=True)
class ModelSpec:
    """A whole multi-task model."""

    adapter: AdapterSpec = AdapterSpec()
    heads: HeadSpec = HeadSpec()
    per_task: bool = True
    """True: one encoder (with its own adapter) per task; False: one shared encoder."""
    seed: int = 0
    """Seed of the heads' and adapters' initialisation (and OrthoAda's bases)."""
    steps: tuple[tuple[str, int], ...] = ()
    """(encoder key, optimizer steps) per encoder; AdaLoRA's schedule reads its own."""
