"""Shared fixtures: tiny BERT configs, writers for data files, the project's data folder."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Two xdist workers share 2 cores: OpenMP threads that spin while they wait would take the
# other worker's core (read by libgomp when torch loads, so before any test imports it).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

PROJECT = Path(__file__).resolve().parent.parent
DATA = PROJECT / "data"


@pytest.fixture
def tiny_bert_config():
    """A 2-layer, 32-wide BertConfig: enough structure for peft, built in milliseconds."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )


SMALL_ROWS = {"train": 300, "dev": 150, "test": 40}


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:  # noqa: ANN001
    """The first rows of every real data file, headers kept verbatim (so sst-test-student.csv
    keeps its odd header and there is no Quora test file): whole-file predictions stay fast.
    Dev keeps its 150 first rows, so dev_per_task=64 still subsamples it."""
    from study.data.files import FILE_NAMES, PROJECT_DATA

    folder = tmp_path_factory.mktemp("small_data")
    for (_task, split), name in FILE_NAMES.items():
        src = PROJECT_DATA / name
        if src.is_file():
            lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
            (folder / name).write_text("".join(lines[: SMALL_ROWS[split] + 1]), encoding="utf-8")
    return folder


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """write_file(name, content) -> path under tmp_path (str is written as UTF-8)."""

    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


@pytest.fixture(autouse=True)
def _no_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from the defaults, whatever the developer's shell exports."""
    monkeypatch.delenv("PEFT_STUDY_DATA_DIR", raising=False)
    monkeypatch.delenv("PEFT_STUDY_MODEL_PATH", raising=False)


def train_steps_bf16(model, config, batch: dict, steps: int) -> list[float]:  # noqa: ANN001
    """`steps` SST training steps of `model` on one batch under CPU bf16 autocast; the losses."""
    import torch

    from model.heads import task_loss
    from study.train.loop import make_optimizer

    optimizer = make_optimizer(model, config)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = task_loss("sst", model("sst", batch), batch["labels"])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def read_rows(study_dir) -> list[dict]:  # noqa: ANN001
    """trials.jsonl as the plain dicts the file holds, each read through TrialRecord."""
    from study.records import read_records

    return [record.to_dict() for record in read_records(study_dir)]


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (its hook has no order)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """One xdist group per test module, so module fixtures are built once; one group for every
    `local_ray` test, so two of them never share this machine (ports, process scans, timing)."""
    for item in items:
        module = str(item.path.relative_to(config.rootpath))
        group = "local_ray" if item.get_closest_marker("local_ray") else module
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_configure(config: pytest.Config) -> None:
    """pytest 9.2 no longer reads the test ids xdist 3.8 rewrites to carry the groups
    (pytest-xdist#1386): two local_ray tests would then run at once. Stop instead."""
    version = tuple(int(p) for p in pytest.__version__.split(".")[:2] if p.isdigit())
    if config.getoption("dist", "no") == "loadgroup" and version >= (9, 2):
        raise pytest.UsageError(
            f"pytest {pytest.__version__} ignores xdist's test groups (pytest-xdist#1386):"
            " pip install -e '.[dev]' (pytest<9.2), or run with -n 0"
        )


@pytest.fixture(autouse=True)
def _alone(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """An `alone` test runs while no test runs on the other xdist worker: every test holds a
    shared lock on one file of this run, an `alone` test an exclusive one."""
    path = tmp_path_factory.getbasetemp().parent / "alone.lock"
    alone = request.node.get_closest_marker("alone") is not None
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        yield
