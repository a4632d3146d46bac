"""The multi-task minBERT: encoder(s) + the three task heads.

single_task mode keeps one encoder (with its own adapter) per task, sequential mode one shared
encoder. An encoder is a BertModel (full fine-tuning) or a peft model around one.
"""

from __future__ import annotations

import copy
import dataclasses

import torch
from torch import nn

from model.adapters import apply_adapter, base_parameter_count, count_all, count_trainable
from model.heads import build_heads
from model.spec import TASKS, AdapterSpec, HeadSpec, ModelSpec

SHARED = "shared"


class MultiTaskBert(nn.Module):
    def __init__(
        self, encoders: dict[str, nn.Module], heads: nn.ModuleDict, spec: HeadSpec
    ) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict(encoders)
        self.heads = heads
        self.design = spec.design
        self.pooling = spec.pooling
        self.steps = dict.fromkeys(encoders, 0)  # optimizer steps per encoder (AdaLoRA's clock)

    def encoder_for(self, task: str) -> nn.Module:
        """The task's own encoder (single_task / EoE) or the shared one."""
        return self.encoders[task] if task in self.encoders else self.encoders[SHARED]

    def key_for(self, task: str) -> str:
        """The key in `encoders` of the encoder `task` trains."""
        return task if task in self.encoders else SHARED

    def sentence_vector(
        self, encoder: nn.Module, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor
    ) -> torch.Tensor:
        """B(x): (B, T) token ids -> (B, F), the [CLS] state or the masked mean."""
        attend = key_padding_mask_4d(mask) if ids.is_cuda else mask
        states = encoder(
            input_ids=ids, attention_mask=attend, token_type_ids=types
        ).last_hidden_state
        if self.pooling == "cls":
            return states[:, 0]
        m = mask.unsqueeze(-1).to(states.dtype)
        return (states * m).sum(1) / m.sum(1).clamp(min=1)

    def forward(self, task: str, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """sst: logits (B, 5); para: logit (B,); sts: score (B,) (in [0, 5] for designs 2, 3)."""
        encoder = self.encoder_for(task)
        u = self.sentence_vector(
            encoder, batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]
        )
        if task == "sst":
            return self.heads["sst"](u)
        v = None
        if self.design in (1, 2):  # second sentence encoded on its own (Eq. 1, 2)
            v = self.sentence_vector(
                encoder, batch["input_ids_b"], batch["attention_mask_b"], batch["token_type_ids_b"]
            )
        return self.heads[task](u, v)


def key_padding_mask_4d(mask: torch.Tensor) -> torch.Tensor:
    """(B, T) 0/1 -> (B, 1, 1, T) bool, True = attend: the mask transformers would build for SDPA.

    Given a 2D mask, transformers checks mask.all() on every forward to drop an all-ones mask, a
    device-to-host sync per step on CUDA; a 4D mask is used as it is."""
    return mask[:, None, None, :].bool()


def build_model(spec: ModelSpec, base_encoder: nn.Module) -> MultiTaskBert:
    """Wrap `base_encoder` (consumed) with adapters and heads as `spec` says."""
    torch.manual_seed(spec.seed)
    hidden = base_encoder.config.hidden_size
    for p in base_encoder.parameters():
        p.requires_grad_(False)
    if spec.per_task:
        # Each task starts from its own copy of the pretrained encoder.
        copies = [base_encoder] + [copy.deepcopy(base_encoder) for _ in TASKS[1:]]
        encoders = {
            task: apply_adapter(enc, _adapter_for(spec, task))
            for task, enc in zip(TASKS, copies, strict=True)
        }
    else:
        encoders = {SHARED: apply_adapter(base_encoder, _adapter_for(spec, SHARED))}
    if spec.adapter.orthogonal:
        from model.orthogonal import make_orthogonal  # OrthoAda: freeze lora_A on a shared basis

        make_orthogonal(encoders, spec.adapter, spec.seed)
    heads = build_heads(hidden, spec.heads)
    return MultiTaskBert(encoders, heads, spec.heads)


def _adapter_for(spec: ModelSpec, key: str) -> AdapterSpec:
    """The encoder's adapter spec; AdaLoRA's schedule spans that encoder's own steps."""
    steps = dict(spec.steps).get(key, 0)
    if spec.adapter.method != "adalora" or not steps:
        return spec.adapter
    return dataclasses.replace(spec.adapter, total_step=steps)


def parameter_counts(model: MultiTaskBert) -> dict[str, float]:
    """Parameter accounting (definitions in model/adapters.py).

    In single_task mode params_pct is one task's share (one adapter + its head over one
    encoder + its head, averaged over tasks), as the paper's Table 2 counts it, so full
    fine-tuning is 100 in both modes; params_total_pct counts every adapter (EoE's count).
    """
    heads_all = count_all(model.heads)
    per_task_trainable = []
    per_task_adapter = []
    for task in TASKS:
        enc = model.encoder_for(task)
        per_task_adapter.append(count_trainable(enc))
        per_task_trainable.append(count_trainable(enc) + count_trainable(model.heads[task]))
    base = base_parameter_count(next(iter(model.encoders.values())))
    denominator = base + heads_all
    n_enc = len(model.encoders)
    adapters_total = sum(count_trainable(e) for e in model.encoders.values())
    trainable_total = adapters_total + count_trainable(model.heads)
    one_adapter = adapters_total if n_enc == 1 else sum(per_task_adapter) / len(TASKS)
    if n_enc == 1:
        params_pct = 100.0 * trainable_total / denominator
    else:  # each task's model is its own encoder + its own head
        params_pct = 100.0 * sum(per_task_trainable) / (len(TASKS) * base + heads_all)
    return {
        "params_pct": params_pct,
        "params_total_pct": 100.0 * trainable_total / denominator,
        "adapter_pct": 100.0 * one_adapter / base,
        "adapter_params": int(one_adapter),
        "trainable_params": int(trainable_total),
        "base_params": int(base),
    }
