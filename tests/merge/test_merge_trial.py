"""Two-stage merge study: the study spec, trial parameters, and stage 1 + 2 on the real model."""

from __future__ import annotations

import json
import shutil

import pytest

from model.encoder import load_tokenizer, weights_sha256
from model.errors import ModelError
from search_spaces.merge import STUDY
from search_spaces.spec import Choice, Uniform
from study.config import TASKS, TrialConfig
from study.data.splits import task_data
from study.errors import ConfigError
from study.merge.recipe import RECIPE_FORMAT, load_merge_run
from study.merge.stage1 import is_reusable, prepare_task_adapters, stage1_config
from study.merge.stage2 import merge_params, run_merge_trial
from study.predict import load_run
from study.records import EpochScores
from study.scales import scale_config
from study.train.evaluate import evaluate

# Small enough for a test; the study's own base (r=64, all linear) works the same way.
BASE = scale_config("smoke").replace(
    mode="single_task",
    method="lora",
    r=4,
    targets="qkv",
    bias="none",
    precision="fp32",
    train_per_task=32,
    dev_per_task=32,
    epochs=1,
)
SCORES = ("sst", "para", "sts", "overall")


def _params(method, lam=1.0, density=0.5):
    return {
        "merge_method": method,
        "lambda_sst": lam,
        "lambda_para": lam,
        "lambda_sts": lam,
        "density": density,
    }


def test_merge_study_spec_is_the_papers_setting_first():
    assert STUDY.kind == "merge" and STUDY.scheduler is None
    assert STUDY.samples == {"smoke": 3, "cpu": 16, "paper": 100}
    config = TrialConfig().replace(**STUDY.base)
    assert (config.mode, config.method, config.r, config.targets, config.bias) == (
        "single_task",
        "lora",
        64,
        "all_linear",
        "none",
    )
    firsts = [(p["merge_method"], round(p["lambda_sst"], 4)) for p in STUDY.points_to_evaluate]
    assert firsts[:5] == [
        ("eoe", 1.0),
        ("fedavg", 0.3333),
        ("orthoada", 0.3333),
        ("orthoada", 1.0),
        ("task_arithmetic", 1.0),
    ]
    for point in STUDY.points_to_evaluate:
        assert set(point) == set(STUDY.space)
        merge_params(point)  # every point is a valid trial
        for key, dist in STUDY.space.items():
            if isinstance(dist, Choice):
                assert point[key] in dist.values
            else:
                assert isinstance(dist, Uniform) and dist.low <= point[key] <= dist.high
    assert STUDY.space["lambda_sts"] == Uniform(0.0, 1.5)


def test_merge_params_are_checked_with_one_line_errors():
    assert merge_params(_params("ties", 0.5, 0.3)) == ("ties", [0.5, 0.5, 0.5], 0.3)
    assert merge_params(_params("fedavg", 0.5, 7.0))[2] is None  # density unused there
    cases = [
        ({**_params("eoe"), "lambda_x": 1.0}, "unknown merge parameter 'lambda_x'"),
        ({k: v for k, v in _params("eoe").items() if k != "lambda_para"}, "'lambda_para'"),
        (_params("avg"), "merge_method='avg' is invalid"),
        (_params("dare", 1.0, 1.5), "density=1.5 is invalid"),
        (_params("fedavg", float("inf")), "must be a finite number"),
    ]
    for params, message in cases:
        with pytest.raises(ConfigError) as err:
            merge_params(params)
        assert message in str(err.value) and "\n" not in str(err.value)


def test_stage1_needs_lora_without_bias():
    with pytest.raises(ConfigError, match="method=lora and bias=none"):
        stage1_config(BASE.replace(method="dora"), False)
    with pytest.raises(ConfigError, match="method=lora and bias=none"):
        stage1_config(BASE.replace(bias="all"), True)


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    study_dir = tmp_path_factory.mktemp("merge_study")
    return study_dir, prepare_task_adapters(BASE, study_dir, seeds=2, progress=False)


@pytest.mark.slow
def test_stage1_trains_both_sets_once(stage1):
    study_dir, out = stage1
    assert out["reused"] == {"orthogonal": False, "standard": False}
    for name in ("standard", "orthogonal"):
        for task in TASKS:
            assert (study_dir / "stage1" / name / "checkpoint" / "adapters" / task).is_dir()
    assert out["residual_overlap"]["orthogonal"] < 1e-6  # OrthoAda: ΔWᵢ ΔWⱼᵀ ≈ 0
    assert out["residual_overlap"]["standard"] > 1e-4
    again = prepare_task_adapters(BASE.replace(threads=1), study_dir)
    assert again["reused"] == {"orthogonal": True, "standard": True}
    assert again["dev"] == out["dev"]
    standard = study_dir / "stage1" / "standard"
    assert not is_reusable(standard, stage1_config(BASE.replace(seed=1), False))
    # the second seed's sets: their own folder, their own adapters
    assert out["seeds"]["0"] == {"standard": out["standard"], "orthogonal": out["orthogonal"]}
    seed1 = study_dir / "stage1" / "seed1" / "standard"
    assert out["seeds"]["1"]["standard"] == str(seed1.resolve())
    assert is_reusable(seed1, stage1_config(BASE.replace(seed=1), False))


@pytest.mark.slow
def test_a_seed_rerun_merges_that_seeds_adapters(stage1):
    """EoE with seed 1 reproduces seed 1's single-task models, not seed 0's; its config's
    seed is the seed whose adapters it merged."""
    study_dir, out = stage1
    seed1 = json.loads((study_dir / "stage1" / "seed1" / "standard" / "stage1.json").read_text())
    record = run_merge_trial({**_params("eoe"), "seed": 1}, out, BASE)
    for key in SCORES:
        assert getattr(record, key) == pytest.approx(seed1[key], abs=1e-4)
    assert record.overall != pytest.approx(out["dev"]["standard"]["overall"], abs=1e-6)
    assert record.merge.stage1_dir == out["seeds"]["1"]["standard"] and record.config["seed"] == 1
    with pytest.raises(ConfigError, match="no standard adapter set of seed 5"):
        run_merge_trial({**_params("fedavg"), "seed": 5}, out, BASE)


@pytest.mark.slow
def test_a_torn_stage1_adapter_is_named_then_trained_again(stage1, tmp_path, capsys):
    """Stage 2 on a torn stage-1 file is one ModelError naming it (the trial's error line);
    stage 1 does not reuse the set: it says why and trains it again."""
    study_dir, _ = stage1
    copy = tmp_path / "study"
    shutil.copytree(study_dir / "stage1", copy / "stage1")
    torn = copy / "stage1" / "standard" / "checkpoint" / "adapters" / "para"
    weights = torn / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    sets = {"standard": str(copy / "stage1" / "standard")}
    with pytest.raises(ModelError, match=f"{weights} is damaged"):
        run_merge_trial(_params("fedavg"), sets, BASE.replace(threads=1))
    assert not is_reusable(copy / "stage1" / "standard", stage1_config(BASE, False))
    assert f"stage 1 standard: {weights} is damaged" in capsys.readouterr().err


@pytest.mark.slow
def test_eoe_reproduces_the_single_task_models(stage1):
    _, out = stage1
    summary = json.loads((stage1[0] / "stage1" / "standard" / "stage1.json").read_text())
    reports = []
    metrics = run_merge_trial(_params("eoe"), out, BASE, reports.append)
    for key in SCORES:
        assert getattr(metrics, key) == pytest.approx(out["dev"]["standard"][key], abs=1e-4)
    assert metrics.params_pct == pytest.approx(summary["params_total_pct"])
    assert metrics.adapter_pct == pytest.approx(3 * summary["adapter_pct"])
    assert len(reports) == 1 and reports[0].final is True


@pytest.mark.slow
def test_merge_trial_keys_report_and_recipe(stage1, tmp_path):
    study_dir, out = stage1
    summary = json.loads((study_dir / "stage1" / "standard" / "stage1.json").read_text())
    reports = []
    run_dir = tmp_path / "trial"
    params = {**_params("fedavg"), "lambda_sst": 0.2, "lambda_para": 0.6, "lambda_sts": 1.2}
    record = run_merge_trial(params, out, BASE, reports.append, run_dir=run_dir)
    metrics = record.to_dict()
    run_trial_keys = set(summary) - {"residual_overlap"}  # stage 1's run_trial record
    assert run_trial_keys <= set(metrics)
    assert reports == [record]
    assert record.final is True and record.epochs_run == 1
    val = {f"val_{k}": metrics[f"val_{k}"] for k in SCORES}
    assert val["val_overall"] is not None  # what the search over λ selects on
    assert record.history == (EpochScores(1, *(metrics[k] for k in SCORES), **val),)
    assert record.params_pct == pytest.approx(summary["params_pct"])
    assert record.merge.weights["sts"] == pytest.approx(0.6)  # 1.2 / (0.2 + 0.6 + 1.2)
    assert record.adapter_dir == str(run_dir.resolve())
    recipe = json.loads((run_dir / "merge.json").read_text())
    assert recipe["format"] == RECIPE_FORMAT and recipe["method"] == "fedavg"
    assert recipe["lambdas"] == {"sst": 0.2, "para": 0.6, "sts": 1.2}
    assert recipe["adapters"]["para"].endswith("stage1/standard/checkpoint/adapters/para")
    # predict's two ways in rebuild the same model: the same dev scores
    config, model = load_merge_run(run_dir)
    dev = task_data(config, "dev", load_tokenizer(), weights_sha256())
    for loaded in (model, load_run(run_dir)[1]):
        scores = evaluate(loaded, dev)
        for key in SCORES:
            assert scores[key] == pytest.approx(metrics[key], abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["orthoada", "task_arithmetic", "ties", "dare", "dare_ties"])
def test_every_merge_method_scores(stage1, method):
    _, out = stage1
    metrics = run_merge_trial(_params(method, 0.8, 0.5), out, BASE)
    assert 0 <= metrics.sst <= 1 and 0 <= metrics.para <= 1
    assert -1 <= metrics.sts <= 1
    expected_set = "orthogonal" if method == "orthoada" else "standard"
    assert metrics.merge.stage1_dir == out[expected_set]
    assert metrics.merge.method == method
    assert metrics.merge.density == (0.5 if method in ("ties", "dare", "dare_ties") else None)


@pytest.mark.slow
def test_stage2_without_the_orthogonal_set_is_a_config_error(stage1):
    _, out = stage1
    with pytest.raises(ConfigError, match="no orthogonal adapter set"):
        run_merge_trial(_params("orthoada"), {"standard": out["standard"]}, BASE)


@pytest.mark.slow
def test_stage2_with_another_base_is_a_config_error(stage1):
    _, out = stage1
    with pytest.raises(ConfigError, match=r"another config \(seed: 0 vs 1\)"):
        run_merge_trial(_params("fedavg"), out, BASE.replace(seed=1))
    metrics = run_merge_trial(_params("fedavg"), out, BASE.replace(threads=1))  # threads aside
    assert metrics.overall > 0


@pytest.mark.slow
def test_a_sibling_lora_sweep_trial_of_the_same_config_is_the_standard_set(
    stage1, tmp_path, capsys
):
    """`run paper` puts lora_sweep beside merge: its completed trial of the stage-1 config
    (lr written out as 3e-4, the default) is copied as the standard set instead of trained."""
    from study.records import TrialRecord, append_record

    study_dir, out = stage1
    sweep = tmp_path / "runs" / "lora_sweep"
    trial = sweep / "ray" / "t0" / "checkpoint_000000"
    shutil.copytree(study_dir / "stage1" / "standard", trial)
    saved = json.loads((trial / "config.json").read_text()) | {"lr": 3e-4}
    (trial / "config.json").write_text(json.dumps(saved))
    record = TrialRecord(config=saved, status="completed", trial_id="t0", adapter_dir=str(trial))
    append_record(sweep, record.replace(overall=0.7, sst=0.5, para=0.8, sts=0.6))
    got = prepare_task_adapters(BASE, tmp_path / "runs" / "merge")
    assert got["reused"]["standard"] is True
    assert "the standard set of seed 0 is lora_sweep trial t0" in capsys.readouterr().err
    summary = json.loads((tmp_path / "runs/merge/stage1/standard/stage1.json").read_text())
    assert summary["adopted_from"] == str(trial) and summary["overall"] == 0.7
    assert got["residual_overlap"]["standard"] == pytest.approx(out["residual_overlap"]["standard"])
