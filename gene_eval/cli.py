"""`genevlm` subcommands of the evaluation package."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="speed benchmarks (Markdown for BENCHMARKS.md)")
    p.add_argument("what", choices=["core"], help="core: execute + URDF time per category")
    p.add_argument("--genes", type=int, default=50, help="genes per category")
    p.add_argument("--repeats", type=int, default=3)
    p.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> None:
    from .bench import core_table

    print(core_table(args.genes, args.repeats))
