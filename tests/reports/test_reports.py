"""The report package on synthetic study folders (rows written in the trials.jsonl schema)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from reports import cli as report_cli
from reports.loading import load_study
from reports.render.pdf import build_report
from study.errors import UserError
from study.options import ReportOptions
from tests.reports.fixtures.report_study import (
    STUDY_META,
    mixed_rows,
    train_row,
    write_study,
)

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = pd.read_csv(ROOT / "study" / "reference" / "paper_tables.csv")
VALUES = ("sst", "para", "sts", "overall", "params_pct")


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)  # pandas 3 parses floats round-trip


def _pdf_text(path: Path, page: int = 0) -> str:
    """The page's text with line breaks and runs of spaces as single spaces."""
    return " ".join(PdfReader(path).pages[page].extract_text().split())


def _title_pages(path: Path) -> int:
    """How many pages the title takes: it depends on the length of the folder paths it names
    (pytest's tmp_path is longer under xdist). Its contents list the first page after it."""
    text = " ".join(_pdf_text(path, page) for page in range(4))
    return int(re.search(r"Contents page (\d+) ", text).group(1)) - 1


def _body_pages(path: Path) -> int:
    """The pages after the title pages."""
    return len(PdfReader(path).pages) - _title_pages(path)


def _title_text(path: Path) -> str:
    return " ".join(_pdf_text(path, page) for page in range(_title_pages(path)))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """One full report of a study with every kind of row, built once for this module."""
    folder = tmp_path_factory.mktemp("study") / "synthetic"
    rows = mixed_rows()
    write_study(folder, rows, STUDY_META, journal=True)
    report = build_report(load_study("synthetic", folder), "python -m study report synthetic")
    return folder, rows, report


def test_pdf_has_one_page_per_section_and_all_table_files(mixed):
    folder, _, report = mixed
    # title, findings, Tables 1-3, Figures 1-2, Pareto, score vs r, expected validation
    # performance, importances, curves, wall time
    assert _body_pages(folder / "report.pdf") == 12
    assert len(PdfReader(folder / "report.pdf").pages) == report.pages
    assert (folder / "tables" / "findings.csv").stat().st_size > 0
    for n in (1, 2, 3):
        for ext in ("csv", "md", "tex"):
            assert (folder / "tables" / f"table{n}.{ext}").stat().st_size > 0
    assert report.skipped == []
    assert not (folder / "report.pdf.tmp").exists()


def test_title_page_says_how_it_was_made_and_what_it_used(mixed):
    folder, _, _ = mixed
    text = _pdf_text(folder / "report.pdf")
    assert "python -m study report synthetic" in text
    assert "21 of 23 rows: 20 completed" in text and "2 errored" in text
    assert "partial or still running: 19 of 40" in text
    assert "TPESampler" in text and "ASHA" in text and "Synthetic CPU" in text
    assert "ab" * 32 in text  # model checksum
    assert "transformers unknown" in text  # absent from study.json and rows
    meta = PdfReader(folder / "report.pdf").metadata
    assert meta.title == "peft-study report: synthetic"
    assert "python -m study report synthetic" in meta.subject


def test_fonts_are_embedded(mixed):
    folder, _, _ = mixed
    for page in PdfReader(folder / "report.pdf").pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            desc = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            assert "/FontFile2" in desc["/FontDescriptor"].get_object(), font["/BaseFont"]


def _single_task_groups(rows):
    groups = {}
    for r in rows:
        c = r["config"]
        if r["kind"] == "train" and r["status"] == "completed" and c["mode"] == "single_task":
            groups.setdefault((c["method"], c["r"], c["targets"], c["bias"]), []).append(r)
    return groups


def test_table2_csv_holds_exactly_the_input_values(mixed):
    folder, rows, _ = mixed
    table = _csv(folder / "tables" / "table2.csv")
    groups = _single_task_groups(rows)
    assert sorted(groups) != [] and (table["n"] > 0).sum() == len(groups)
    for (m, r, t, b), members in groups.items():
        hit = table[(table.method == m) & (table.r == r) & (table.targets == t) & (table.bias == b)]
        assert len(hit) == 1
        got = hit.iloc[0]
        assert got["n"] == len(members)
        assert set(got["trials"].split()) == {x["trial_id"] for x in members}
        for name in VALUES:
            vals = [x[name] for x in members]
            assert got[name] == (vals[0] if len(vals) == 1 else float(np.mean(vals)))
            assert got[f"{name}_min"] == min(vals) and got[f"{name}_max"] == max(vals)
    repeated = table[(table.r == 16) & (table.targets == "qkv")].iloc[0]
    assert repeated["n"] == 2 and repeated["sst_std"] > 0


def test_paper_columns_equal_the_reference_csv(mixed):
    folder, _, _ = mixed
    ref = REFERENCE[REFERENCE["table"] == 2]
    table = _csv(folder / "tables" / "table2.csv")
    for _, row in ref.iterrows():
        hit = table[
            (table.method == row["method"].lower())
            & (table.r == row["r"])
            & (table.targets == row["targets"])
            & (table.bias == row["bias"])
        ]
        assert len(hit) == 1, row["method"]
        for name in VALUES:
            assert hit.iloc[0][f"{name}_paper"] == row[name]
    assert table[table.targets == "attn"]["overall_paper"].isna().all()  # not a paper row
    dev = REFERENCE[(REFERENCE["table"] == 1) & (REFERENCE["split"] == "dev")].iloc[0]
    t1 = _csv(folder / "tables" / "table1.csv")
    chosen = t1.iloc[0]  # the design-3 configuration chosen on validation: beside the paper
    assert chosen["setting"] == "design 3, chosen on validation"
    assert all(chosen[f"{v}_paper"] == dev[v] for v in VALUES)
    assert t1.iloc[1:]["overall_paper"].isna().all()
    t3 = _csv(folder / "tables" / "table3.csv")
    seq = REFERENCE[(REFERENCE["table"] == 3) & (REFERENCE["group"] == "sequential")]
    for _, row in seq.iterrows():
        assert t3[t3.task_order == row["order"]].iloc[0]["sts_paper"] == row["sts"]
    avgfed = REFERENCE[REFERENCE["method"] == "AvgFed"].iloc[0]
    fedavg = t3[t3.merge_method == "fedavg"]
    # the λ chosen on validation (0.5, 0.25, 0.25 here), then the paper's λ beside its value
    assert list(fedavg.name) == [
        "FedAvg (paper: AvgFed), chosen on validation",
        "FedAvg (paper: AvgFed), the paper's λ",
    ]
    assert fedavg.iloc[0]["overall_paper"] != fedavg.iloc[0]["overall_paper"]  # NaN
    assert fedavg.iloc[1]["overall_paper"] == avgfed["overall"]


def test_table_choices_are_on_validation_and_rows_are_configurations(mixed):
    """The synthetic rows have no validation score (rows made before the validation split):
    selection falls back to dev, by the mean over a configuration's seeds."""
    folder, rows, _ = mixed
    t1 = _csv(folder / "tables" / "table1.csv")
    full = [r for r in rows if r["config"].get("method") == "full"]
    design3 = [r for r in full if r["config"]["head_design"] == 3]
    by_order = {}
    for r in design3:
        by_order.setdefault(tuple(r["config"]["task_order"]), []).append(r)
    means = {o: float(np.mean([r["overall"] for r in g])) for o, g in by_order.items()}
    best = max(means, key=means.get)
    chosen = t1.iloc[0]
    assert chosen["n"] == len(by_order[best]) and chosen["overall"] == pytest.approx(means[best])
    assert set(chosen["trials"].split()) == {r["trial_id"] for r in by_order[best]}
    # one row per configuration (3 designs x 2 orders), then one pooled row per design
    per_config = t1[~t1.setting.str.contains("chosen|pooled")]
    assert len(per_config) == 6 and per_config["n"].sum() == len(full)
    pooled = t1[t1.setting.str.contains("pooled")]
    assert list(pooled.setting) == [f"design {d}, pooled over 2 orders" for d in (1, 2, 3)]
    assert pooled["overall_ci_low"].isna().all() and (pooled.task_order == "pooled").all()
    t3 = _csv(folder / "tables" / "table3.csv")
    fedavg = [r for r in rows if r["kind"] == "merge" and r["config"]["merge_method"] == "fedavg"]
    winner = max(fedavg, key=lambda r: r["overall"])
    got = t3[t3.merge_method == "fedavg"]
    assert got.iloc[0]["trials"] == winner["trial_id"] and got.iloc[0]["n_settings"] == 2
    assert got.iloc[0]["lambdas"] == " ".join(repr(x) for x in winner["config"]["lambdas"])
    every = " ".join(
        _csv(folder / "tables" / f"table{n}.csv")["trials"].fillna("").str.cat(sep=" ")
        for n in (1, 2, 3)
    )
    assert "st_stopped" not in every.split() and "st_err" not in every.split()


def test_markdown_bolds_the_best_value_of_ours(mixed):
    folder, rows, _ = mixed
    md = (folder / "tables" / "table2.md").read_text()
    best = max(float(np.mean([r["sst"] for r in g])) for g in _single_task_groups(rows).values())
    assert f"**{best:.3f}**" in md
    assert r"\textbf{" in (folder / "tables" / "table2.tex").read_text()


def test_missing_or_empty_study_folder_is_a_user_error(tmp_path):
    args = ReportOptions(study="lora_sweep", out=str(tmp_path / "absent"))
    with pytest.raises(UserError, match="not found"):
        report_cli.run(args)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no trials yet"):
        report_cli.run(ReportOptions(study="x", out=str(tmp_path / "empty")))
    (tmp_path / "empty" / "trials.jsonl").write_text("")
    with pytest.raises(UserError, match="no trials yet"):
        load_study("x", tmp_path / "empty")
    with pytest.raises(UserError, match="no study results for the paper report"):
        load_study("paper", tmp_path / "runs" / "paper")


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "study", "report", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_reports_a_partial_study_and_exits_2_on_a_missing_folder(tmp_path):
    rng = np.random.default_rng(1)
    rows = [
        train_row("a", rng, method="lora", r=4),
        train_row("b", rng, method="lora", r=8, targets="all_linear"),
    ]
    folder = write_study(tmp_path / "part", rows)  # no study.json: a study just started
    done = _run_cli("part", "--out", str(folder))
    assert done.returncode == 0, done.stderr
    assert "used 2 of 2 trials" in done.stdout
    # title, findings, Table 2, Figure 1, Pareto, score vs r, expected validation performance,
    # learning curves, wall time
    assert _body_pages(folder / "report.pdf") == 8
    text = _title_text(folder / "report.pdf")
    assert "2 of 2 rows" in text and "samples requested unknown" in text
    assert "no Optuna journal" in text  # the skipped page is named on the title page
    assert sorted(p.name for p in (folder / "tables").iterdir()) == [
        "evp.csv",
        "findings.csv",
        "table2.csv",
        "table2.md",
        "table2.tex",
    ]
    missing = _run_cli("nothing", "--out", str(tmp_path / "nothing"))
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and missing.stderr.startswith("error:")


def test_paper_report_combines_the_studies_and_names_the_missing(tmp_path):
    runs = tmp_path / "runs"
    rows = mixed_rows(seed=3)
    full = [r for r in rows if r["kind"] == "train" and r["config"]["method"] == "full"]
    single = [r for r in rows if r["kind"] == "train" and r["config"]["mode"] == "single_task"]
    merges = [r for r in rows if r["kind"] == "merge"]
    write_study(runs / "full_finetune", full, {**STUDY_META, "study": "full_finetune"})
    write_study(runs / "lora_sweep", single)
    write_study(runs / "merge", merges)
    data = load_study("paper", runs / "paper")
    assert data.missing == ["multitask_order"]
    assert [s.name for s in data.sources] == ["full_finetune", "lora_sweep", "merge"]
    report = build_report(data, "python -m study report paper")
    assert report.pdf == runs / "paper" / "report.pdf"
    assert report.total == len(full) + len(single) + len(merges)
    # title (three studies' settings), findings, Tables 1-3, Figures 1-2, Pareto, score vs r,
    # expected validation performance, curves, wall time; no importances (no journal)
    assert _body_pages(report.pdf) == 11 and len(PdfReader(report.pdf).pages) == report.pages
    text = _pdf_text(report.pdf)
    assert "missing studies multitask_order" in text
    assert "source lora_sweep" in text and "study.json absent" in text
    contents = _pdf_text(report.pdf, 1)
    assert "page 3 Findings: the paper's claims" in contents  # the first page after the title
    assert "page 4 Table 1: full fine-tuning, dev" in contents
    assert "Table 1: full fine-tuning" in _pdf_text(report.pdf, 3)
    t3 = _csv(runs / "paper" / "tables" / "table3.csv")
    assert set(t3[t3.n > 0]["merge_method"]) == {"eoe", "fedavg", "ties"}
