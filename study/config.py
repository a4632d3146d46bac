"""The frozen, typed config every layer speaks. Dicts appear only at the Ray/Optuna edge.

A config is built as: defaults -> scale preset -> study base -> `--set` overrides -> sampled
parameters. Each step goes through `TrialConfig.replace`, so every value is validated.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from model.peft_configs import PEFT_METHODS
from model.spec import TARGET_MODULES, TASKS, AdapterSpec, HeadSpec, ModelSpec
from study.errors import ConfigError
from study.validate import (
    check_choice,
    check_int,
    check_method_options,
    check_positive,
    check_unit,
    is_num,
)

METHODS = ("full", *PEFT_METHODS)
BIASES = ("none", "all")
MODES = ("single_task", "sequential")
HEAD_DESIGNS = (1, 2, 3)
POOLINGS = ("cls", "mean")
PAIR_HEADS = ("paper", "cosine", "auto")
PRECISIONS = ("fp32", "bf16", "auto")
FAULTS = ("", "nan", "raise")
# Learning rates used when `lr` is not set. The paper uses 1e-5 for all methods with
# 10 epochs on all data; adapters start from zero and need a larger step at small scales.
# The other methods' rates are the cpu-scale checks of study/bench/RESULTS.md ("methods").
DEFAULT_LR = {"full": 5e-5, "lora": 3e-4, "dora": 3e-4, "adalora": 1e-3, "vera": 5e-3}
DEFAULT_LR |= {"ia3": 5e-3, "oft": 1e-3, "boft": 1e-3, "hra": 1e-3}


@dataclass(frozen=True)
class TrialConfig:
    """One trial of the study: model, adapter, heads, training recipe and data sizes."""

    method: str = "lora"
    """full | lora | dora | vera | ia3 | oft | boft | hra | adalora. full trains every encoder
    weight; the others train peft adapters (model/peft_configs.py)."""
    r: int = 16
    """The method's size: LoRA/DoRA/VeRA rank, AdaLoRA's initial rank, OFT/BOFT block size, HRA
    reflections (even); ignored by full and ia3."""
    alpha: float | None = None
    """LoRA alpha. None means 2*r, so the scaling alpha/r is 2 at every rank and an r sweep
    compares rank, not step size."""
    rslora: bool = False
    """rsLoRA (peft's use_rslora): the update is scaled by alpha/sqrt(r) instead of alpha/r, so
    with a fixed alpha its size no longer grows with r at one learning rate."""
    init: str = "default"
    """LoRA's initialisation (peft's init_lora_weights): default (B = 0, so training starts at
    the base model) | gaussian | pissa | olora (these two move W's principal part into the
    adapter and change the base weights; merging refuses them)."""
    loraplus_lr_ratio: float = 0.0
    """LoRA+ (lora/dora): lora_B learns this many times faster than lora_A, through peft's
    create_loraplus_optimizer. 0: off."""
    target_r: int = 0
    """AdaLoRA's final average rank; 0 means 2r/3. Its schedule spans the trial's steps."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA input path (peft's lora_dropout). 0.0 is peft's default; the paper
    gives none. Above 0, peft's DoRA runs each adapted base layer a second time on the dropped
    input (`study bench` measures what that costs)."""
    targets: str = "qkv"
    """qkv (query, key, value) | attn (qkv + attention output) | all_linear (all six linear
    layers of every encoder block; never the pooler or the heads)."""
    bias: str = "none"
    """none | all: with all, every bias of the encoder is trainable too."""
    orthogonal: bool = False
    """OrthoAda (Po et al. 2023; paper Sec. 4.2.3), single_task lora only: each task's lora_A
    is a disjoint block of rows of one shared, seeded orthogonal basis and stays frozen."""
    head_design: int = 3
    """Last layer for Para and STS: 1 (Eq. 1), 2 (Eq. 2) or 3 (Eq. 3, joint encoding)."""
    proj_dim: int = 64
    """d, the projection size of W1, W2 in Eq. 2 and 3."""
    pooling: str = "cls"
    """Sentence vector B(x): cls (the paper's [CLS] token) | mean (mean over tokens)."""
    pair_head: str = "paper"
    """Para/STS heads. paper: Eq. 4 (inner product) and Eq. 5 (alpha=1, beta=2.5) on random
    projections of size proj_dim. cosine: head design 2 with W1 = W2 = I: both read the cosine
    of the encoder's own sentence vectors, so an untrained model scores the no-training floors;
    Para's logit is a*(cos - t) with t starting at the floor's threshold, STS's alpha and beta
    train (model/heads.py CosinePairHead). auto: cosine for design 2, paper for designs 1 and 3
    (which cannot take it), so a study over designs gives each what it can take."""
    mode: str = "single_task"
    """single_task: one adapter + head per task, trained on its task (Table 2).
    sequential: one model; epochs > tasks in task_order > batches (Sec. 4.1.2)."""
    task_order: tuple[str, ...] = TASKS
    """Order of tasks inside each epoch; a permutation of sst, para, sts."""
    lr: float | None = None
    """Encoder/adapter learning rate. None means the method's default (DEFAULT_LR) times
    lr_scale."""
    lr_scale: float = 1.0
    """A multiple of the method's default learning rate, so one search range fits every
    method (peft_methods). Only with lr unset."""
    head_lr: float = 1e-3
    """Learning rate of the task heads, which start from random weights."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    dropout: float = 0.3
    """Dropout on the sentence vector before every head (the paper's 0.3)."""
    batch_size: int = 32
    """Examples per training batch (the paper's 32)."""
    epochs: int = 2
    """Passes over each task's training subsample; metrics are reported after each."""
    max_len: int = 128
    """Token limit per sequence (a joint pair counts as one sequence)."""
    max_batch_tokens: int = 2048
    """Largest forward/backward pass, in padded tokens: a longer training batch runs in parts
    whose gradients add up to the batch's (the same update; a lower memory peak, which keeps a
    CPU trial under 2 GB). 0 never splits (the paper scale, for GPUs)."""
    train_per_task: int = 800
    """Training examples per task, a seeded subsample; 0 means all."""
    dev_per_task: int = 600
    """Dev examples per task used for evaluation, a seeded subsample; 0 means all."""
    val_per_task: int = 0
    """Validation examples per task, carved from the training file before the training
    subsample is drawn (so never trained on). Every selection decision (Optuna, ASHA, the best
    trial, the reruns) reads validation; the tables report dev. 0: no validation split, and
    selection reads dev, as the paper did (every scale preset carves one)."""
    data_seed: int = 0
    """Seed of the subsample, shared by all trials of a study so they see the same data."""
    seed: int = 0
    """Seed of initialisation, dropout and batch order."""
    precision: str = "auto"
    """fp32 | bf16 | auto. auto: bf16 autocast on a CPU with fast bf16 (avx512_bf16 or AMX),
    where it is faster and its dev metrics stay within 0.01 of fp32's (`study bench` checks
    both); fp32 elsewhere, CUDA included, where bf16 was neither faster for a model this small
    nor within 0.01 (study/bench/RESULTS.md). bf16 is always allowed explicitly."""
    accelerate: bool = True
    """Run the speed-up pack (model/accel): rewrites that keep the results but run faster than
    torch's plain path. false runs the plain path."""
    threads: int = 0
    """torch threads for this trial; 0 leaves torch's default. Ray sets it to the trial's CPUs."""
    model_path: str = ""
    """Local BERT checkpoint folder; empty means the embedded all-MiniLM-L6-v2."""
    data_dir: str = ""
    """Folder with the minBERT-layout files; empty means the project's data/."""
    scale: str = "cpu"
    """Label of the scale preset this config came from (smoke | cpu | paper)."""
    inject_fault: str = ""
    """Testing hook: nan makes the first loss NaN, raise raises in the first step."""

    def __post_init__(self) -> None:
        if isinstance(self.task_order, list):
            object.__setattr__(self, "task_order", tuple(self.task_order))
        elif isinstance(self.task_order, str):  # "sst-para-sts", as the CLI and tables write it
            object.__setattr__(self, "task_order", tuple(self.task_order.split("-")))
        check_choice("method", self.method, METHODS)
        check_int("r", self.r, 1)
        if self.alpha is not None and not (is_num(self.alpha) and self.alpha > 0):
            raise ConfigError(f"alpha={self.alpha!r} is invalid: must be a number > 0 (or none)")
        check_unit("lora_dropout", self.lora_dropout)
        check_unit("dropout", self.dropout)
        check_choice("targets", self.targets, tuple(TARGET_MODULES))
        check_choice("bias", self.bias, BIASES)
        for name in ("orthogonal", "accelerate", "rslora"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(
                    f"{name}={getattr(self, name)!r} is invalid: must be true or false"
                )
        check_choice("head_design", self.head_design, HEAD_DESIGNS)
        check_int("proj_dim", self.proj_dim, 1)
        check_choice("pooling", self.pooling, POOLINGS)
        check_choice("pair_head", self.pair_head, PAIR_HEADS)
        if self.pair_head == "cosine" and self.head_design != 2:
            raise ConfigError(
                f"pair_head=cosine is head design 2 with W1 = W2 = I (Eq. 2): use head_design "
                f"2 (got {self.head_design}), or pair_head=auto to give it to design 2 only"
            )
        check_choice("mode", self.mode, MODES)
        order_ok = isinstance(self.task_order, tuple) and all(
            isinstance(t, str) for t in self.task_order
        )
        if not order_ok or sorted(self.task_order) != sorted(TASKS):
            parts = self.task_order if isinstance(self.task_order, tuple) else (self.task_order,)
            order = "-".join(map(str, parts))
            raise ConfigError(
                f"task_order={order} is invalid: must be a permutation of sst, para, sts "
                "(each once)"
            )
        if self.orthogonal and (
            self.method != "lora" or self.mode != "single_task" or self.init != "default"
        ):
            raise ConfigError(
                f"orthogonal=true needs method=lora, init=default and mode=single_task "
                f"(got method={self.method}, init={self.init}, mode={self.mode})"
            )
        for name in ("lr", "head_lr", "lr_scale"):
            check_positive(name, getattr(self, name))
        if self.lr is not None and self.lr_scale != 1.0:
            raise ConfigError("set lr or lr_scale, not both (lr_scale multiplies the default lr)")
        check_method_options(self)
        if not (is_num(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(f"weight_decay={self.weight_decay!r} is invalid: must be >= 0")
        check_int("batch_size", self.batch_size, 1)
        check_int("epochs", self.epochs, 1)
        check_int("max_len", self.max_len, 8)
        check_int("max_batch_tokens", self.max_batch_tokens, 0)
        check_int("train_per_task", self.train_per_task, 0)
        check_int("dev_per_task", self.dev_per_task, 0)
        check_int("val_per_task", self.val_per_task, 0)
        check_int("data_seed", self.data_seed, 0)
        check_int("seed", self.seed, 0)
        check_choice("precision", self.precision, PRECISIONS)
        check_int("threads", self.threads, 0)
        check_choice("inject_fault", self.inject_fault, FAULTS)

    @property
    def learning_rate(self) -> float:
        """The encoder/adapter learning rate actually used."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.method] * self.lr_scale

    @property
    def adalora_target_r(self) -> int:
        """AdaLoRA's final average rank (target_r, or 2r/3)."""
        return self.target_r or max(1, 2 * self.r // 3)

    @property
    def lora_alpha(self) -> float:
        """The LoRA alpha actually used."""
        return self.alpha if self.alpha is not None else 2.0 * self.r

    @property
    def pair_head_used(self) -> str:
        """The pair head built: auto is cosine for head design 2 (Eq. 2 with W1 = W2 = I, the
        calibrated start) and paper for designs 1 and 3, which cannot take it."""
        if self.pair_head == "auto":
            return "cosine" if self.head_design == 2 else "paper"
        return self.pair_head

    def model_spec(
        self, calibration: dict[str, float] | None = None, steps: dict[str, int] | None = None
    ) -> ModelSpec:
        """What model/ builds for this config; `calibration` sets where the cosine pair heads
        start (para_scale, para_shift, sts_alpha, sts_beta; study/train/baseline.py); `steps`
        (encoder key -> optimizer steps) spans AdaLoRA's schedule."""
        adapter = AdapterSpec(
            method=self.method,
            r=self.r,
            alpha=self.lora_alpha,
            dropout=self.lora_dropout,
            targets=TARGET_MODULES[self.targets],
            bias=self.bias,
            orthogonal=self.orthogonal,
            rslora=self.rslora,
            init=self.init,
            target_r=self.adalora_target_r if self.method == "adalora" else 0,
        )
        heads = HeadSpec(
            self.head_design,
            self.proj_dim,
            self.pooling,
            self.dropout,
            self.pair_head_used,
            **(calibration or {}),
        )
        per_task = self.mode == "single_task"
        steps_of = tuple(sorted((steps or {}).items()))
        return ModelSpec(adapter, heads, per_task=per_task, seed=self.seed, steps=steps_of)

    def replace(self, **changes: Any) -> TrialConfig:
        """A copy with `changes` applied and validated; unknown keys are a ConfigError."""
        unknown = sorted(set(changes) - set(field_names()))
        if unknown:
            raise ConfigError(
                f"unknown config key {unknown[0]!r}; known keys: {', '.join(field_names())}"
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["task_order"] = list(self.task_order)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialConfig:
        """Inverse of to_dict; unknown keys are a ConfigError."""
        return cls().replace(**data)


def field_names() -> list[str]:
    """Names of every TrialConfig field, in declaration order."""
    return [f.name for f in fields(TrialConfig)]
