"""The GEMM peak beside which steps are judged, and the FLOPs a training step does.

FLOP estimate per step (T = padded tokens of the batch, N = weights of the encoder's linear
layers, embeddings excluded since a lookup is no GEMM; L layers, d hidden, S padded length):
    full:      6·N·T                 forward 2NT, backward dX 2NT, backward dW 2NT
    lora/dora: 4·N·T + 6·n_a·T       forward 2NT + backward dX 2NT over the frozen base (no
                                     weight-gradient GEMM for frozen weights), and the adapters'
                                     own A/B products (n_a adapter weights) in all three passes;
                                     less block 0's q/k/v dX (their input, the frozen
                                     embeddings, needs no gradient)
    dora adds  6·Σ d_out·d_in·r      forming W0 + BA for the column norms, forward and backward
    all add    3·4·B·S²·d·L          attention scores and values (no weights, so x3 in training)
The heads' few thousand weights are left out.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from study.config import TrialConfig

PRECISIONS = ("fp32", "bf16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
CPU = torch.device("cpu")


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously; a host clock needs this)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemm_gflops(
    dtype: torch.dtype,
    m: int,
    k: int,
    n: int,
    seconds: float = 1.0,
    device: torch.device = CPU,
) -> float:
    """Best GFLOP/s of torch.mm (m, k) @ (k, n) over repeated timed runs lasting ~`seconds`.

    On CUDA a sample is 20 products between two synchronizations (one product of the small
    shape takes microseconds, about a launch)."""
    a = torch.randn(m, k, device=device).to(dtype)
    b = torch.randn(k, n, device=device).to(dtype)
    reps = 20 if device.type == "cuda" else 1
    for _ in range(reps):
        torch.mm(a, b)  # warm-up (oneDNN / cuBLAS pick their kernel)
    sync(device)
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        sync(device)
        best = min(best, (time.perf_counter() - t0) / reps)
    return 2.0 * m * k * n / best / 1e9


def gemm_peak(
    quick: bool, device: torch.device = CPU, precisions: tuple[str, ...] = PRECISIONS
) -> dict[str, Any]:
    """Large square GEMM peak per precision, and the peak at the encoder's typical shape."""
    size = (4096 if quick else 8192) if device.type == "cuda" else (1024 if quick else 2048)
    seconds = 0.5 if quick else 2.0
    out: dict[str, Any] = {"size": size, "device": device.type}
    for name in precisions:
        dtype = DTYPES[name]
        out[f"{name}_gflops"] = gemm_gflops(dtype, size, size, size, seconds, device)
        # 32 sentences x ~32 tokens through the 384 -> 1536 intermediate layer of MiniLM
        out[f"shape_{name}_gflops"] = gemm_gflops(dtype, 1024, 384, 1536, seconds / 2, device)
    return out


def linear_shapes(encoder: torch.nn.Module) -> list[tuple[int, int]]:
    """(d_out, d_in) of every frozen-or-not base Linear inside the encoder blocks."""
    shapes = []
    for name, module in encoder.named_modules():
        if isinstance(module, torch.nn.Linear) and ".layer." in name and "lora_" not in name:
            shapes.append(tuple(module.weight.shape))
    return shapes


def step_flops(
    method: str, encoder: torch.nn.Module, config: TrialConfig, batch_shape: tuple[int, int]
) -> float:
    """Training FLOPs of one step (see the module docstring)."""
    b, s = batch_shape
    tokens = b * s
    shapes = linear_shapes(encoder)
    n_base = sum(o * i for o, i in shapes)
    cfg = encoder.config if hasattr(encoder, "config") else encoder.base_model.model.config
    attention = 3 * 4 * b * s * s * cfg.hidden_size * cfg.num_hidden_layers
    if method == "full":
        return 6.0 * n_base * tokens + attention
    adapter = sum(p.numel() for n, p in encoder.named_parameters() if "lora_" in n)
    flops = 4.0 * n_base * tokens + 6.0 * adapter * tokens + attention
    if not any(p.requires_grad for n, p in encoder.named_parameters() if ".embeddings." in n):
        # block 0's query/key/value read the frozen embeddings: autograd skips their dX GEMM
        first = sum(
            m.in_features * m.out_features
            for n, m in encoder.named_modules()
            if ".layer.0.attention.self." in n
            and isinstance(m, torch.nn.Linear)
            and "lora_" not in n
        )
        flops -= 2.0 * first * tokens
    if method == "dora":
        flops += 6.0 * sum(
            m.in_features * m.out_features * config.r
            for n, m in encoder.named_modules()
            if n.endswith("base_layer") and isinstance(m, torch.nn.Linear)
        )
    return flops
