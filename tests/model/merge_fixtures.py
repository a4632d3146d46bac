"""Tiny real components for the merge tests: a random BertModel and real saved peft adapters."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import BertConfig, BertModel

from study.config import TARGET_MODULES

HIDDEN = 32
VOCAB = 64
ALL_LINEAR = list(TARGET_MODULES["all_linear"])


def tiny_bert(seed: int = 0) -> BertModel:
    """2 layers, hidden 32, FFN 64: every adapted layer has in_features 32 or 64."""
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
    )
    return BertModel(config, add_pooling_layer=False).eval()


def saved_adapter(base: BertModel, folder: Path, r: int, seed: int, **lora_kwargs) -> Path:
    """A real peft LoRA adapter around a copy of `base`, with non-zero lora_B, saved to folder."""
    torch.manual_seed(seed)
    options = {"r": r, "lora_alpha": 2 * r, "target_modules": ALL_LINEAR, **lora_kwargs}
    peft_model = get_peft_model(copy.deepcopy(base), LoraConfig(**options))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.05)  # peft starts B at 0; a trained adapter has B != 0
    peft_model.save_pretrained(str(folder))
    return folder


def token_batch(seed: int = 0, batch: int = 3, length: int = 9) -> dict[str, torch.Tensor]:
    """A joint-encoding batch (head design 3) with padding in the last row."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (batch, length), generator=gen)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[-1, length // 2 :] = 0
    types = torch.zeros(batch, length, dtype=torch.long)
    types[:, length // 2 :] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def hidden_states(encoder: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return encoder(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            token_type_ids=batch["token_type_ids"],
        ).last_hidden_state
