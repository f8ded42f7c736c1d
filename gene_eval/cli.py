"""`genevlm` subcommands of the evaluation package."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="speed benchmarks (Markdown for BENCHMARKS.md)")
    p.add_argument("what", choices=["core", "grammar"],
                   help="core: execute + URDF time per category; grammar: constrained-decoding "
                        "mask overhead per token, ours beside xgrammar")
    p.add_argument("--genes", type=int, help="genes per category (default: core 50, grammar 4)")
    p.add_argument("--repeats", type=int, default=3, help="timing repeats")
    p.add_argument("--batch", type=int, default=32, help="grammar: the batched measure's size")
    p.set_defaults(handler=_bench)

    p = subparsers.add_parser("eval", help="benchmark a model (gene metrics, geometry, judge)")
    sub = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    g = sub.add_parser("genes", help="Concept Accuracy, Float Error, executability per category",
                       description="Parse a synthesised test split with the model; write "
                                   "eval_genes.json, eval_genes.md and predictions.jsonl to --out.")
    g.add_argument("--data", required=True, type=Path, help="dataset folder (genevlm synth)")
    g.add_argument("--model", required=True, type=Path, help="model folder or training run")
    g.add_argument("--out", type=Path, help="output folder (default: print only)")
    g.add_argument("--split", default="test")
    g.add_argument("--per-category", type=int, help="first N images of each category")
    g.add_argument("--batch-size", type=int, default=16)
    g.add_argument("--device", default="cpu")
    g.set_defaults(handler=_eval_genes)

    from .cli_eval import register_eval

    register_eval(sub)


def _bench(args: argparse.Namespace) -> None:
    if args.what == "grammar":
        from gene_perception.cli import CliError
        from gene_perception.grammar import grammar_overhead_table

        try:
            print(grammar_overhead_table(args.genes or 4, args.batch, args.repeats))
        except ImportError as exc:
            raise CliError(str(exc)) from None
        return
    from .bench import core_table

    print(core_table(args.genes or 50, args.repeats))


def _eval_genes(args: argparse.Namespace) -> None:
    from gene_perception.cli import CliError
    from gene_perception.models import ModelLoadError

    from .genes import EvalDataError, evaluate_genes
    from .metrics import metrics_markdown

    try:
        result = evaluate_genes(args.data, args.model, args.out, args.split, args.per_category,
                                args.batch_size, args.device)
    except (ModelLoadError, EvalDataError) as exc:
        raise CliError(str(exc)) from None
    print(metrics_markdown(result))
    print(f"{result['images']} images, {result['seconds_per_image']:.3f} s per image"
          + (f"; written to {args.out}" if args.out else ""))
