"""The command line is built from study/options.py: every field is a flag with its docstring
as help, and parsing nothing gives the dataclass's own defaults (one source of both)."""

from __future__ import annotations

import dataclasses

import pytest

from study.cli.main import options_from
from study.cli.parser import COMMANDS, build_parser
from study.options import field_docs

WITH_OPTIONS = [(name, cls) for name, (cls, _, _) in COMMANDS.items() if cls is not None]


@pytest.mark.parametrize(("command", "cls"), WITH_OPTIONS)
def test_every_field_has_help_and_the_parser_gives_the_dataclass_defaults(command, cls):
    docs = field_docs(cls)
    fields = dataclasses.fields(cls)
    assert all(docs.get(f.name) for f in fields), [f.name for f in fields if f.name not in docs]
    positional = ["x" for f in fields if f.metadata.get("positional")]
    args = build_parser().parse_args([command, *positional])
    parsed = options_from(args)
    given = {f.name: "x" for f in fields if f.metadata.get("positional")}
    assert parsed == cls(**given)


def test_flags_are_typed_and_spelled_from_the_fields():
    argv = "run lora_sweep --set r=8 --set lr=1e-4 --samples 4 --max-params-pct 0.5 --resume"
    args = build_parser().parse_args([*argv.split(), "--top-k", "1"])
    options = options_from(args)
    assert options.sets == ("r=8", "lr=1e-4") and options.samples == 4 and options.top_k == 1
    assert (
        options.max_params_pct == 0.5 and options.resume is True and options.study == "lora_sweep"
    )
    help_text = _help("run")
    assert "--max-params-pct P" in help_text and "P% params_pct" in help_text


def _help(command: str) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        build_parser().parse_args([command, "--help"])
    return out.getvalue()


def test_version_prints_the_installed_distributions_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"peft-study {version('peft-study')}"
