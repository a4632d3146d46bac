"""`python -m study report NAME [--out DIR]`: the PDF report of a study folder (or `paper`).

Reads only stored results; never imports Ray and never trains. Prints how many trials it used.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from reports.loading import PAPER, load_study
from reports.render.pdf import build_report
from study.options import ReportOptions


def run(options: ReportOptions) -> int:
    """Build the report; a missing or empty study folder is a UserError (exit 2)."""
    name, out = options.study, options.out
    data = load_study(name, out or None)
    command = "python -m study report " + shlex.quote(name)
    if out:
        command += " --out " + shlex.quote(out)
    png = os.environ.get("PEFT_STUDY_REPORT_PNG", "")  # debugging aid: also save pages as PNG
    report = build_report(data, command, Path(png) if png else None)
    if name == PAPER:
        found = ", ".join(f"{s.name} ({s.folder})" for s in data.sources)
        print(f"combined: {found}", file=sys.stderr)
        if data.missing:
            print(f"missing studies: {', '.join(data.missing)}", file=sys.stderr)
    print(
        f"used {report.used} of {report.total} trials (completed or stopped early; "
        f"errored rows are counted only)"
    )
    for text in report.skipped:
        print(f"not in report: {text}", file=sys.stderr)
    print(f"wrote {report.pdf} ({report.pages} pages) and {report.html}")
    if report.tables:
        print(f"wrote {len(report.tables)} table files in {report.tables[0].parent}")
    return 0
