"""`study params` and `--max-params-pct`: the exact count before training, as a CLI answer and
as a constraint that prunes a real study's proposals before they run (a real local Ray)."""

from __future__ import annotations

import json

import pytest

from model.param_count import count_parameters
from study.scales import scale_config
from tests.cli.bad_input_helpers import run_cli
from tests.conftest import read_rows

pytestmark = pytest.mark.local_ray


def test_params_prints_peft_s_line_then_the_exact_count_as_one_json_line():
    result = run_cli(
        "params", "--set", "method=vera", "--set", "r=64", "--set", "targets=all_linear"
    )
    assert result.returncode == 0, result.stderr
    first, last = result.stdout.strip().splitlines()
    got = json.loads(last)
    config = scale_config("cpu").replace(method="vera", r=64, targets="all_linear")  # the default
    expected = count_parameters(config.model_spec())
    assert got.keys() == {"method", "r", "targets"} | expected.keys()
    for key, value in expected.items():  # floats to 6 significant digits, counts exact
        assert got[key] == (pytest.approx(value, rel=1e-5) if isinstance(value, float) else value)
    trainable, base = expected["trainable_params"], expected["base_params"]
    assert first == (
        f"trainable params: {trainable:,} || all params: {base + trainable:,} || "
        f"trainable%: {100 * trainable / (base + trainable):.4f}"
    )
    assert got["stored_params"] > 0 and got["adapter_params"] == 6 * (6 * 64 + 4 * 384 + 1536 + 384)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["params", "--set", "method=hra", "--set", "r=5"], "hra needs an even r (got 5)"),
        (["params", "--set", "method=ia3", "--set", "bias=all"], "not supported by method=ia3"),
        (["run", "peft_methods", "--max-params-pct", "0"], "--max-params-pct=0 is invalid"),
        (["run", "merge", "--max-params-pct", "1"], "--max-params-pct applies to training"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, needle):
    result = run_cli(*argv)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory):
    """One smoke study over peft_methods' first points with a 0.5% budget and two objectives,
    overall against params_pct (no ASHA). The budget check wraps Optuna's proposals the same
    way whatever the objectives, so this one run serves both tests below."""
    out = tmp_path_factory.mktemp("budget") / "mo"
    result = run_cli(
        "run",
        "peft_methods",
        "--scale",
        "smoke",
        "--out",
        str(out),
        "--samples",
        "2",
        "--objectives",
        "overall,params_pct",
        "--max-params-pct",
        "0.5",
        timeout=900,
    )
    return out, result


@pytest.mark.slow
def test_a_budget_prunes_proposals_before_they_run(budgeted):
    """peft_methods' first points at smoke scale with a 0.5% budget: LoRA, DoRA, AdaLoRA, OFT,
    BOFT and HRA (about 1%) are skipped before they run; VeRA and IA3 (about 0.1%) train."""
    out, result = budgeted
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_rows(out)
    assert sorted(r["config"]["method"] for r in rows) == ["ia3", "vera"]
    assert all(r["status"] == "completed" and r["params_pct"] <= 0.5 for r in rows)
    skipped = [line for line in result.stderr.splitlines() if "skipped" in line]
    for method in ("lora", "dora", "adalora", "oft", "boft", "hra"):
        assert any(f"'method': '{method}'" in line and "> 0.5" in line for line in skipped), method


@pytest.mark.slow
def test_multi_objective_search_runs_across_methods_within_a_budget(budgeted):
    """overall against params_pct (no ASHA) over peft_methods' first points, with the budget:
    Optuna's journal holds a two-objective study whose run trials carry both values."""
    import warnings

    import optuna

    out, result = budgeted
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_rows(out)
    assert sorted(r["config"]["method"] for r in rows) == ["ia3", "vera"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backend = optuna.storages.journal.JournalFileBackend(str(out / "optuna.journal"))
        storage = optuna.storages.JournalStorage(backend)
        (name,) = optuna.study.get_all_study_names(storage)
        study = optuna.load_study(study_name=name, storage=storage)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert len(done) == 2 and all(len(t.values) == 2 and t.values[1] <= 0.5 for t in done)
    assert {t.params["method"] for t in pruned} >= {"lora", "dora", "oft"}


def test_a_search_that_ends_before_any_trial_exits_2(tmp_path):
    """The bound on rejected proposals in a row, lowered to 1 so that the first point of
    peft_methods (LoRA, about 1% at smoke scale, over a 0.5% budget) ends the search: the study
    ran no trial, so the command says so in one line and exits 2 (never 0 having run nothing)."""
    import subprocess
    import sys

    from tests.conftest import PROJECT

    out = tmp_path / "none"
    argv = ["run", "peft_methods", "--scale", "smoke", "--out", str(out), "--samples", "2"]
    argv += ["--max-params-pct", "0.5"]
    code = (
        "import sys; import study.tuning.budget as b; b.MAX_TRIES = 1; "
        f"from study.cli.main import main; sys.exit(main({argv!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: study peft_methods ran no trial (every proposal was outside --max-params-pct); "
        f"its folder is {out}"
    ], result.stderr[-3000:]
    assert "search: 1 proposals in a row were outside the budget" in result.stderr
    assert not read_rows(out)
