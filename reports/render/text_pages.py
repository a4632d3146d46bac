"""Render title-page lines (provenance.Line) as A4-landscape text pages, paginated."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from reports.palette import PAGE_SIZE

LINE_HEIGHT = 0.022  # figure fraction per text line at 8.5 pt
TOP, BOTTOM = 0.95, 0.06
KEY_X, VALUE_X = 0.05, 0.2
VALUE_WIDTH = 140  # characters per wrapped value line
_HEIGHTS = {"title": 2.4, "heading": 1.7, "text": 1.0, "item": 1.0}


def _wrapped(kind: str, key: str, value: str) -> list[tuple[str, str, str]]:
    """Split one line into physical lines (kind, key or '', text)."""
    if kind == "title":
        return [(kind, "", value)]
    if kind == "heading":
        return [(kind, "", value)]
    width = VALUE_WIDTH if kind == "item" else VALUE_WIDTH + 25
    parts = textwrap.wrap(value, width) or [""]
    return [(kind, key if i == 0 else "", p) for i, p in enumerate(parts)]


def paginate(lines: list[tuple[str, str, str]]) -> list[list[tuple[str, str, str]]]:
    pages: list[list[tuple[str, str, str]]] = [[]]
    used = 0.0
    capacity = (TOP - BOTTOM) / LINE_HEIGHT
    for line in lines:
        for physical in _wrapped(*line):
            height = _HEIGHTS[physical[0]]
            if used + height > capacity and pages[-1]:
                pages.append([])
                used = 0.0
            pages[-1].append(physical)
            used += height
    return pages


def text_pages(lines: list[tuple[str, str, str]]) -> list[Figure]:
    figures = []
    for page in paginate(lines):
        fig = plt.figure(figsize=PAGE_SIZE)
        y = TOP
        for kind, key, text in page:
            if kind == "title":
                fig.text(KEY_X, y, text, fontsize=20, fontweight="bold", va="top")
            elif kind == "heading":  # half a line of space above
                fig.text(
                    KEY_X, y - LINE_HEIGHT * 0.5, text, fontsize=12, fontweight="bold", va="top"
                )
            elif kind == "item":
                fig.text(KEY_X + 0.01, y, key, fontsize=8.5, color="#444444", va="top")
                fig.text(VALUE_X, y, text, fontsize=8.5, va="top")
            else:
                fig.text(KEY_X, y, text, fontsize=8.5, va="top")
            y -= LINE_HEIGHT * _HEIGHTS[kind]
        figures.append(fig)
    return figures


def page_count(lines: list[tuple[str, str, str]]) -> int:
    return len(paginate(lines))
