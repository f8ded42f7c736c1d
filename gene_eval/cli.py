"""`genevlm` subcommands of the evaluation package."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="speed benchmarks (Markdown for BENCHMARKS.md)")
    p.add_argument("what", choices=["core", "grammar", "latency"],
                   help="core: execute + URDF time per category; grammar: constrained-decoding "
                        "mask overhead per token, ours beside xgrammar; latency: image → gene "
                        "at batch 1 per inference backend, torch the anchor")
    p.add_argument("--genes", type=int, help="genes per category (default: core 50, grammar 4)")
    p.add_argument("--repeats", type=int, default=3, help="timing repeats")
    p.add_argument("--batch", type=int, default=32, help="grammar: the batched measure's size")
    p.add_argument("--model", type=Path, help="latency: GeneNet model folder or training run")
    p.add_argument("--onnx", type=Path,
                   help="latency: ONNX export of --model (default: exported to a temp folder)")
    p.add_argument("--engines", type=Path, help="latency: TensorRT engine folder")
    p.add_argument("--backends", nargs="+", default=["torch", "onnxruntime"],
                   choices=["torch", "onnxruntime", "tensorrt"], help="latency: backends")
    p.add_argument("--images", type=int, default=100, help="latency: images timed per backend")
    p.add_argument("--data", type=Path, default=Path("data/white128"),
                   help="latency: genevlm synth folder whose test images are parsed")
    p.add_argument("--threads", type=int, default=1, help="latency: CPU threads per backend")
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
    g.add_argument("--categories", nargs="+", default=[], metavar="CATEGORY",
                   help="these categories only (default: all)")
    g.add_argument("--batch-size", type=int, default=16)
    g.add_argument("--device", default="cpu")
    g.set_defaults(handler=_eval_genes)

    from .cli_eval import register_eval

    register_eval(sub)


def _bench(args: argparse.Namespace) -> None:
    if args.what == "latency":
        _bench_latency(args)
        return
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


def _bench_latency(args: argparse.Namespace) -> None:
    from gene_perception.cli import CliError
    from gene_perception.models import ModelLoadError
    from gene_perception.onnx_export import ExportError

    from .genes import EvalDataError
    from .latency import bench_images, latency_table

    if args.model is None:
        raise CliError("bench latency needs --model (a GeneNet model folder or training run)")
    if args.images < 1 or args.threads < 1:
        raise CliError("--images and --threads must be at least 1")
    try:
        print(latency_table(args.model, args.backends, bench_images(args.data, args.images),
                            args.onnx, args.engines, args.threads))
    except (ModelLoadError, ExportError, EvalDataError, ValueError) as exc:
        raise CliError(str(exc)) from None


def _eval_genes(args: argparse.Namespace) -> None:
    from gene_perception.cli import CliError
    from gene_perception.models import ModelLoadError

    from .genes import EvalDataError, evaluate_genes, localiser_line
    from .metrics import metrics_markdown

    try:
        result = evaluate_genes(args.data, args.model, args.out, args.split, args.per_category,
                                args.batch_size, args.device, args.categories)
    except (ModelLoadError, EvalDataError) as exc:
        raise CliError(str(exc)) from None
    print(metrics_markdown(result))
    print(localiser_line(result), end="")
    print(f"{result['images']} images, {result['seconds_per_image']:.3f} s per image"
          + (f"; written to {args.out}" if args.out else ""))
