"""`genevlm` subcommands of the training package: ``synth``, ``quantiles``, ``bench-data``."""

from __future__ import annotations

import argparse
from pathlib import Path

from gene_perception.cli import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Data-generation and training subcommands (added as they are built)."""
    p = subparsers.add_parser(
        "synth", help="synthesise an image–gene dataset (Parquet shards, resumable)",
        description="Write a dataset of rendered genes to --out: DIR/{train,val,test}/"
                    "shard-NNNNN.parquet and DIR/manifest.json. Rerun the same command to "
                    "finish an interrupted run. With --preview, write DIR/preview.png instead.")
    p.add_argument("--out", required=True, type=Path, help="dataset folder")
    p.add_argument("--categories", nargs="+", metavar="CATEGORY",
                   help="category names, or 'all'")
    p.add_argument("--genes", type=int, help="genes per category")
    p.add_argument("--poses", type=int, default=5, help="augmented poses (images) per gene")
    p.add_argument("--kind", choices=["white", "color"], default="white",
                   help="white: grey WhiteImage; color: domain-randomised ColorImage, or "
                        "diffusion-recoloured with --diffusion-model")
    p.add_argument("--workers", type=int, default=1,
                   help="local worker processes (CPUs for --ray local)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run shards as Ray tasks: 'local' (a local Ray with --workers CPUs), "
                        "'auto' (the running cluster) or a ray:// address; --out must be on a "
                        "filesystem every node sees")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=224, help="image side in pixels")
    p.add_argument("--mask", action="store_true", help="add per-instance masks (PNG, uint8)")
    p.add_argument("--depth", action="store_true",
                   help="add depth (16-bit PNG, millimetres, 0 = no surface)")
    p.add_argument("--shard-size", type=int, default=1000,
                   help="rows per shard (whole genes: shard-size // poses genes)")
    p.add_argument("--removal-rate", type=float,
                   help="probability of dropping each optional instance (default: each "
                        "category's own)")
    p.add_argument("--split-fractions", type=float, nargs=3, default=[0.9, 0.05, 0.05],
                   metavar=("TRAIN", "VAL", "TEST"), help="fractions of genes per split")
    p.add_argument("--backgrounds", type=Path,
                   help="folder of background photos for --kind color")
    p.add_argument("--diffusion-model", type=Path,
                   help="local diffusers pipeline folder: recolour WhiteImages by diffusion")
    p.add_argument("--diffusion-steps", type=int, default=20, help="diffusion denoising steps")
    p.add_argument("--diffusion-resolution", type=int, default=512,
                   help="diffusion working resolution (multiple of 8; 512 for SD 1.x)")
    p.add_argument("--diffusion-device", default="cpu", help="torch device, e.g. cuda")
    p.add_argument("--renderer", choices=["pyrender", "blender"], default="pyrender",
                   help="pyrender (OSMesa/EGL, fast) or Blender Cycles (slower, higher quality)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--preview", action="store_true",
                   help="write DIR/preview.png, a contact sheet of an existing dataset")
    p.add_argument("--grid", type=int, default=8, help="preview: grid × grid images")
    p.set_defaults(handler=_synth)

    p = subparsers.add_parser("quantiles",
                              help="1024 quantiles per parameter key of a dataset's genes")
    p.add_argument("--data", required=True, type=Path, help="dataset folder (genevlm synth)")
    p.add_argument("--out", required=True, type=Path, help="output .json")
    p.add_argument("--split", default="train", help="split to compute over")
    p.set_defaults(handler=_quantiles)

    p = subparsers.add_parser(
        "bench-data", help="dataset throughput: gene → image → shard pairs/s (Markdown)")
    p.add_argument("--kinds", nargs="+", choices=["white", "color"], default=["white", "color"])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--samples", type=int, default=600, help="images per run")
    p.add_argument("--repeats", type=int, default=3, help="runs per cell; the median is shown")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--categories", nargs="+", default=["all"])
    p.add_argument("--renderer", choices=["pyrender", "blender"], default="pyrender")
    p.set_defaults(handler=_bench_data)

    _register_train(subparsers)


def _register_train(subparsers: argparse._SubParsersAction) -> None:
    from .train import TrainConfig

    d = TrainConfig("white", ".", ".")
    p = subparsers.add_parser(
        "train", help="train a GeneVLM model (stage 1 white, stage 2 color; resumable)",
        description="Train on a genevlm synth dataset. Stage white starts a new GeneNet or a "
                    "pretrained Qwen2.5-VL (--base, a local folder); stage color continues from "
                    "the stage-1 run (--base STAGE1_OUT). Rerun the same command to resume. "
                    "Multi-GPU / multi-node: accelerate launch --config_file "
                    "configs/accelerate/<ddp|fsdp|zero2|zero3>.yaml -m gene_perception "
                    "train ...")
    p.add_argument("--stage", required=True, choices=["white", "color"])
    p.add_argument("--data", required=True, type=Path, help="dataset folder (genevlm synth)")
    p.add_argument("--out", required=True, type=Path, help="run folder (model in OUT/model)")
    p.add_argument("--base", type=Path,
                   help="stage white: a local Qwen2.5-VL folder (qwen2_5_vl); stage color: the "
                        "stage-1 run folder")
    p.add_argument("--replay", type=Path, metavar="DIR",
                   help="an earlier stage's dataset (genevlm synth) whose training samples are "
                        "mixed in at --replay-ratio, e.g. stage 1's white images in stage 2")
    p.add_argument("--replay-ratio", type=float, default=d.replay_ratio,
                   help="share of replayed samples among the gene samples")
    p.add_argument("--model-type", choices=["genenet", "qwen2_5_vl"], default=d.model_type)
    p.add_argument("--model-option", action="append", default=[], metavar="KEY=JSON",
                   help="model configuration field for a new model, e.g. hidden_size=256, "
                        "lora={\"r\": 16} (repeatable)")
    p.add_argument("--general-sft", nargs="+", type=Path, default=[], metavar="FILE",
                   help="general instruction data (LLaVA-style JSONL or Parquet with images)")
    p.add_argument("--sft-ratio", type=float, default=d.sft_ratio,
                   help="share of general instruction samples among all samples")
    p.add_argument("--categories", nargs="+", default=[], metavar="CATEGORY",
                   help="train and validate on these categories only (default: all)")
    for name in ("batch_size", "grad_accum", "max_steps", "warmup_steps", "seed", "log_every",
                 "eval_every", "save_every", "val_samples", "keep_checkpoints", "workers"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    for name in ("lr", "min_lr_ratio", "weight_decay", "grad_clip"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    p.add_argument("--mixed-precision", choices=["auto", "no", "bf16", "fp16"],
                   default=d.mixed_precision,
                   help="auto: bf16 on GPUs and CPUs with native bf16, else full precision")
    p.add_argument("--time-budget-min", type=float,
                   help="stop after this many minutes with a checkpoint (rerun to continue)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> None:
    import json

    from gene_perception.models import ModelLoadError

    from .train import TrainConfig, TrainError, train

    options = {}
    for item in args.model_option:
        key, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--model-option {item!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    try:
        config = TrainConfig(
            stage=args.stage, data=str(args.data), out=str(args.out),
            base=str(args.base) if args.base else None, model_type=args.model_type,
            model_options=options, replay=str(args.replay) if args.replay else None,
            replay_ratio=args.replay_ratio, general_sft=[str(p) for p in args.general_sft],
            categories=list(args.categories),
            sft_ratio=args.sft_ratio, batch_size=args.batch_size, grad_accum=args.grad_accum,
            max_steps=args.max_steps, lr=args.lr, min_lr_ratio=args.min_lr_ratio,
            warmup_steps=args.warmup_steps, weight_decay=args.weight_decay,
            grad_clip=args.grad_clip, mixed_precision=args.mixed_precision, seed=args.seed,
            log_every=args.log_every, eval_every=args.eval_every, save_every=args.save_every,
            val_samples=args.val_samples, keep_checkpoints=args.keep_checkpoints,
            workers=args.workers, time_budget_min=args.time_budget_min)
        model = train(config, progress=not args.no_progress)
    except (TrainError, ModelLoadError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if model.is_dir():
        print(f"model: {model}")
    else:  # stopped by --time-budget-min: only a checkpoint exists so far
        print(f"no final model yet: rerun the same command to continue to {model}")


def _categories(names: list[str] | None) -> tuple[str, ...]:
    from gene_perception.registry import CATEGORIES

    if not names:
        raise CliError("--categories is required (names, or 'all')")
    return tuple(CATEGORIES) if "all" in names else tuple(names)


def _synth(args: argparse.Namespace) -> None:
    from .dataset import SynthConfig, SynthError, preview_sheet, synthesize_dataset

    try:
        if args.preview:
            print(f"wrote {preview_sheet(args.out, args.grid)}")
            return
        if args.genes is None:
            raise CliError("--genes is required")
        config = SynthConfig(
            categories=_categories(args.categories), genes=args.genes, poses=args.poses,
            kind=args.kind, seed=args.seed, size=args.size, mask=args.mask, depth=args.depth,
            shard_size=args.shard_size, removal_rate=args.removal_rate,
            fractions=tuple(args.split_fractions),
            backgrounds=None if args.backgrounds is None else str(args.backgrounds.resolve()),
            diffusion_model=None if args.diffusion_model is None
            else str(args.diffusion_model.resolve()),
            diffusion_steps=args.diffusion_steps,
            diffusion_resolution=args.diffusion_resolution,
            diffusion_device=args.diffusion_device, renderer=args.renderer)
        manifest = synthesize_dataset(config, args.out, workers=args.workers,
                                      ray_address=args.ray, progress=not args.no_progress)
    except SynthError as exc:
        raise CliError(str(exc)) from None
    splits = ", ".join(f"{name} {entry['rows']}" for name, entry in manifest["splits"].items())
    print(f"wrote {args.out}: {manifest['rows']} images of {manifest['genes']} genes "
          f"({splits}) in {len(manifest['shards'])} shards")


def _quantiles(args: argparse.Namespace) -> None:
    from .dataset import SynthError
    from .quantiles import write_quantiles

    try:
        result = write_quantiles(args.data, args.out, args.split)
    except SynthError as exc:
        raise CliError(str(exc)) from None
    seen = sum(1 for entry in result["keys"].values() if entry["count"])
    print(f"wrote {args.out}: {len(result['keys'])} keys ({seen} seen in {args.split}, the rest "
          f"spaced over their declared range), {result['n_quantiles']} quantiles each")


def _bench_data(args: argparse.Namespace) -> None:
    from .bench import data_table

    print(data_table(args.kinds, args.workers, args.samples, args.repeats, args.size,
                     _categories(args.categories), args.renderer))
