"""Saved peft LoRA adapters -> exact residuals -> a merged (or EoE) MultiTaskBert.

The adapters are read from peft's save_pretrained folders (adapter_config.json +
adapter_model.safetensors) and applied to the plain base encoder as W + ΔW, so the built
model holds dense weights and no peft wrappers; heads come from the single-task run.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from model.errors import ModelConfigError, ModelError
from model.files import check_adapter_folder, load_tensors
from model.heads import build_heads
from model.merging.methods import (
    check_density,
    check_lambdas,
    check_method,
    delta_weight,
    lora_scaling,
    merge_deltas,
    method_weights,
    residual_overlap,
)
from model.multitask import SHARED, MultiTaskBert
from model.spec import TASKS, HeadSpec

# peft saves "base_model.model.<module path>.lora_A.weight" (adapter name removed).
_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<part>[AB])\.weight$")


@dataclass(frozen=True)
class LoraAdapter:
    """One saved LoRA adapter: per module path, lora_A (r, in), lora_B (out, r) and scaling."""

    path: str
    factors: dict[str, tuple[torch.Tensor, torch.Tensor, float]] = field(repr=False)

    def delta(self, module: str) -> torch.Tensor:
        """ΔW (out, in) of one adapted module."""
        a, b, scaling = self.factors[module]
        return delta_weight(a, b, scaling)


SUPPORTED = (
    "merging supports LoRA and rsLoRA adapters (default or gaussian init) without trained biases"
)


def read_lora_adapter(path: str | Path) -> LoraAdapter:
    """Read a peft LoRA folder; a ModelError names what cannot merge exactly (DoRA, trained
    biases, fan_in_fan_out, alpha_pattern, missing files)."""
    from peft import LoraConfig

    path = Path(path)
    weights = path / "adapter_model.safetensors"
    raw = check_adapter_folder(path)  # both files there and whole
    kind = str(raw.get("peft_type", "LORA")).upper()
    if kind != "LORA":  # VeRA, IA3, OFT, BOFT, HRA, AdaLoRA: no B A residual to merge
        raise ModelError(f"{path}: a {kind} adapter cannot be merged; {SUPPORTED}")
    init = raw.get("init_lora_weights", True)
    if isinstance(init, str) and init.split("_")[0] in ("pissa", "olora"):
        # PiSSA/OLoRA moved W's principal part into the adapter: W0 is no longer the base's
        raise ModelError(
            f"{path}: a LoRA adapter with init={init} changed the base weights and cannot be "
            f"merged into them; {SUPPORTED}"
        )
    cfg = LoraConfig.from_pretrained(str(path))
    # DoRA's update m·(W0 + sBA)/||W0 + sBA|| - W0 is no low-rank sum; a trained bias adds a
    # term that ΔW = B A does not hold: either would be merged wrongly (peft issue 3761).
    if cfg.use_dora:
        raise ModelError(f"{path}: a DoRA adapter (use_dora) cannot be merged exactly; {SUPPORTED}")
    if cfg.bias != "none":
        raise ModelError(
            f"{path}: a bias-trained adapter (bias={cfg.bias}) cannot be merged exactly; {SUPPORTED}"
        )
    if cfg.fan_in_fan_out or cfg.alpha_pattern:
        raise ModelError(
            f"{path}: a fan_in_fan_out or alpha_pattern adapter cannot be merged; {SUPPORTED}"
        )
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in load_tensors(weights).items():
        m = _KEY.match(key)
        if m is None:
            raise ModelError(
                f"{path}: cannot merge tensor {key!r} (not a lora_A/lora_B); {SUPPORTED}"
            )
        parts.setdefault(m["module"], {})[m["part"]] = tensor.float()
    factors = {}
    for module, ab in parts.items():
        if set(ab) != {"A", "B"}:
            raise ModelError(f"{path}: {module} has lora_{next(iter(ab))} without its partner")
        rank = ab["A"].shape[0]  # the tensor's rank, so rank_pattern is honoured too
        factors[module] = (ab["A"], ab["B"], lora_scaling(cfg.lora_alpha, rank, cfg.use_rslora))
    return LoraAdapter(str(path), factors)


def merged_deltas(
    adapters: list[LoraAdapter],
    weights: list[float],
    method: str,
    density: float | None = None,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """{module path: merged ΔW} over the union of adapted modules (absent in one = zero ΔW).

    `weights` are method_weights(method, λ). DARE's random drops use a private, seeded stream.
    """
    weights = check_lambdas(weights, len(adapters))
    modules = list(dict.fromkeys(m for a in adapters for m in a.factors))
    out = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in modules:
            a, b, _ = next(x.factors[module] for x in adapters if module in x.factors)
            shape = (b.shape[0], a.shape[1])  # (out, in)
            deltas = [
                x.delta(module) if module in x.factors else torch.zeros(shape) for x in adapters
            ]
            out[module] = merge_deltas(deltas, weights, method, density)
    return out


def add_deltas(encoder: nn.Module, deltas: dict[str, torch.Tensor]) -> nn.Module:
    """W += ΔW in place for each module path of `encoder` (nn.Linear weight (out, in))."""
    with torch.no_grad():
        for module, delta in deltas.items():
            try:
                weight = encoder.get_submodule(module).weight
            except AttributeError:
                raise ModelError(f"the encoder has no layer {module!r} to merge into") from None
            if weight.shape != delta.shape:
                raise ModelError(
                    f"{module}: adapter ΔW {tuple(delta.shape)} does not fit weight "
                    f"{tuple(weight.shape)}; was the adapter trained on another model?"
                )
            weight.add_(delta.to(weight.dtype))
    return encoder


def max_residual_overlap(adapters: list[LoraAdapter]) -> float:
    """Largest ‖ΔWᵢ ΔWⱼᵀ‖ / (‖ΔWᵢ‖ ‖ΔWⱼ‖) over layers and task pairs (≈ 0 for OrthoAda)."""
    worst = 0.0
    for i, first in enumerate(adapters):
        for second in adapters[i + 1 :]:
            for module in first.factors.keys() & second.factors.keys():
                a_i, b_i, _ = first.factors[module]
                a_j, b_j, _ = second.factors[module]
                worst = max(worst, residual_overlap(a_i, b_i, a_j, b_j))
    return worst


def build_merged_model(
    heads_spec: HeadSpec,
    base_encoder: nn.Module,
    adapters: dict[str, LoraAdapter],
    heads_state: dict[str, torch.Tensor],
    method: str,
    lambdas: list[float],
    density: float | None = None,
    seed: int = 0,
) -> MultiTaskBert:
    """The multi-task model of a merge (base_encoder is consumed), in eval mode.

    adapters: {task: adapter} for every task; lambdas: one λ per task in TASKS order.
    eoe: each task gets its own copy θ + λᵢ ΔWᵢ. Others: one encoder θ + merged ΔW serves all
    three tasks, each through its own head.
    """
    method = check_method(method)
    lambdas = check_lambdas(lambdas, len(TASKS))
    density = check_density(method, density)
    missing = [t for t in TASKS if t not in adapters]
    if missing:
        raise ModelConfigError(f"merge needs an adapter per task; missing: {', '.join(missing)}")
    for p in base_encoder.parameters():
        p.requires_grad_(False)
    ordered = [adapters[t] for t in TASKS]
    if method == "eoe":
        copies = [base_encoder] + [copy.deepcopy(base_encoder) for _ in TASKS[1:]]
        encoders = {
            task: add_deltas(enc, {m: lam * adapter.delta(m) for m in adapter.factors})
            for task, enc, adapter, lam in zip(TASKS, copies, ordered, lambdas, strict=True)
        }
    else:
        weights = method_weights(method, lambdas)
        merged = merged_deltas(ordered, weights, method, density, seed)
        encoders = {SHARED: add_deltas(base_encoder, merged)}
    heads = build_heads(base_encoder.config.hidden_size, heads_spec)
    heads.load_state_dict(heads_state)
    model = MultiTaskBert(encoders, heads, heads_spec)
    model.requires_grad_(False)
    return model.eval()
