"""``genevlm eval`` subcommands beyond ``genes``: geometry, judge, baseline, report, make-pairs.

:func:`register_eval` adds them to the ``eval`` subparsers that ``gene_eval.cli`` creates. Every
failure the user can fix (a missing folder, a bad judge spec, a refused request) is raised as
``CliError``: ``genevlm`` prints it as one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from gene_perception.cli import CliError

if TYPE_CHECKING:  # the command modules load their dependencies only when they run
    from gene_perception.tokenizer import QuantileTable

    from .items import EvalItem
    from .judge import AnswerCache, Judge, JudgeSettings


def register_eval(sub: argparse._SubParsersAction) -> None:
    """Add the subcommands to ``genevlm eval``'s subparsers."""
    g = sub.add_parser(
        "geometry", help="Chamfer distance and F-scores of predicted vs ground-truth meshes",
        description="Parse each image of an image-mesh pairs folder (or an OmniObject3D copy) "
                    "with the model, align each predicted mesh to the ground truth (10,000 "
                    "points, unit sphere, rotation grid search, ICP) and write eval_geometry.json, "
                    "eval_geometry.md, geometry_items.jsonl and gallery/ to --out. Folder layouts: "
                    "docs/evaluation.md.")
    g.add_argument("--pairs", required=True, type=Path,
                   help="pairs folder (CATEGORY/OBJECT/mesh.* + images/) or OmniObject3D root")
    g.add_argument("--model", required=True, type=Path, help="model folder or training run")
    _common(g)
    g.set_defaults(handler=_geometry)

    j = sub.add_parser(
        "judge", help="VLM-judge score of predictions on photos (SPEC §6 rubric)",
        description="Parse each image with the model, render the predicted mesh from 8 "
                    "azimuths, and let the judge VLM score 4 random views against the photo, 3 "
                    "times; write eval_judge.json, eval_judge.md, judge_items.jsonl and gallery/ "
                    "to --out. The API key comes from GENEVLM_JUDGE_API_KEY or OPENAI_API_KEY.")
    j.add_argument("--images", required=True, type=Path,
                   help="a folder of photos (or a pairs folder / OmniObject3D root)")
    j.add_argument("--model", required=True, type=Path, help="model folder or training run")
    j.add_argument("--judge", required=True, metavar="SPEC",
                   help="openai://HOST/MODEL, openai+http://HOST:PORT/MODEL or hf:PATH")
    _common(j)
    _judge_options(j)
    j.set_defaults(handler=_judge)

    b = sub.add_parser(
        "baseline", help="a general VLM prompted with the schema: failures counted, rest scored",
        description="Prompt a general VLM with the categories --json table and an example gene "
                    "for each image; count outputs that are not JSON, do not validate or do not "
                    "execute; score the rest with the judge, and with gene metrics and geometry "
                    "where the images have ground truth. Writes eval_baseline.* to --out.")
    b.add_argument("--images", required=True, type=Path,
                   help="a folder of photos, a pairs folder or an OmniObject3D root")
    b.add_argument("--judge", metavar="SPEC",
                   help="the judge (as for eval judge); without it, no VLM score")
    b.add_argument("--vlm", metavar="SPEC",
                   help="the prompted VLM, same forms as --judge (default: the --judge one)")
    b.add_argument("--vlm-max-tokens", type=int, default=4096,
                   help="answer length limit of the prompted VLM")
    b.add_argument("--quantiles", type=Path,
                   help="quantile table for the Float Error (a quantiles .json/.safetensors or "
                        "a model folder); needed for gene metrics on synthetic pairs")
    _common(b)
    _judge_options(b)
    b.set_defaults(handler=_baseline)

    r = sub.add_parser(
        "report", help="Markdown + HTML report: Table 1, per-category charts, curves, gallery",
        description="Collect eval_*.json results, training logs (metrics.jsonl) and evaluated "
                    "checkpoints from each RUN_DIR and write report.md, report.html (all "
                    "embedded) and report.json to --out.")
    r.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    r.add_argument("--out", required=True, type=Path, help="report folder")
    r.set_defaults(handler=_report)

    m = sub.add_parser(
        "make-pairs", help="an image-mesh pairs folder from a genevlm synth split",
        description="Write OUT/CATEGORY/GENE_ID/mesh.ply (the executed gene, object frame) and "
                    "images/POSE.png + POSE.json (the rendered view and its gene) for a split "
                    "of a synthesised dataset, so eval geometry and baseline run on it.")
    m.add_argument("--data", required=True, type=Path, help="dataset folder (genevlm synth)")
    m.add_argument("--out", required=True, type=Path, help="new pairs folder")
    m.add_argument("--split", default="test")
    m.add_argument("--per-category", type=int, help="first N images of each category")
    m.set_defaults(handler=_make_pairs)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, help="output folder (default: print only)")
    p.add_argument("--per-category", type=int, help="first N images of each category")
    p.add_argument("--views", type=int, default=8,
                   help="OmniObject3D: renders per object (equally spaced)")
    p.add_argument("--workers", type=int, default=1,
                   help="local worker processes for rendering and alignment (CPUs for --ray "
                        "local)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run the per-item work as Ray tasks: 'local', 'auto' or ray://...; "
                        "input folders must be on a filesystem every node sees")
    p.add_argument("--batch-size", type=int, default=16, help="model: images per batch")
    p.add_argument("--device", default="cpu", help="torch device of the model (and hf judge)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gallery", type=int, default=8,
                   help="input-vs-prediction tiles written for reports")


def _judge_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", type=int, default=3, help="judge runs per image (averaged)")
    p.add_argument("--views-per-run", type=int, default=4, help="of the 8 renders, per run")
    p.add_argument("--temperature", type=float, default=0.7, help="judge sampling temperature")
    p.add_argument("--max-tokens", type=int, default=1024, help="judge answer length limit")
    p.add_argument("--render-size", type=int, default=384, help="render side in pixels")
    p.add_argument("--concurrency", type=int, default=8,
                   help="judge requests in flight at once (HTTP judges)")
    p.add_argument("--retries", type=int, default=6,
                   help="HTTP judge: retries of a rate-limited or failed request")
    p.add_argument("--retry-backoff", type=float, default=1.0,
                   help="HTTP judge: first retry delay in seconds (doubles each retry; a "
                        "Retry-After header wins)")
    p.add_argument("--cache", type=Path,
                   help="judge answer cache folder (default: ~/.cache/genevlm/judge)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the evaluation's named failures into one-line CLI errors."""
    from gene_perception.models import ModelLoadError
    from gene_perception.runtime import ImageReadError

    from .genes import EvalDataError
    from .geometry import GeometryError
    from .judge import JudgeError
    from .parallel import ParallelError

    try:
        yield
    except (EvalDataError, ModelLoadError, ImageReadError, JudgeError, ParallelError,
            GeometryError) as exc:
        raise CliError(str(exc)) from None


def _check_counts(args: argparse.Namespace) -> None:
    for name in ("workers", "batch_size", "views", "runs", "views_per_run", "concurrency",
                 "max_tokens", "render_size", "vlm_max_tokens"):
        if getattr(args, name, 1) < 1:
            raise CliError(f"--{name.replace('_', '-')} must be at least 1")
    if getattr(args, "views_per_run", 4) > 8:
        raise CliError("--views-per-run must be at most 8 (of the 8 renders)")
    for name in ("per_category", "gallery", "retries", "retry_backoff"):
        if getattr(args, name, None) is not None and getattr(args, name) < 0:
            raise CliError(f"--{name.replace('_', '-')} must not be negative")


def _first_per_category(items: Sequence[EvalItem], n: int | None) -> list[EvalItem]:
    if n is None:
        return list(items)
    taken: dict[str | None, int] = {}
    out = []
    for item in items:
        if taken.get(item.category, 0) < n:
            taken[item.category] = taken.get(item.category, 0) + 1
            out.append(item)
    return out


def _judge_parts(args: argparse.Namespace, spec: str) -> tuple[Judge, AnswerCache, JudgeSettings]:
    from .judge import AnswerCache, JudgeSettings, default_cache_dir, make_judge

    judge = make_judge(spec, device=args.device, concurrency=args.concurrency,
                       backoff_s=args.retry_backoff, retries=args.retries)
    cache = AnswerCache(None if args.no_cache else (args.cache or default_cache_dir()))
    settings = JudgeSettings(runs=args.runs, views_per_run=args.views_per_run,
                             temperature=args.temperature, max_tokens=args.max_tokens,
                             seed=args.seed)
    return judge, cache, settings


def _done(kind: str, out: Path | None, text: str) -> None:
    print(text)
    if out is not None:
        print(f"written to {out}: eval_{kind}.json, eval_{kind}.md, {kind}_items.jsonl, "
              f"gallery/")


def _geometry(args: argparse.Namespace) -> None:
    from .eval_geometry import COLUMNS, evaluate_geometry
    from .items import load_pairs
    from .predict import model_predictions
    from .results import summary_markdown

    _check_counts(args)
    with _user_errors():
        items = _first_per_category(load_pairs(args.pairs, args.views), args.per_category)
        predictions, info = model_predictions(items, args.model, args.batch_size, args.device)
        info["pairs"] = str(args.pairs.resolve())
        result = evaluate_geometry(items, predictions, info, args.out, workers=args.workers,
                                   ray_address=args.ray, seed=args.seed, gallery=args.gallery)
    timing = result["timing"]
    _done("geometry", args.out,
          summary_markdown(result, COLUMNS) + f"\n{result['overall']['n']} pairs; parse "
          f"{info['parse_s']:.1f} s, geometry {timing['geometry_s']:.1f} s "
          f"({timing['pairs_per_s']:.2f} pairs/s, {args.workers} worker(s))")


def _judge(args: argparse.Namespace) -> None:
    from .eval_judge import evaluate_judge
    from .items import load_images
    from .predict import model_predictions
    from .results import summary_markdown

    _check_counts(args)
    with _user_errors():
        judge, cache, settings = _judge_parts(args, args.judge)
        items = _first_per_category(load_images(args.images, args.views), args.per_category)
        predictions, info = model_predictions(items, args.model, args.batch_size, args.device)
        info["images"] = str(args.images.resolve())
        result = evaluate_judge(items, predictions, info, judge, cache, settings, args.out,
                                workers=args.workers, ray_address=args.ray,
                                render_size=args.render_size, gallery=args.gallery)
    _done("judge", args.out,
          summary_markdown(result, [("vlm_score", "VLM score", 3)])
          + f"\nruns without a parseable score: {result['failed_runs']}; cache hits "
            f"{result['cache']['hits']}, requests {result['cache']['misses']}")


def _quantile_table(path: Path) -> QuantileTable:
    from gene_perception.models import read_model_file, resolve_model_dir
    from gene_perception.tokenizer import QuantileTable

    if path.is_dir():
        folder = resolve_model_dir(path)
        read_model_file(folder)  # a clear error when it is not a model folder
        tables = sorted(folder.glob("quantiles.*"))
        if not tables:
            raise CliError(f"{folder}: no quantiles.safetensors or quantiles.json")
        path = tables[0]
    if not path.is_file():
        raise CliError(f"--quantiles {path}: no such file")
    try:
        return QuantileTable.load(path)
    except (ValueError, KeyError) as exc:
        raise CliError(f"{path}: not a quantile table ({exc})") from None


def _baseline(args: argparse.Namespace) -> None:
    from .baseline import baseline_predictions, evaluate_baseline
    from .items import load_images

    _check_counts(args)
    vlm_spec = args.vlm or args.judge
    if vlm_spec is None:
        raise CliError("give --vlm (the prompted model) or --judge (used for both)")
    with _user_errors():
        table = _quantile_table(args.quantiles) if args.quantiles else None
        vlm, cache, settings = _judge_parts(args, vlm_spec)
        judge = None
        if args.judge:
            judge = vlm if args.judge == vlm_spec else _judge_parts(args, args.judge)[0]
        items = _first_per_category(load_images(args.images, args.views), args.per_category)
        predictions, info = baseline_predictions(items, vlm, cache,
                                                 max_tokens=args.vlm_max_tokens, seed=args.seed)
        info["images"] = str(args.images.resolve())
        result = evaluate_baseline(items, predictions, info, judge, cache, settings, args.out,
                                   table=table, workers=args.workers, ray_address=args.ray,
                                   render_size=args.render_size, gallery=args.gallery)
    print(f"{result['outputs']} outputs, {result['non_executable']} non-executable "
          f"({', '.join(f'{k}: {v}' for k, v in result['failures'].items())})")
    print({k: v for k, v in result["overall"].items() if v is not None})
    if args.out is not None:
        print(f"written to {args.out}: eval_baseline.json, eval_baseline.md, "
              f"baseline_items.jsonl")


def _report(args: argparse.Namespace) -> None:
    from .report import write_report

    with _user_errors():
        data = write_report(args.runs, args.out)
    print(f"report of {len(data['runs'])} run(s): {args.out / 'report.md'}, "
          f"{args.out / 'report.html'} ({len(data['figures'])} figures, "
          f"{len(data['gallery'])} gallery tiles)")


def _make_pairs(args: argparse.Namespace) -> None:
    from .items import make_synthetic_pairs

    if args.per_category is not None and args.per_category < 1:
        raise CliError("--per-category must be at least 1")
    with _user_errors():
        summary = make_synthetic_pairs(args.data, args.out, args.split, args.per_category)
    print(f"{summary['images']} images of {summary['objects']} objects → {args.out}")
