"""The command line: `python -m study COMMAND`.

main.py     the commands, each a few lines that hand a typed options object on
parser.py   argparse, built from study/options.py's dataclasses (defaults and help in
            one place)
summary.py  what `run` prints when a study ends
"""

from study.cli.main import main

__all__ = ["main"]
