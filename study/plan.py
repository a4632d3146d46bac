"""From a command's options to a checked plan: every check that can fail on user input runs
here, before Ray starts. Nothing here imports Ray or Optuna; study/tuning does, and only after
every check passed.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from search_spaces import load_study
from search_spaces.spec import Choice, StudySpec
from study.config import TrialConfig
from study.errors import UserError
from study.options import BaselineOptions, RunOptions, TrialOptions
from study.overrides import parse_assignments
from study.preflight import check_output_dir, preflight
from study.records import STUDY_META, read_meta
from study.scales import RECIPE_VERSION, scale_config
from study.study_files import load_spec


@dataclass(frozen=True)
class StudyPlan:
    """One study, ready to run."""

    spec: StudySpec
    base: TrialConfig
    """The config every trial starts from (scale, study base, --set), threads set."""
    study_dir: Path
    samples: int
    """Trials the search runs."""
    metrics: tuple[str, ...]
    """What the search optimises: ("overall",) or ("overall", "params_pct")."""
    modes: tuple[str, ...]
    """max | min per metric."""
    cpus_per_trial: float
    gpus_per_trial: float
    cpus_explicit: bool
    """--cpus-per-trial was given: never capped to fit a node (refused instead)."""
    max_concurrent: int
    address: str
    """An existing cluster's address; empty: a local Ray."""
    dashboard_host: str
    dashboard_port: int
    """A port that was free when the plan was made (8265 unless it was taken)."""
    resume: bool
    """The study folder already holds this study: continue it."""
    storage: str
    """Ray's experiment storage: a local folder or a pyarrow-filesystem URI (s3://, gs://, ...)."""
    seeds: int = 1
    """Runs per chosen configuration: the search's run and seeds - 1 reruns (reruns.py)."""
    top_k: int = 2
    """Search configurations, besides the first points, that get reruns."""
    seed: int = 0
    """The sampler's seed."""
    max_params_pct: float | None = None
    """Proposals above this params_pct are pruned before they run (search.py)."""
    decide: bool = False
    """Run the decide phase after the reruns (study/decide)."""
    min_effect: float = 0.005
    """--decide's E."""
    budget_s: float | None = None
    """--decide's budget in recorded trial seconds; None: no limit."""
    log_to: tuple[str, ...] = ()
    """Experiment trackers, each through Ray Tune's own callback (study/tuning/trackers.py)."""
    reuse_workers: bool = True
    """Run trials one after another in the same worker process (Tune's reuse_actors): imports,
    weights and token caches load once per worker. False: a fresh, trial-named process each."""


OBJECTIVES = {
    "overall": (("overall",), ("max",)),
    "overall,params_pct": (("overall", "params_pct"), ("max", "min")),
}


def base_config(options: TrialOptions, study_base: dict | None = None) -> TrialConfig:
    """Scale preset -> study base (with its scale's part) -> --model-path/--data-dir -> --set,
    all validated."""
    config = scale_config(options.scale)
    if study_base:
        config = config.replace(**study_base)
    paths = {"model_path": options.model_path, "data_dir": options.data_dir}
    paths = {k: str(Path(v).expanduser().resolve()) for k, v in paths.items() if v}
    if paths:
        config = config.replace(**paths)
    return config.replace(**parse_assignments(list(options.sets)))


def baseline_config(options: BaselineOptions) -> TrialConfig:
    """The rows `study baseline` scores: a scale's dev subsample, else the whole dev files
    (training rows for the threshold: the cpu scale's)."""
    scale = options.scale or "cpu"
    trial_options = TrialOptions(
        scale=scale, model_path=options.model_path, data_dir=options.data_dir
    )
    config = base_config(trial_options)
    return config if options.scale else config.replace(dev_per_task=0)


def make_plans(options: RunOptions) -> list[StudyPlan]:
    """The checked plan of the named study, or of each study of a suite (e.g. paper), each in
    its own folder under --out (default runs/). Every study of a suite is checked before the
    first one starts."""
    spec = load_spec(options.study, options.out or None)
    if not spec.includes:
        return [make_plan(spec, options)]
    root = Path(options.out) if options.out else Path("runs")
    return [
        make_plan(load_study(name), dataclasses.replace(options, study=name, out=str(root / name)))
        for name in spec.includes
    ]


def make_plan(spec: StudySpec, options: RunOptions) -> StudyPlan:
    """All checks that can fail on user input, before Ray starts, then the plan."""
    counts = _trial_counts(spec, options)
    resources = _resources(options)
    base = base_config(options, {**spec.base, **spec.scale_base.get(options.scale, {})})
    model_cfg = preflight(base)
    check_space(spec, base, int(model_cfg.get("hidden_size", 0)))
    if counts.max_params_pct is not None:
        check_budget(spec, base, counts.max_params_pct)
    study_dir, resume, storage = _study_folder(spec, options)
    metrics, modes = OBJECTIVES[options.objectives]
    if base.val_per_task:  # every selection decision reads validation, never dev
        metrics = tuple(f"val_{m}" if m == "overall" else m for m in metrics)
    return StudyPlan(
        spec=spec,
        base=base.replace(threads=max(1, int(resources.cpus_per_trial))),
        study_dir=study_dir,
        samples=counts.samples,
        metrics=metrics,
        modes=modes,
        cpus_per_trial=resources.cpus_per_trial,
        gpus_per_trial=resources.gpus_per_trial,
        cpus_explicit=options.cpus_per_trial is not None,
        max_concurrent=resources.max_concurrent,
        address=options.address,
        dashboard_host=options.dashboard_host,
        dashboard_port=resources.dashboard_port,
        resume=resume,
        storage=storage,
        reuse_workers=not options.fresh_workers,
        seeds=counts.seeds,
        top_k=counts.top_k,
        max_params_pct=counts.max_params_pct,
        decide=options.decide,
        log_to=check_trackers(options.log_to),
        min_effect=options.min_effect,
        budget_s=None if options.budget_min is None else options.budget_min * 60,
    )


@dataclass(frozen=True)
class _Counts:
    samples: int
    seeds: int
    top_k: int
    max_params_pct: float | None


def _trial_counts(spec: StudySpec, options: RunOptions) -> _Counts:
    """How many trials, seeds and reruns, and the parameter budget, each checked."""
    if options.scale not in spec.samples:
        raise UserError(
            f"study {spec.name} has no scale {options.scale!r}; scales: {', '.join(spec.samples)}"
        )
    samples = spec.samples[options.scale] if options.samples is None else options.samples
    if samples < 1:
        raise UserError(f"--samples={samples} is invalid: must be an integer >= 1")
    seeds = options.seeds if options.seeds is not None else spec.seeds.get(options.scale, 1)
    if seeds < 1:
        raise UserError(f"--seeds={seeds} is invalid: must be an integer >= 1")
    top_k = options.top_k if options.top_k is not None else spec.top_k
    if top_k < 0:
        raise UserError(f"--top-k={top_k} is invalid: must be an integer >= 0")
    if options.objectives not in OBJECTIVES:
        raise UserError(
            f"--objectives {options.objectives!r} is invalid: must be one of "
            f"{' | '.join(OBJECTIVES)}"
        )
    budget = options.max_params_pct
    if budget is not None and not 0 < budget <= 100:
        raise UserError(f"--max-params-pct={budget:g} is invalid: must be > 0 and <= 100")
    if budget is not None and spec.kind != "train":
        raise UserError(f"--max-params-pct applies to training studies; {spec.name} merges")
    _check_decide(options)
    return _Counts(samples, seeds, top_k, budget)


TRACKERS = ("tensorboard", "csv", "json", "mlflow", "wandb")
"""--log-to's names (study/tuning/trackers.py makes their callbacks)."""
_TRACKER_PACKAGES = {"tensorboard": "tensorboardX", "mlflow": "mlflow", "wandb": "wandb"}


def check_trackers(text: str) -> tuple[str, ...]:
    """--log-to a,b: each a known tracker whose package is installed (before Ray starts)."""
    import importlib.util

    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    for name in names:
        if name not in TRACKERS:
            raise UserError(f"--log-to {name!r} is unknown; allowed: {', '.join(TRACKERS)}")
        module = _TRACKER_PACKAGES.get(name)
        if module and importlib.util.find_spec(module) is None:
            raise UserError(
                f"--log-to {name} needs {module}, which is not installed: "
                f"pip install -e '.[{name}]'"
            )
    return names


def _check_decide(options: RunOptions) -> None:
    if not options.decide:
        if options.budget_min is not None:
            raise UserError("--budget-min applies to the decide phase: add --decide")
        return
    if not 0 < options.min_effect < 1:
        raise UserError(
            f"--min-effect={options.min_effect:g} is invalid: must be > 0 and < 1 (dev overall)"
        )
    if options.budget_min is not None and not options.budget_min > 0:
        raise UserError(f"--budget-min={options.budget_min:g} is invalid: must be > 0 minutes")


@dataclass(frozen=True)
class _Resources:
    cpus_per_trial: float
    gpus_per_trial: float
    max_concurrent: int
    dashboard_port: int


def _resources(options: RunOptions) -> _Resources:
    """What one trial asks for and how many run at once, checked against this machine when
    the study runs here (a cluster's nodes are checked once Ray is up: tuning/resources.py)."""
    if options.address:  # Ray's own error for an address with no head takes minutes
        from study.tuning.address import check_address  # grpc and Ray's stubs; starts nothing

        check_address(options.address)
    gpus = options.gpus_per_trial
    if gpus < 0:
        raise UserError(f"--gpus-per-trial={gpus} is invalid: must be >= 0 (fractions allowed)")
    if gpus > 0 and not options.address:
        import torch

        if torch.cuda.device_count() == 0:  # Ray would queue the trials forever
            raise UserError(
                f"--gpus-per-trial={gpus} needs a GPU, and this machine has none "
                "that torch can use; use 0 (the default) or --address of a cluster with GPUs"
            )
    if options.cpus_per_trial is not None and options.cpus_per_trial <= 0:
        raise UserError(f"--cpus-per-trial={options.cpus_per_trial} is invalid: must be > 0")
    if options.max_concurrent is not None and options.max_concurrent < 1:
        raise UserError(f"--max-concurrent={options.max_concurrent} is invalid: must be >= 1")
    cpus = os.cpu_count() or 1
    if not options.address and (options.cpus_per_trial or 0) > cpus:
        raise UserError(
            f"--cpus-per-trial={options.cpus_per_trial:g} is more than this machine's {cpus} "
            f"CPUs; pass at most {cpus} (or --address of a cluster with larger nodes)"
        )
    port = 0 if options.address else dashboard_port(options.dashboard_host, options.dashboard_port)
    concurrent = options.max_concurrent or (1 if gpus == 0 else max(1, int(1 / gpus)))
    cpus_per_trial = options.cpus_per_trial or max(1.0, float(cpus // concurrent))
    return _Resources(cpus_per_trial, gpus, concurrent, port)


def _study_folder(spec: StudySpec, options: RunOptions) -> tuple[Path, bool, str]:
    """(study folder, whether it resumes, Ray's storage), each checked writable; a folder of
    another study, scale or recipe is refused."""
    study_dir = Path(options.out or f"runs/{spec.name}").expanduser().resolve()
    exists = (study_dir / STUDY_META).is_file()
    if options.resume and not exists:
        raise UserError(
            f"--resume: no study at {study_dir} to resume; run it once without --resume"
        )
    if exists:
        meta = read_meta(study_dir)
        if (meta.study, meta.scale) != (spec.name, options.scale):
            raise UserError(
                f"{study_dir} holds study {meta.study} at scale {meta.scale}; "
                f"pick another --out for {spec.name} at scale {options.scale}"
            )
        if meta.recipe_version != RECIPE_VERSION:
            raise UserError(
                f"{study_dir} was made by an earlier recipe (version {meta.recipe_version}: no "
                f"validation split, other scale settings) and cannot be resumed by this one "
                f"(version {RECIPE_VERSION}); pass another --out (`study report` still reads it)"
            )
    check_output_dir(study_dir, "study folder")
    storage = options.storage or str(study_dir / "ray")
    if "://" not in storage:
        check_output_dir(storage, "storage folder")
    return study_dir, exists, storage


DEFAULT_DASHBOARD_PORT = 8265


def dashboard_port(host: str, wanted: int | None) -> int:
    """`wanted` if it is free on `host`; None: 8265, else a free port (another study, or any
    server, may hold 8265). A wanted port that is taken is a UserError."""
    if wanted is not None and not 0 < wanted < 65536:
        raise UserError(f"--dashboard-port={wanted} is invalid: must be a port 1-65535")
    port = DEFAULT_DASHBOARD_PORT if wanted is None else wanted
    if _is_free(host, port):
        return port
    if wanted is not None:
        raise UserError(
            f"--dashboard-port {wanted} is taken on {host}; pass a free port, or leave "
            "--dashboard-port out to get one"
        )
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def check_space(spec: StudySpec, base: TrialConfig, hidden: int) -> None:
    """Every space key is a config field, every point is a valid config, no r above hidden."""
    if spec.kind == "merge":
        from study.merge.stage1 import stage1_config
        from study.merge.stage2 import merge_params

        stage1_config(base, orthogonal=False)  # merging needs LoRA without trained biases
        for point in spec.points_to_evaluate:
            merge_params(point)
        return
    for point in spec.points_to_evaluate:
        base.replace(**point)
    r_param = spec.space.get("r")
    if isinstance(r_param, Choice) and max(r_param.values) > hidden:
        raise UserError(
            f"study {spec.name} samples r up to {max(r_param.values)} > hidden size {hidden}"
        )


TARGET_ORDER = ("qkv", "attn", "all_linear")  # each a superset of the one before


def check_budget(spec: StudySpec, base: TrialConfig, budget: float) -> None:
    """--max-params-pct: this Ray's OptunaSearch can prune proposals before they run, and at
    least one point of the space is within the budget. Counts grow with the size r and with the
    target set, so each method's cheapest point is its smallest valid r on the smallest target
    set without trained biases: a handful of exact counts (model/param_count.py), not the
    grid."""
    from model.param_count import count_parameters
    from study.tuning.budget import check_supported  # imports Ray's module; starts nothing

    check_supported()
    cheapest: tuple[float, str] | None = None
    for config in _cheapest_points(spec, base):
        pct = float(count_parameters(config.model_spec(), config.model_path)["params_pct"])
        label = f"{config.method} r={config.r} on {config.targets}"
        if cheapest is None or pct < cheapest[0]:
            cheapest = (pct, label)
        if pct <= budget:
            return
    if cheapest is not None:
        raise UserError(
            f"--max-params-pct {budget:g}: no point of study {spec.name} fits; its cheapest, "
            f"{cheapest[1]}, has params_pct {cheapest[0]:.4g}; pass a budget of at least that"
        )


def _cheapest_points(spec: StudySpec, base: TrialConfig) -> list[TrialConfig]:
    """Each method's cheapest valid config of the space (check_budget), and the first points."""

    def choices(name: str, default: object) -> list:
        param = spec.space.get(name)
        return list(param.values) if isinstance(param, Choice) else [default]

    targets = min(choices("targets", base.targets), key=TARGET_ORDER.index)
    bias = "none" if "none" in choices("bias", base.bias) else base.bias
    out = []
    for method in dict.fromkeys(choices("method", base.method)):
        for r in sorted(choices("r", base.r)):
            try:
                out.append(base.replace(method=method, r=r, targets=targets, bias=bias))
                break
            except UserError:  # a size this method does not take: its next one
                continue
    for point in spec.points_to_evaluate:
        out.append(base.replace(**point))
    return out
