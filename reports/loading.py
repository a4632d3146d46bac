"""Read a study folder (or the paper's several folders) into one StudyData. Results only.

A study folder holds trials.jsonl and study.json (study/records/record.py). The report reads the rows
once, so a still-running study is reported as it stood at that moment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from study.errors import UserError
from study.folder_lock import holder
from study.records import TRIALS, StudyMeta, TrialRecord, read_meta, read_records
from study.records.decisions import DecidePlan, read_decide_plan

PAPER = "paper"
# The studies behind Tables 1-3 and Figures 1-2; "merge" holds the ensemble rows of Table 3.
PAPER_STUDIES = ("full_finetune", "lora_sweep", "multitask_order", "merge")


@dataclass
class Source:
    """One study folder that contributed rows."""

    name: str
    folder: Path
    meta: StudyMeta | None
    """Its study.json; None where it has none or it cannot be read."""
    rows: list[TrialRecord]
    trials_sha256: str
    decide: DecidePlan | None = None
    """Its decide.json (`run --decide`); None without one."""
    running: bool = False
    """A live process holds the folder (the study is still running)."""


@dataclass
class StudyData:
    """Everything a report is made from."""

    name: str
    out_dir: Path
    sources: list[Source]
    missing: list[str] = field(default_factory=list)

    def floors(self, split: str = "dev") -> dict[str, float] | None:
        """The no-training floors a study recorded for `split` (dev | val), from study.json."""
        for source in self.sources:
            found = source.meta.floors(split) if source.meta else None
            if found is not None:
                return found
        return None

    def first_points(self) -> dict[str, list[dict]]:
        """study -> the first points its spec pinned (study.json's resolved spec)."""
        out: dict[str, list[dict]] = {}
        for source in self.sources:
            spec = source.meta.spec if source.meta else {}
            points = spec.get("points_to_evaluate") if isinstance(spec, dict) else None
            out[source.name] = [p for p in points or () if isinstance(p, dict)]
        return out

    @property
    def rows(self) -> list[TrialRecord]:
        """All rows of all sources, each trial once (a trial copied into two folders counts once)."""
        seen: set[tuple] = set()
        out = []
        for source in self.sources:
            for row in source.rows:
                key = (row.study, row.trial_id, row.kind)
                if row.trial_id is not None and key in seen:
                    continue
                seen.add(key)
                out.append(row)
        return out


def load_study(name: str, out: str | Path | None = None) -> StudyData:
    """The study NAME from `out` (default runs/NAME); `paper` combines PAPER_STUDIES."""
    if name == PAPER:
        return _load_paper(Path(out) if out else Path("runs") / PAPER)
    if not out and (Path(name) / TRIALS).is_file():  # a study folder given as the name
        out, name = Path(name), Path(name).name
    folder = Path(out) if out else Path("runs") / name
    if not folder.is_dir():
        raise UserError(
            f"study folder {folder} not found; run `python -m study run {name}` first "
            "or pass --out DIR"
        )
    source = _read_source(name, folder)
    if source is None:
        raise UserError(f"study folder {folder} has no trials yet ({TRIALS} is missing or empty)")
    return StudyData(name=name, out_dir=folder, sources=[source])


def _load_paper(out_dir: Path) -> StudyData:
    """runs/paper's own rows (if any) plus each of PAPER_STUDIES: out_dir/NAME, else runs/NAME."""
    sources: list[Source] = []
    own = _read_source(PAPER, out_dir) if out_dir.is_dir() else None
    if own is not None:
        sources.append(own)
    missing = []
    for component in PAPER_STUDIES:
        # `run paper --out X` writes X/NAME; plain `run NAME` writes runs/NAME beside runs/paper.
        source = None
        for folder in (out_dir / component, out_dir.parent / component):
            source = _read_source(component, folder) if folder.is_dir() else None
            if source is not None:
                break
        if source is None:
            missing.append(component)
        else:
            sources.append(source)
    if not sources:
        tried = ", ".join(str(out_dir.parent / c) for c in PAPER_STUDIES)
        raise UserError(f"no study results for the paper report: none of {tried} has trials")
    return StudyData(name=PAPER, out_dir=out_dir, sources=sources, missing=missing)


def _read_source(name: str, folder: Path) -> Source | None:
    rows = read_records(folder)
    if not rows:
        return None
    meta = read_meta(folder)  # None while a study has none yet; a damaged one is one line
    digest = hashlib.sha256((folder / TRIALS).read_bytes()).hexdigest()
    return Source(
        name=(meta.study if meta else "") or name,
        folder=folder,
        meta=meta,
        rows=rows,
        trials_sha256=digest,
        decide=read_decide_plan(folder),
        running=holder(folder) is not None,
    )
