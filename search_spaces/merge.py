"""Table 3, model ensemble rows: combine per-task LoRA adapters without training (kind=merge).

Stage 1 trains the per-task adapters in the paper's multi-task setting (single_task, LoRA
r=64 on all linear layers, no bias), a standard set and an OrthoAda set per seed; each trial
then merges one seed's sets (study/merge/stage2.py) and scores validation and dev in seconds. The space is over the merge
method, one λ per task and the TIES/DARE density; no trial trains, so nothing stops early.
"""

from model.merging.methods import MERGE_METHODS
from search_spaces.spec import Choice, StudySpec, Uniform

_THIRD = 1.0 / 3.0


def _point(method: str, lam: float, density: float = 1.0) -> dict:
    return {
        "merge_method": method,
        "lambda_sst": lam,
        "lambda_para": lam,
        "lambda_sts": lam,
        "density": density,  # read by ties/dare/dare_ties only
    }


STUDY = StudySpec(
    name="merge",
    description="Table 3 ensembles: EoE, FedAvg, OrthoAda (+ task arithmetic, TIES, DARE) over λ",
    kind="merge",
    base={
        "mode": "single_task",
        "method": "lora",
        "r": 64,
        "targets": "all_linear",
        "bias": "none",
    },
    space={
        "merge_method": Choice(MERGE_METHODS),
        "lambda_sst": Uniform(0.0, 1.5),
        "lambda_para": Uniform(0.0, 1.5),
        "lambda_sts": Uniform(0.0, 1.5),
        "density": Uniform(0.1, 1.0),
    },
    # The paper's rows first (EoE; AvgFed = equal weights; OrthoAda summed with λ 1/3 and 1,
    # and the plain sum θ + Σ ΔWᵢ as task arithmetic), then TIES/DARE at their usual densities.
    points_to_evaluate=(
        _point("eoe", 1.0),
        _point("fedavg", _THIRD),
        _point("orthoada", _THIRD),
        _point("orthoada", 1.0),
        _point("task_arithmetic", 1.0),
        _point("task_arithmetic", _THIRD),
        _point("ties", 1.0, 0.2),
        _point("dare", 1.0, 0.5),
    ),
    samples={"smoke": 3, "cpu": 16, "paper": 100},  # cpu: the 8 points and 8 proposals
    scheduler=None,
    # Stage 1 trains one adapter set per seed; λ is searched with the first seed's adapters,
    # then the paper's points and each merge method's best λ (on validation) are applied to
    # every other seed's, so each comparison is paired over stage-1 seeds.
    rerun_best_of="merge_method",
)
