"""Every PEFT method as peft's own config: the one place a method name becomes a peft object.

Each method has one size parameter, `AdapterSpec.r`, read as the method reads it:

    lora, dora  rank r
    adalora     initial rank (init_r); target_r is the budget it prunes to
    vera        rank of the shared random projections (trainable: d_out + r per layer)
    ia3         none: one learned scale per feature (a few thousand parameters)
    oft, boft   block size b of the block-diagonal rotation; b must divide every in_features
    hra         number of Householder reflections (even: peft pairs them so the start is I)
"""

from __future__ import annotations

from typing import Any

from model.errors import ModelError

PEFT_METHODS = ("lora", "dora", "vera", "ia3", "oft", "boft", "hra", "adalora")
INITS = ("default", "gaussian", "pissa", "olora")
# Inits that move W's principal part into the adapter (the base weights become W - B0 A0).
MUTATING_INITS = ("pissa", "olora")
# What `r` means per method (the methods table prints it).
SIZE_NAMES = {
    "full": "-",
    "lora": "r",
    "dora": "r",
    "adalora": "init r",
    "vera": "r (shared)",
    "ia3": "-",
    "oft": "block",
    "boft": "block",
    "hra": "reflections",
}
# Methods whose count is set by the model, not by a size (shown "natural size" in reports).
NATURAL_SIZE = ("vera", "ia3")
# Optional AdapterSpec fields each method takes; anything else must keep its default.
OPTIONS = {
    "lora": ("alpha", "dropout", "bias", "rslora", "init", "orthogonal"),
    "dora": ("alpha", "dropout", "bias", "rslora"),
    "adalora": ("alpha", "dropout", "bias", "target_r"),
    "vera": ("dropout", "bias"),
    "ia3": (),
    "oft": ("dropout", "bias"),
    "boft": ("dropout", "bias"),
    "hra": ("bias",),
}
# IA3 scales the *input* of feed-forward output layers (the FFN's second linear).
IA3_FEEDFORWARD = r".*layer\.\d+\.output\.dense"
# Name fragments of adapter tensors, for the base-parameter count.
ADAPTER_TAGS = ("lora_", "magnitude", "vera_", "ia3_", "oft_", "boft_", "hra_", "ranknum")


def check_size(method: str, r: int, target_r: int) -> None:
    """The size parameter's own rules, as one-line ModelErrors."""
    if method == "hra" and r % 2:
        raise ModelError(f"hra needs an even r (got {r}): peft pairs reflections to start at I")
    if method == "adalora" and not 1 <= target_r <= r:
        raise ModelError(f"adalora target_r={target_r} is invalid: must be 1..r (r={r})")


def adalora_schedule(total_step: int) -> dict[str, int]:
    """AdaLoRA's budget schedule over a trial's optimizer steps: warm up 10%, prune until 80%,
    then hold the final ranks (peft requires tinit < total_step - tfinal, so at least 3)."""
    total = max(total_step, 3)
    tinit, tfinal = max(1, total // 10), max(1, total // 5)
    return {"total_step": total, "tinit": tinit, "tfinal": tfinal, "deltaT": max(1, total // 20)}


def peft_config(spec: Any) -> Any:  # an AdapterSpec -> a peft config
    """peft's config for spec (any method but full)."""
    import peft

    targets = list(spec.targets)
    m = spec.method
    check_size(m, spec.r, spec.target_r)
    if m in ("lora", "dora"):
        init = {"default": True, "gaussian": "gaussian"}.get(spec.init, spec.init)
        return peft.LoraConfig(
            r=spec.r,
            lora_alpha=spec.alpha,
            lora_dropout=spec.dropout,
            target_modules=targets,
            bias=spec.bias,
            use_dora=m == "dora",
            use_rslora=spec.rslora,
            init_lora_weights=init,
        )
    if m == "adalora":
        return peft.AdaLoraConfig(
            init_r=spec.r,
            target_r=spec.target_r,
            lora_alpha=spec.alpha,
            lora_dropout=spec.dropout,
            target_modules=targets,
            bias=spec.bias,
            **adalora_schedule(spec.total_step),
        )
    if m == "vera":  # a fixed projection seed, saved with the adapter, so it reloads anywhere
        return peft.VeraConfig(
            r=spec.r,
            target_modules=targets,
            vera_dropout=spec.dropout,
            bias=spec.bias,
            projection_prng_key=0,
            save_projection=True,
        )
    if m == "ia3":
        return peft.IA3Config(target_modules=targets, feedforward_modules=IA3_FEEDFORWARD)
    if m == "oft":
        return peft.OFTConfig(
            r=0,
            oft_block_size=spec.r,
            target_modules=targets,
            module_dropout=spec.dropout,
            bias=spec.bias,
        )
    if m == "boft":  # one butterfly factor: more need peft's CUDA extension
        return peft.BOFTConfig(
            boft_block_size=spec.r,
            boft_block_num=0,
            boft_n_butterfly_factor=1,
            target_modules=targets,
            boft_dropout=spec.dropout,
            bias=spec.bias,
        )
    if m == "hra":
        return peft.HRAConfig(r=spec.r, target_modules=targets, bias=spec.bias, apply_GS=False)
    raise ModelError(f"method={m!r} has no peft config: must be one of {', '.join(PEFT_METHODS)}")


def check_shapes(method: str, r: int, in_features: dict[str, int]) -> None:
    """OFT/BOFT: the block size must divide every adapted layer's in_features (peft would
    silently pick another size, so the count would not be the one asked for)."""
    if method not in ("oft", "boft"):
        return
    bad = sorted({f for f in in_features.values() if f % r})
    if bad:
        sizes = sorted(set(in_features.values()))
        raise ModelError(
            f"{method} block size r={r} must divide every adapted in_features {sizes} "
            f"(not {bad[0]})"
        )
