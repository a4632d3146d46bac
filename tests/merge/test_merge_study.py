"""The merge study end to end on a local Ray: stage 1 per seed, the search over λ on the first
seed's adapters, and the reruns that merge the second seed's, paired in the findings."""

from __future__ import annotations

import pytest

from reports.findings.claims import findings
from study.records import read_records
from tests.cli.bad_input_helpers import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.local_ray]


def test_the_paper_points_are_merged_for_every_stage1_seed(tmp_path):
    out = tmp_path / "merge"
    result = run_cli(
        "run",
        "merge",
        "--scale",
        "smoke",
        "--out",
        str(out),
        "--samples",
        "3",
        "--seeds",
        "2",
        "--set",
        "r=4",
        "--set",
        "targets=qkv",
        *("--set", "train_per_task=32", "--set", "val_per_task=16", "--set", "dev_per_task=32"),
        *("--set", "epochs=1"),
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for folder in ("standard", "orthogonal", "seed1/standard", "seed1/orthogonal"):
        assert (out / "stage1" / folder / "stage1.json").is_file(), folder
    rows = read_records(out)
    search = [r for r in rows if r.phase == "search"]
    reruns = [r for r in rows if r.phase == "rerun"]
    # the 3 first points (EoE, FedAvg, OrthoAda at the paper's λ), then each again on seed 1
    assert [r.merge.method for r in search] == ["eoe", "fedavg", "orthoada"]
    assert sorted(r.merge.method for r in reruns) == ["eoe", "fedavg", "orthoada"]
    assert {r.seed_value for r in search} == {0} and {r.seed_value for r in reruns} == {1}
    assert all("/seed1/" in r.merge.stage1_dir for r in reruns)
    assert all(r.completed for r in rows)
    scores = {(r.merge.method, r.seed_value): r.overall for r in rows}
    assert scores[("eoe", 0)] != scores[("eoe", 1)]  # other adapters, other scores
    ensembles = {f.claim: f for f in findings(rows)}["EoE > FedAvg and OrthoAda"]
    assert ensembles.n == 2 and ensembles.verdict == "inconclusive"  # 2 pairs decide nothing
    assert len(ensembles.trials) == 6
