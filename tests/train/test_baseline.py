"""The no-training floors on the real model and data, and cosine heads that start at them."""

from __future__ import annotations

import json

import pytest
import torch

from study.scales import scale_config
from study.train.baseline import baseline, best_threshold, calibrate
from tests.cli.bad_input_helpers import run_cli

SMOKE_COSINE = scale_config("smoke").replace(head_design=2, pooling="mean", pair_head="cosine")


@pytest.mark.slow
def test_the_cpu_scale_floors_reproduce_the_known_values(tmp_path, monkeypatch):
    """The cpu scale's 500 dev rows per task (what its studies are judged against): SST, the
    training file's majority class (3, not dev's own), scores 141/500; Para, its cosine
    threshold chosen on the scale's 800 training pairs, 382/500; STS's Pearson r 0.8325.
    Printed by `study baseline --scale cpu`, whose last line is one JSON object, then read
    back from the cache. (The whole dev files take the same path, at 8x the time: 0.253,
    0.779 at most, 0.838.)"""
    monkeypatch.setenv("PEFT_STUDY_CACHE", str(tmp_path / "cache"))
    proc = run_cli(
        "baseline",
        "--scale",
        "cpu",
        env={"PEFT_STUDY_CACHE": str(tmp_path / "cache")},
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    floors = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(floors) == {"sst", "para", "sts", "overall"}
    assert floors["sst"] == pytest.approx(141 / 500, abs=1e-9)
    assert floors["para"] == pytest.approx(382 / 500, abs=1e-9)
    assert floors["sts"] == pytest.approx(0.8325, abs=0.0005)
    assert floors["overall"] == pytest.approx(0.654, abs=0.0005)
    assert "dev rows: sst 500, para 500, sts 500" in proc.stdout
    assert "the majority class (3)" in proc.stdout and "800 training pairs" in proc.stdout
    cached = list((tmp_path / "cache" / "baselines").glob("*.json"))
    assert len(cached) == 2  # the floors and the calibration, keyed by model, data and rows
    again = baseline(scale_config("cpu"))  # the CLI's rows: from the cache
    assert again.scores() == pytest.approx(floors)


def test_a_scale_dev_subsample_has_its_own_floors(tmp_path, monkeypatch):
    monkeypatch.setenv("PEFT_STUDY_CACHE", str(tmp_path / "cache"))
    floors = baseline(SMOKE_COSINE)
    assert floors.dev_rows == {"sst": 64, "para": 64, "sts": 64}
    assert 0.1 < floors.sst < 0.5 and 0.5 < floors.para < 1 and 0.6 < floors.sts < 1
    val = baseline(SMOKE_COSINE, "val")
    assert val.dev_rows == {t: SMOKE_COSINE.val_per_task for t in ("sst", "para", "sts")}
    assert val.para_threshold == floors.para_threshold  # both chosen on the training rows


def test_an_untrained_cosine_head_model_scores_the_floor(tmp_path, monkeypatch):
    """Para decides as the floor's threshold does; STS correlates as the cosine does."""
    from model.encoder import load_encoder, load_tokenizer, weights_sha256
    from model.multitask import build_model
    from study.data.splits import task_data
    from study.train.evaluate import evaluate

    monkeypatch.setenv("PEFT_STUDY_CACHE", str(tmp_path / "cache"))
    floors, fit = baseline(SMOKE_COSINE), calibrate(SMOKE_COSINE)
    assert fit.para_shift == fit.para_threshold == floors.para_threshold and fit.para_scale > 0
    calibration = {"para_scale": fit.para_scale, "para_shift": fit.para_shift}
    calibration |= {"sts_alpha": fit.sts_alpha, "sts_beta": fit.sts_beta}

    model = build_model(SMOKE_COSINE.model_spec(calibration), load_encoder()).eval()
    dev = task_data(SMOKE_COSINE, "dev", load_tokenizer(), weights_sha256())
    scores = evaluate(model, dev)
    assert scores["para"] == floors.para
    assert scores["sts"] == pytest.approx(floors.sts, abs=0.005)  # only [0, 5] clipping differs


def test_best_threshold_maximises_training_accuracy():
    scores = torch.tensor([0.1, 0.2, 0.35, 0.4, 0.8, 0.9]).numpy()
    positive = torch.tensor([0, 0, 1, 0, 1, 1]).bool().numpy()
    t = best_threshold(scores, positive)
    assert 0.4 <= t < 0.8 or 0.2 <= t < 0.35
    assert ((scores > t) == positive).mean() == pytest.approx(5 / 6)
