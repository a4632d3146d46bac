"""TrialConfig validation and `--set` parsing: every bad value is a one-line ConfigError."""

from __future__ import annotations

import pytest

from study.config import TASKS, TrialConfig, field_names
from study.errors import ConfigError, UserError
from study.overrides import parse_assignments

# (field, bad value, the text the message must show for the value)
BAD_VALUES = [
    ("r", 0, "r=0"),
    ("r", -4, "r=-4"),
    ("alpha", 0.0, "alpha=0.0"),
    ("alpha", -1.0, "alpha=-1.0"),
    ("lora_dropout", 1.0, "lora_dropout=1.0"),
    ("dropout", 1.0, "dropout=1.0"),
    ("dropout", -0.1, "dropout=-0.1"),
    ("method", "adapter", "method='adapter'"),
    ("targets", "mlp", "targets='mlp'"),
    ("bias", "lora_only", "bias='lora_only'"),
    ("head_design", 4, "head_design=4"),
    ("head_design", True, "head_design=True"),
    ("mode", "parallel", "mode='parallel'"),
    ("pooling", "max", "pooling='max'"),
    ("task_order", ("sst", "sst", "para"), "task_order=sst-sst-para"),
    ("task_order", ("sst", "para"), "task_order=sst-para"),
    ("task_order", ("sst", 1, "para"), "task_order=sst-1-para"),
    ("task_order", 3, "task_order=3"),
    ("task_order", "sst-para-mnli", "task_order=sst-para-mnli"),
    ("batch_size", -1, "batch_size=-1"),
    ("batch_size", 0, "batch_size=0"),
    ("epochs", -2, "epochs=-2"),
    ("lr", -1e-3, "lr=-0.001"),
    ("lr", 0.0, "lr=0.0"),
    ("head_lr", -1.0, "head_lr=-1.0"),
    ("weight_decay", -0.5, "weight_decay=-0.5"),
    ("train_per_task", -1, "train_per_task=-1"),
    ("precision", "fp16", "precision='fp16'"),
]


@pytest.mark.parametrize(("field", "value", "shown"), BAD_VALUES)
def test_bad_value_is_one_line_config_error(field, value, shown):
    with pytest.raises(ConfigError) as info:
        TrialConfig().replace(**{field: value})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(shown), message
    assert isinstance(info.value, UserError)  # the CLI turns it into exit code 2


def test_constructor_validates_too():
    with pytest.raises(ConfigError, match=r"^r=0 "):
        TrialConfig(r=0)


def test_defaults_are_valid_and_derived_values():
    config = TrialConfig()
    assert config.lora_alpha == 2 * config.r
    assert config.replace(alpha=8.0).lora_alpha == 8.0
    assert config.replace(method="full").learning_rate == 5e-5
    assert config.replace(lr=3e-4).learning_rate == 3e-4
    assert config.task_order == TASKS


def test_task_order_list_becomes_tuple_and_round_trips():
    config = TrialConfig(task_order=["sts", "para", "sst"])
    assert config.task_order == ("sts", "para", "sst")
    again = TrialConfig.from_dict(config.to_dict())
    assert again == config
    assert again.to_dict()["task_order"] == ["sts", "para", "sst"]


def test_task_order_string_is_split():
    assert TrialConfig(task_order="para-sts-sst").task_order == ("para", "sts", "sst")


def test_replace_unknown_key():
    with pytest.raises(ConfigError, match="unknown config key 'nosuch'"):
        TrialConfig().replace(nosuch=1)


def test_parse_assignments_types():
    parsed = parse_assignments(
        [
            "r=4",
            "lr=1e-4",
            "alpha=none",
            "task_order=sts-para-sst",
            "orthogonal=true",
            "targets=all_linear",
            "dropout=0.25",
            "head_design=2",
        ]
    )
    assert parsed == {
        "r": 4,
        "lr": 1e-4,
        "alpha": None,
        "task_order": ("sts", "para", "sst"),
        "orthogonal": True,
        "targets": "all_linear",
        "dropout": 0.25,
        "head_design": 2,
    }
    assert type(parsed["r"]) is int
    assert type(parsed["lr"]) is float
    config = TrialConfig().replace(**parsed)
    assert config.task_order == ("sts", "para", "sst")
    assert config.alpha is None
    assert parse_assignments(["alpha=16"])["alpha"] == 16.0
    assert parse_assignments(["task_order=para,sst,sts"])["task_order"] == ("para", "sst", "sts")


@pytest.mark.parametrize(
    ("pair", "pattern"),
    [
        ("nosuch=1", "unknown --set key 'nosuch'"),
        ("r", "--set 'r' is invalid: expected key=value"),
        ("=3", "expected key=value"),
        ("r=two", "r='two' is invalid: must be an integer"),
        ("lr=fast", "lr='fast' is invalid: must be a number"),
        ("orthogonal=maybe", "orthogonal='maybe' is invalid: must be true or false"),
    ],
)
def test_parse_assignments_errors(pair, pattern):
    with pytest.raises(ConfigError) as info:
        parse_assignments([pair])
    assert pattern in str(info.value)
    assert "\n" not in str(info.value)


def test_parse_then_validate_names_field():
    with pytest.raises(ConfigError, match=r"^r=0 is invalid"):
        TrialConfig().replace(**parse_assignments(["r=0"]))
    with pytest.raises(ConfigError, match=r"^task_order=sst-sst-para is invalid"):
        TrialConfig().replace(**parse_assignments(["task_order=sst-sst-para"]))


def test_every_field_can_be_set_from_its_own_value():
    config = TrialConfig()
    for name, value in config.to_dict().items():
        text = "-".join(value) if isinstance(value, list) else str(value)
        parsed = parse_assignments([f"{name}={text}"])[name]
        assert TrialConfig().replace(**{name: parsed}) == config, name
    assert len(field_names()) == len(config.to_dict())


def test_auto_precision_follows_the_measured_evidence():
    """auto: bf16 only on a CPU with fast bf16 (bench: within 0.01 of fp32, 1.45x faster);
    CUDA stays fp32 (an H200 run: bf16 slower for MiniLM, dev metrics 0.02-0.04 apart)."""
    import torch

    from study.train.device import cpu_has_fast_bf16, resolve_precision

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision("auto", cpu) == ("bf16" if cpu_has_fast_bf16() else "fp32")
    assert resolve_precision("auto", cuda) == "fp32"  # no GPU needed: nothing is allocated
    assert [resolve_precision(p, d) for p in ("fp32", "bf16") for d in (cpu, cuda)] == [
        "fp32",
        "fp32",
        "bf16",
        "bf16",
    ]


def test_the_cosine_head_is_design_2_and_auto_gives_it_to_design_2_only():
    with pytest.raises(ConfigError, match="pair_head=cosine is head design 2"):
        TrialConfig(pair_head="cosine", head_design=1)
    used = {d: TrialConfig(pair_head="auto", head_design=d).pair_head_used for d in (1, 2, 3)}
    assert used == {1: "paper", 2: "cosine", 3: "paper"}
    assert TrialConfig(pair_head="auto", head_design=2).model_spec().heads.pair_head == "cosine"
