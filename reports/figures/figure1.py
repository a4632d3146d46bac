"""Figure 1: one transformer layer per setting, trained blocks coloured from the names a row records.

The colouring is derived, not drawn by hand: row.trained_params lists block 0's trainable
parameter names (model/adapters.py trained_layer_names), e.g. "attention.self.query.lora_A",
"intermediate.dense.bias" or, for full fine-tuning, "attention.self.query" (the weight).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Polygon, Rectangle

from model.peft_configs import SIZE_NAMES
from reports.palette import (
    FROZEN_COLOR,
    METHOD_LABELS,
    NO_PARAMS_COLOR,
    PAGE_SIZE,
    TRAINED_COLOR,
    page_note,
    page_title,
)
from reports.rows import config, trial_label
from study.records import TrialRecord

# Blocks of a BERT layer with parameters, matched as a prefix of the recorded name.
BLOCKS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "attention.output.LayerNorm",
    "intermediate.dense",
    "output.dense",
    "output.LayerNorm",
)
_PARTS = {"": "weight", "bias": "bias", "lora_A": "lora_A", "lora_B": "lora_B"}
_PARTS["lora_magnitude_vector"] = "magnitude"
# The other methods' tensors on a layer (IA3 scales, OFT/BOFT rotations, HRA reflections,
# VeRA's scales, AdaLoRA's singular values), drawn as one adapter mark.
for _tag in ("ia3_l", "oft_R", "boft_R", "boft_s", "hra_u", "vera_lambda_b", "vera_lambda_d"):
    _PARTS[_tag] = "adapter"
_PARTS["lora_E"] = "adapter"
# The paper's five settings (its Figure 1 a-e), drawn first in this order.
PAPER_SETTINGS = (
    ("full", "qkv", "none"),
    ("lora", "qkv", "none"),
    ("dora", "qkv", "none"),
    ("lora", "all_linear", "none"),
    ("lora", "all_linear", "all"),
)
MAX_PANELS = 9  # 2 x 3 panels, 3 x 3 beyond six settings


def block_parts(names: list[str]) -> tuple[dict[str, set[str]], list[str]]:
    """{block: {weight, bias, lora_A, lora_B, magnitude}} and the names no block matched."""
    parts: dict[str, set[str]] = {b: set() for b in BLOCKS}
    unknown = []
    for name in names:
        block = next((b for b in BLOCKS if name == b or name.startswith(b + ".")), None)
        part = _PARTS.get(name[len(block) + 1 :] if block else "", None) if block else None
        if block is None or part is None:
            unknown.append(name)
        else:
            parts[block].add(part)
    return parts, unknown


def setting_of(row: TrialRecord) -> tuple[str, str, str]:
    c = config(row)
    m = row.method
    if m == "full":
        return ("full", "qkv", "none")  # full trains everything; targets/bias do not apply
    if c.get("orthogonal"):
        m += "+ortho"  # OrthoAda: lora_A frozen on a shared orthogonal basis
    return (m, str(c.get("targets", "qkv")), str(c.get("bias", "none")))


def setting_label(setting: tuple[str, str, str]) -> str:
    m, targets, bias = setting
    if m == "full":
        return "Full fine-tuning"
    where = {"qkv": "query, key, value", "attn": "attention", "all_linear": "all linear"}
    base, _, ortho = m.partition("+")
    name = METHOD_LABELS.get(base, base) + (" orthogonal A" if ortho else "")
    return f"{name} ({where.get(targets, targets)}" + (" + bias)" if bias == "all" else ")")


def figure1(rows: list[TrialRecord]) -> tuple[Figure | None, str]:
    """The figure (None when no row records trained_params) and a note on what it shows."""
    chosen: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        if row.is_merge or not row.trained_params:
            continue
        chosen.setdefault(setting_of(row), row)
    if not chosen:
        return None, "no row records trained_params"
    order = [s for s in PAPER_SETTINGS if s in chosen]
    order += sorted(s for s in chosen if s not in PAPER_SETTINGS)
    shown, left_out = order[:MAX_PANELS], order[MAX_PANELS:]
    fig, axes = plt.subplots(2 if len(shown) <= 6 else 3, 3, figsize=PAGE_SIZE)
    page_title(
        fig,
        "Figure 1: one transformer layer per setting; trained blocks from the trained "
        "parameter names",
    )
    unknown_all: list[str] = []
    for i, ax in enumerate(axes.flat):
        if i >= len(shown):
            ax.axis("off")
            continue
        row = chosen[shown[i]]
        parts, unknown = block_parts(list(row.trained_params))
        unknown_all += unknown
        letter = "abcdefghi"[i]
        r = config(row).get("r")
        size = SIZE_NAMES.get(shown[i][0].partition("+")[0], "r")
        sub = f"trial {trial_label(row)}" + ("" if size == "-" else f", {size}={r}")
        _draw_layer(ax, parts, f"({letter}) {setting_label(shown[i])}\n{sub}")
    fig.legend(
        handles=[
            Patch(facecolor=TRAINED_COLOR, edgecolor="k", label="trained"),
            Patch(facecolor=FROZEN_COLOR, edgecolor="k", label="frozen"),
            Patch(facecolor=NO_PARAMS_COLOR, edgecolor="k", linestyle="--", label="no parameters"),
        ],
        loc="upper left",
        bbox_to_anchor=(0.03, 0.935),
        ncol=3,
        frameon=False,
    )
    note = (
        "Each panel is block 0 of the trial named. Big box: the weight matrix; 'b': its bias; "
        "trapezoids: LoRA A (down, to r) and B (up, from r); 'm': DoRA magnitude vector; 'a': "
        "another method's adapter on that layer (IA3 or VeRA scales, OFT/BOFT rotations, HRA "
        "reflections, AdaLoRA's singular values)."
    )
    if left_out:
        note += f" Not drawn (more than {MAX_PANELS} settings): " + "; ".join(
            map(setting_label, left_out)
        )
    if unknown_all:
        note += " Unrecognised names: " + ", ".join(sorted(set(unknown_all))[:6])
    page_note(fig, note)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.86, bottom=0.07, wspace=0.05, hspace=0.2)
    return fig, note


def _colour(on: bool) -> str:
    return TRAINED_COLOR if on else FROZEN_COLOR


def _box(ax: plt.Axes, x: float, y: float, w: float, label: str, parts: set[str] | None) -> None:
    """A block at (x, y) bottom-left, width w, height 0.8; parts None means no parameters."""
    h = 0.8
    if parts is None:
        ax.add_patch(Rectangle((x, y), w, h, facecolor=NO_PARAMS_COLOR, edgecolor="k", ls="--"))
        ax.text(x + w / 2, y + h / 2, label, ha="center", va="center", fontsize=7)
        return
    ax.add_patch(Rectangle((x, y), w, h, facecolor=_colour("weight" in parts), edgecolor="k"))
    ax.text(x + w / 2, y + h / 2, label, ha="center", va="center", fontsize=7)
    # bias: a small square on the box's left edge
    ax.add_patch(
        Rectangle((x - 0.45, y + 0.2), 0.4, 0.4, facecolor=_colour("bias" in parts), ec="k")
    )
    ax.text(x - 0.25, y + 0.4, "b", ha="center", va="center", fontsize=6)
    if "adapter" in parts:  # a mark right of the box (beside LoRA's trapezoids for AdaLoRA)
        ax_ = x + w + (0.9 if parts & {"lora_A", "lora_B"} else 0.1)
        ax.add_patch(Rectangle((ax_, y + 0.15), 0.5, 0.5, facecolor=TRAINED_COLOR, ec="k"))
        ax.text(ax_ + 0.25, y + 0.4, "a", ha="center", va="center", fontsize=6)
    if parts & {"lora_A", "lora_B", "magnitude"}:
        # LoRA: A narrows d -> r, B widens r -> d (two trapezoids right of the box)
        lx = x + w + 0.1
        ax.add_patch(
            Polygon(
                [(lx, y), (lx + 0.7, y), (lx + 0.5, y + 0.4), (lx + 0.2, y + 0.4)],
                facecolor=_colour("lora_A" in parts),
                edgecolor="k",
            )
        )
        ax.add_patch(
            Polygon(
                [(lx + 0.2, y + 0.4), (lx + 0.5, y + 0.4), (lx + 0.7, y + 0.8), (lx, y + 0.8)],
                facecolor=_colour("lora_B" in parts),
                edgecolor="k",
            )
        )
        if "magnitude" in parts:
            ax.add_patch(Rectangle((lx, y - 0.3), 0.7, 0.22, facecolor=TRAINED_COLOR, ec="k"))
            ax.text(lx + 0.35, y - 0.19, "m", ha="center", va="center", fontsize=6)


def _draw_layer(ax: plt.Axes, parts: dict[str, set[str]], title: str) -> None:
    """Bottom to top: Q K V, attention, attention output, Add&LN, FFN in, FFN out, Add&LN."""
    ax.set_xlim(-0.2, 12.2)
    ax.set_ylim(-0.6, 9.6)
    ax.axis("off")
    ax.set_title(title, fontsize=9)
    ax.annotate("", xy=(6, 0.7), xytext=(6, -0.5), arrowprops={"arrowstyle": "->"})
    for x, name, label in ((0.6, "query", "Query"), (4.6, "key", "Key"), (8.6, "value", "Value")):
        _box(ax, x, 0.8, 2.2, label, parts[f"attention.self.{name}"])
    _box(ax, 2.5, 2.0, 7.0, "scaled dot-product attention", None)
    stack = (
        (3.1, "attention.output.dense", "attention output (dense)"),
        (4.2, "attention.output.LayerNorm", "Add & LayerNorm"),
        (5.6, "intermediate.dense", "FFN in (intermediate.dense)"),
        (6.7, "output.dense", "FFN out (output.dense)"),
        (7.8, "output.LayerNorm", "Add & LayerNorm"),
    )
    for y, block, label in stack:
        _box(ax, 3.0, y, 6.0, label, parts[block])
    ax.annotate("", xy=(6, 9.5), xytext=(6, 8.6), arrowprops={"arrowstyle": "->"})
    ax.text(11.9, 5.0, "FFN", rotation=90, va="center", fontsize=7, color="#666666")
    ax.text(11.9, 2.0, "attention", rotation=90, va="center", fontsize=7, color="#666666")
