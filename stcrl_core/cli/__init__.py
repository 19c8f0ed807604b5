"""The ``stcrl`` command: every heavy step of the workflow, from data to results.

Run ``stcrl --help`` for the list of commands and ``stcrl COMMAND --help`` for
each one's options.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from stcrl_core import __version__
from stcrl_core.errors import StcrlError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``stcrl`` (one sub-command per step)."""
    from stcrl_core.cli import data_commands, label_commands, results_commands, training_commands

    parser = argparse.ArgumentParser(
        prog="stcrl",
        description="Label-efficient building analysis from satellite imagery "
        "(ST-CRL, triplet location embeddings + experts, CSP).",
    )
    parser.add_argument("--version", action="version", version=f"stcrl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (data_commands, training_commands, results_commands, label_commands):
        module.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``stcrl``; returns the exit status.

    Library errors are printed as one line (``stcrl: error: ...``) with exit
    status 1; bad arguments exit with status 2.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (StcrlError, ValueError, FileNotFoundError) as exc:
        print(f"stcrl: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stcrl: interrupted", file=sys.stderr)
        return 130
