"""The title page names what was selected in the terms that mean something for it."""

from __future__ import annotations

from reports.provenance import REPORT_LIBRARIES, selection_lines
from tests.reports.synthetic import record


def test_a_full_finetune_selection_is_named_by_its_head_and_order_not_by_r_and_targets():
    """Full fine-tuning trains every weight: r=16 and q/k/v (the config's unused defaults) are
    not what it is. Design 2 has the best validation (0.76): the line names its design, order
    and seed."""
    full = {"method": "full", "mode": "sequential", "task_order": ["sst", "para", "sts"]}
    rows = [
        record("d1", 0, 0.56, val=0.60, head_design=1, **full),
        record("d2", 0, 0.72, val=0.76, head_design=2, **full),
    ]
    (_, (_, study, text), _) = selection_lines(rows, None)
    assert study == "synthetic"
    assert text.startswith("trial d2 (full fine-tuning, head design 2, order SST-Para-STS, seed 0)")
    assert "r=" not in text and "qkv" not in text


def test_a_lora_selection_keeps_its_adapter_fields():
    rows = [record("a", 1, 0.70, r=64, targets="all_linear", bias="all")]
    (_, (_, _, text), _) = selection_lines(rows, None)
    assert text.startswith("trial a (lora r=64 all_linear bias all, seed 1)")


def test_the_title_page_lists_only_libraries_the_report_uses():
    """pypdf reads the PDF in the tests only; listed, a plain install printed 'pypdf unknown'."""
    assert "pypdf" not in REPORT_LIBRARIES
