"""OrthoAda: orthogonal adaptation (Po et al. 2023; paper Sec. 4.2.3).

For every adapted layer one random orthogonal basis Q (in × in) is drawn from a QR
decomposition, seeded by (the model's seed, layer name), so all tasks see the same Q. Task k's
down-projection lora_A (r, in) is the block of rows k·r … (k+1)·r − 1 of Qᵀ and stays frozen;
only lora_B trains. Then Aᵢ Aⱼᵀ = 0, hence ΔWᵢ ΔWⱼᵀ = Bᵢ Aᵢ Aⱼᵀ Bⱼᵀ = 0 for i ≠ j, and the
adapters merge by a λ-weighted sum (model/merging/methods.py).
"""

from __future__ import annotations

import zlib

import torch
from torch import nn

from model.errors import ModelConfigError
from model.spec import TASKS, AdapterSpec

ADAPTER = "default"  # peft's adapter name


def orthogonal_basis(size: int, seed: int) -> torch.Tensor:
    """(size, size) orthogonal matrix from the QR of a seeded Gaussian (signs fixed by diag R)."""
    gen = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(size, size, generator=gen, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).float()


def layer_seed(seed: int, layer: str) -> int:
    """A stable per-layer seed: the same for every task of a trial, different across layers."""
    return (seed * 1_000_003 + zlib.crc32(layer.encode())) % (2**63)


def task_rows(basis: torch.Tensor, task_index: int, r: int) -> torch.Tensor:
    """Task k's lora_A (r, in): rows k·r … (k+1)·r − 1 of Qᵀ (i.e. columns of Q)."""
    return basis.T[task_index * r : (task_index + 1) * r].contiguous()


def _lora_layers(encoder: nn.Module) -> dict[str, nn.Module]:
    from peft.tuners.lora import LoraLayer

    return {
        name: module
        for name, module in encoder.named_modules()
        if isinstance(module, LoraLayer) and ADAPTER in module.lora_A
    }


def make_orthogonal(encoders: dict[str, nn.Module], spec: AdapterSpec, seed: int) -> None:
    """Set every task's lora_A to its block of the shared orthogonal basis and freeze it.

    encoders: {task: peft model} (single_task mode, right after get_peft_model). A rank with
    r × 3 tasks > a layer's input size is a one-line ModelConfigError (before anything changes).
    """
    if spec.method != "lora" or set(encoders) != set(TASKS):
        mode = "single_task" if set(encoders) == set(TASKS) else "sequential"
        raise ModelConfigError(
            f"orthogonal=true needs method=lora and mode=single_task "
            f"(got method={spec.method}, mode={mode})"
        )
    layers = {task: _lora_layers(enc) for task, enc in encoders.items()}
    reference = next(iter(layers.values()))
    if not reference:
        raise ModelConfigError("orthogonal=true found no LoRA layers to orthogonalise")
    for name, module in reference.items():
        r, size = module.lora_A[ADAPTER].weight.shape
        if r * len(TASKS) > size:
            short = name.removeprefix("base_model.model.")
            raise ModelConfigError(
                f"orthogonal=true needs r × {len(TASKS)} tasks <= each adapted layer's input "
                f"size: r={r} needs {r * len(TASKS)} > {size} at {short}; use r <= "
                f"{size // len(TASKS)}"
            )
    for name, module in reference.items():
        r, size = module.lora_A[ADAPTER].weight.shape
        basis = orthogonal_basis(size, layer_seed(seed, name))
        for task, task_layers in layers.items():
            weight = task_layers[name].lora_A[ADAPTER].weight
            with torch.no_grad():
                weight.copy_(task_rows(basis, TASKS.index(task), r).to(weight.dtype))
            weight.requires_grad_(False)
