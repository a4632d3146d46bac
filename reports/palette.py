"""One palette for every page: a method, target set, head design or status keeps its colour.

Also the matplotlib settings every figure shares (TrueType fonts embedded, sizes for A4).
"""

from __future__ import annotations

import matplotlib
import matplotlib.figure

# Colour-blind-safe (Okabe-Ito) hues.
METHOD_COLORS = {
    "full": "#0072B2",  # blue
    "lora": "#E69F00",  # orange
    "dora": "#009E73",  # green
    "adalora": "#56B4E9",  # sky blue
    "vera": "#D55E00",  # vermillion
    "ia3": "#000000",  # black
    "oft": "#8C564B",  # brown
    "boft": "#BCBD22",  # olive
    "hra": "#17BECF",  # cyan
    "merge": "#CC79A7",  # purple-pink: merged / ensembled adapters
}
METHOD_LABELS = {"full": "full fine-tuning", "lora": "LoRA", "dora": "DoRA", "merge": "merge"}
METHOD_LABELS |= {"adalora": "AdaLoRA", "vera": "VeRA", "ia3": "IA3", "oft": "OFT"}
METHOD_LABELS |= {"boft": "BOFT", "hra": "HRA"}
TARGET_COLORS = {"qkv": "#0072B2", "attn": "#D55E00", "all_linear": "#009E73"}
TARGET_LABELS = {
    "qkv": "query, key, value",
    "attn": "qkv + attn. output",
    "all_linear": "all linear",
}
DESIGN_COLORS = {1: "#56B4E9", 2: "#E69F00", 3: "#D55E00"}
PAPER_COLOR = "#555555"
# Figure 1: the paper draws trained blocks in yellow.
TRAINED_COLOR = "#F5C518"
FROZEN_COLOR = "#DDDDDD"
NO_PARAMS_COLOR = "#FFFFFF"

STATUS_MARKERS = {"completed": "o", "stopped_early": "x", "merge": "D"}

PAGE_SIZE = (11.69, 8.27)  # A4 landscape, inches
PORTRAIT_SIZE = (8.27, 11.69)


def method_color(method: str) -> str:
    return METHOD_COLORS.get(method, "#999999")


def setup_matplotlib() -> None:
    """Headless backend, embedded TrueType fonts (pdf.fonttype 42), readable sizes."""
    matplotlib.use("Agg")
    matplotlib.rcParams.update(
        {
            "pdf.fonttype": 42,
            "ps.fonttype": 42,
            "font.family": "DejaVu Sans",
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.labelsize": 9,
            "legend.fontsize": 8,
            "xtick.labelsize": 8,
            "ytick.labelsize": 8,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )


def page_title(fig: matplotlib.figure.Figure, text: str) -> None:
    """The page heading, top left, same place on every page."""
    fig.suptitle(text, x=0.03, y=0.97, ha="left", fontsize=13, fontweight="bold")


def page_note(fig: matplotlib.figure.Figure, text: str) -> None:
    """A caption under the plots, above the page footer."""
    fig.text(0.03, 0.03, text, fontsize=7, ha="left", va="bottom", wrap=True)


def page_legend(fig: matplotlib.figure.Figure, handles: list, labels: list | None = None) -> None:
    """A one-row legend under the page heading (leave top=0.86 for the axes)."""
    kwargs = {"labels": labels} if labels is not None else {}
    fig.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(0.03, 0.935),
        ncol=min(len(handles), 6),
        frameon=False,
        **kwargs,
    )


FLOOR_COLOR = "#777777"


def floor_line(ax, floors: dict | None, metric: str, label: bool = True) -> None:  # noqa: ANN001
    """The no-training floor of `metric` as a dotted horizontal line (nothing without one)."""
    value = (floors or {}).get(metric)
    if value is None:
        return
    ax.axhline(value, color=FLOOR_COLOR, ls=":", lw=1.2, zorder=0)
    if label:
        ax.annotate(
            "no training",
            (1.0, value),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=7,
            color=FLOOR_COLOR,
        )
