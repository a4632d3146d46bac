"""Registry of named studies: one data module per study in this folder."""

from __future__ import annotations

import importlib

from search_spaces.spec import StudySpec
from study.errors import UserError

STUDIES = (
    "smoke",
    "lora_sweep",
    "full_finetune",
    "multitask_order",
    "merge",
    "paper",
    "peft_methods",
)


def study_names() -> tuple[str, ...]:
    return STUDIES


def load_study(name: str) -> StudySpec:
    """The StudySpec of `name`; a UserError lists the known names otherwise."""
    if name not in STUDIES:
        raise UserError(f"unknown study {name!r}; known studies: {', '.join(STUDIES)}")
    spec = importlib.import_module(f"search_spaces.{name}").STUDY
    assert spec.name == name, f"search_spaces/{name}.py defines STUDY.name={spec.name!r}"
    return spec
