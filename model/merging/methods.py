"""Merging LoRA adapters, as plain tensor functions on the weight residual ΔW (paper Sec. 4.2.3).

Every method works on the exact ΔWᵢ = Bᵢ Aᵢ · scalingᵢ of each task's adapter (peft names:
lora_A (r, in), lora_B (out, r)), never on the A and B factors separately, so adapters of
different ranks merge exactly. peft's add_weighted_adapter "linear", "ties", "dare_*" (no svd)
mix A and B separately (inexact, equal ranks only) and its "*_svd" types truncate the merged
ΔW to a rank; here TIES/DARE call peft.utils.merge_utils on the full ΔW instead.

Methods (weights wᵢ come from the per-task λᵢ, see method_weights):
    eoe              no merge: task i runs θ + λᵢ ΔWᵢ with its own head (λ = 1 is the paper's EoE)
    fedavg           θ + Σ wᵢ ΔWᵢ with wᵢ = λᵢ / Σλ, a weighted average (paper Eq. 6, McMahan 2017)
    task_arithmetic  θ + Σ λᵢ ΔWᵢ, λ free (Ilharco et al. 2023; Eq. 6 without the averaging)
    orthoada         θ + Σ λᵢ ΔWᵢ of adapters trained on one orthogonal basis (model/orthogonal.py)
    ties             trim to the top `density` magnitudes, elect signs, disjoint mean (Yadav 2023)
    dare             drop at random, keep `density`, rescale by 1/density, weighted sum (Yu 2024)
    dare_ties        DARE's random drop followed by TIES's sign election
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch

from model.errors import ModelConfigError

MERGE_METHODS = ("eoe", "fedavg", "orthoada", "task_arithmetic", "ties", "dare", "dare_ties")
DENSITY_METHODS = ("ties", "dare", "dare_ties")


def delta_weight(lora_A: torch.Tensor, lora_B: torch.Tensor, scaling: float) -> torch.Tensor:
    """ΔW = B A · scaling: lora_A (r, in), lora_B (out, r) -> (out, in), as peft's LoraLayer."""
    return (lora_B @ lora_A) * scaling


def lora_scaling(lora_alpha: float, r: int, use_rslora: bool = False) -> float:
    """peft's scaling: alpha / r (rsLoRA: alpha / sqrt(r))."""
    return lora_alpha / math.sqrt(r) if use_rslora else lora_alpha / r


def check_method(method: str) -> str:
    if method not in MERGE_METHODS:
        raise ModelConfigError(
            f"merge_method={method!r} is invalid: must be one of {' | '.join(MERGE_METHODS)}"
        )
    return method


def check_lambdas(lambdas: Sequence[float], count: int) -> list[float]:
    """λ as a list of `count` finite numbers (one per adapter), else a one-line ConfigError."""
    values = list(lambdas)
    if len(values) != count:
        raise ModelConfigError(
            f"lambdas has {len(values)} value(s); need {count}, one per adapter (task order)"
        )
    for i, value in enumerate(values):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ModelConfigError(f"lambdas[{i}]={value!r} is invalid: must be a finite number")
    return [float(v) for v in values]


def check_density(method: str, density: float | None) -> float | None:
    """TIES/DARE need 0 < density <= 1 (the fraction of ΔW entries kept); others ignore it."""
    if method not in DENSITY_METHODS:
        return None
    if isinstance(density, bool) or not isinstance(density, int | float) or not 0 < density <= 1:
        raise ModelConfigError(
            f"density={density!r} is invalid for merge_method={method}: must be a number "
            "with 0 < density <= 1"
        )
    return float(density)


def method_weights(method: str, lambdas: Sequence[float]) -> list[float]:
    """The weights applied to the ΔWᵢ: fedavg averages (λᵢ / Σλ), every other method uses λ."""
    values = [float(v) for v in lambdas]
    if check_method(method) != "fedavg":
        return values
    total = sum(values)
    if total <= 0:
        raise ModelConfigError(f"fedavg needs lambdas with a positive sum, got {values}")
    return [v / total for v in values]


def merge_deltas(
    deltas: Sequence[torch.Tensor],
    weights: Sequence[float],
    method: str,
    density: float | None = None,
) -> torch.Tensor:
    """One layer's merged residual from the tasks' ΔWᵢ (each (out, in)) and weights wᵢ.

    Weighted-sum methods return Σ wᵢ ΔWᵢ; TIES/DARE use peft's merge utilities on the full
    ΔW (DARE draws from torch's global generator: seed it, see merged_deltas). `weights` must
    already be method_weights(...).
    """
    from peft.utils import merge_utils

    weights = check_lambdas(weights, len(deltas))
    if check_method(method) == "eoe":
        raise ModelConfigError(
            "merge_method=eoe keeps one adapter per task; there is nothing to merge"
        )
    density = check_density(method, density)
    w = torch.tensor(weights, dtype=deltas[0].dtype, device=deltas[0].device)
    if method in ("fedavg", "task_arithmetic", "orthoada"):
        return merge_utils.task_arithmetic(list(deltas), w)
    with warnings.catch_warnings():  # density == 1 keeps everything; peft warns about it
        warnings.filterwarnings("ignore", message="The density .* no pruning")
        if method == "ties":
            return merge_utils.ties(list(deltas), w, density)
        if method == "dare":
            return merge_utils.dare_linear(list(deltas), w, density)
        return merge_utils.dare_ties(list(deltas), w, density)


def residual_overlap(
    a_i: torch.Tensor, b_i: torch.Tensor, a_j: torch.Tensor, b_j: torch.Tensor
) -> float:
    """‖ΔWᵢ ΔWⱼᵀ‖_F / (‖ΔWᵢ‖_F ‖ΔWⱼ‖_F), in [0, 1]; 0 when the residuals are orthogonal.

    Computed from the factors with r×r matrices only (scalings cancel):
    ΔWᵢ ΔWⱼᵀ = Bᵢ (Aᵢ Aⱼᵀ) Bⱼᵀ, so ‖·‖² = tr(Mᵀ Gᵢ M Gⱼ) with M = Aᵢ Aⱼᵀ, G = BᵀB.
    """
    a_i, b_i, a_j, b_j = (t.detach().double() for t in (a_i, b_i, a_j, b_j))
    g_i, g_j = b_i.T @ b_i, b_j.T @ b_j
    m = a_i @ a_j.T
    cross = torch.trace(m.T @ g_i @ m @ g_j).clamp(min=0)
    norm_i = torch.trace(a_i @ a_i.T @ g_i).clamp(min=0)
    norm_j = torch.trace(a_j @ a_j.T @ g_j).clamp(min=0)
    if norm_i == 0 or norm_j == 0:
        return 0.0
    return float(torch.sqrt(cross / (norm_i * norm_j)))
