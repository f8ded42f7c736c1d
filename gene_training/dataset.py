"""Sharded, resumable, reproducible image–gene datasets (SPEC §2 steps 4–6).

Layout of a dataset folder ``DIR``::

    DIR/synth_config.json             what the data depends on (written first; a rerun must match)
    DIR/{train,val,test}/shard-NNNNN.parquet
    DIR/.shards/{split}-shard-NNNNN.json   done-marker per shard (rows, sha256, counts)
    DIR/manifest.json                 written last: config, counts, per-shard sha256, code version
    DIR/.lock                         held (flock) by the run writing the folder

``datasets.load_dataset("parquet", data_dir=DIR)`` reads it (``val`` becomes the ``validation``
split). Columns of every shard (one row per image, all poses of a gene in one shard):

==========  ==================  ===========================================================
image       binary              PNG, RGB uint8, ``size`` × ``size``
gene        string              the gene's JSON with its augmented global pose
category    string              category name
templates   list<string>        the gene's template names, sorted and unique
pose        list<double> (6)    global position x, y, z (m), rotation x, y, z (deg)
seed        int64               the dataset seed
gene_id     string              ``{category}-s{seed}-{index:08d}``
pose_index  int32               0 .. poses - 1
split       string              train / val / test
mask        binary (optional)   PNG, uint8 L: 0 background, instance index + 1 (``--mask``)
depth       binary (optional)   PNG, uint16 I;16: depth along the camera axis in millimetres,
                                0 where no surface (``--depth``)
==========  ==================  ===========================================================

Shards are planned from the configuration alone (:func:`plan_shards`); each is written by the pure
function :func:`write_shard` (same bytes for the same spec, in any process, on any machine), to a
temporary file renamed into place, followed by its done-marker. A rerun skips shards whose marker
matches the file's size and sha256 and writes the rest, so a killed run finishes with no missing
and no duplicate sample; the manifest is rewritten from the markers when every shard is done.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from gene_perception.execute import ExecutedGene
from gene_perception.registry import CATEGORIES
from gene_perception.render import RenderResult

from .synthesis import (DEFAULT_FRACTIONS, DEFAULT_POSES, SPLITS, check_fractions, gene_id,
                        sample_rng, split_of, synthesize)

FORMAT = "genevlm-synth/1"
CONFIG_FILE = "synth_config.json"
MANIFEST_FILE = "manifest.json"
MARKER_DIR = ".shards"
LOCK_FILE = ".lock"
TMP_DIR = ".tmp"
#: zlib level of the PNGs: level 1 is about 3× faster than PIL's default 6 and, on WhiteImages
#: (flat grey on white), within a few hundred bytes of it.
PNG_LEVEL = 1
#: Depth PNG unit: millimetres (uint16 covers 65 m; the farthest surface of a 2 m-radius object
#: at the fixed camera distance is about 16 m).
DEPTH_SCALE = 1000.0


class SynthError(Exception):
    """A user-facing dataset failure (bad configuration, foreign folder, failed shard)."""


@dataclass(frozen=True)
class SynthConfig:
    """Everything the data depends on; two runs with equal configs write identical shards.

    ``shard_size`` is in rows (images); a shard holds ``max(1, shard_size // poses)`` whole
    genes. ``removal_rate`` None uses each category's own rate. Paths are stored absolute.
    The ``diffusion_*`` settings apply with ``diffusion_model`` only (the pipeline's steps,
    working resolution, a multiple of 8, and torch device).
    """

    categories: tuple[str, ...]
    genes: int
    poses: int = DEFAULT_POSES
    kind: Literal["white", "color"] = "white"
    seed: int = 0
    size: int = 224
    mask: bool = False
    depth: bool = False
    shard_size: int = 1000
    removal_rate: float | None = None
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    backgrounds: str | None = None
    diffusion_model: str | None = None
    diffusion_steps: int = 20
    diffusion_resolution: int = 512
    diffusion_device: str = "cpu"
    renderer: Literal["pyrender", "blender"] = "pyrender"

    def __post_init__(self) -> None:
        unknown = [c for c in self.categories if c not in CATEGORIES]
        if unknown:
            raise SynthError(f"unknown category {', '.join(unknown)}; known: "
                             f"{', '.join(CATEGORIES)}")
        if not self.categories:
            raise SynthError("no categories given")
        if self.renderer not in ("pyrender", "blender"):
            raise SynthError(f"unknown renderer {self.renderer!r}: pyrender or blender")
        if len(set(self.categories)) != len(self.categories):
            raise SynthError(f"categories repeat: {', '.join(self.categories)}")
        for name, low in (("genes", 1), ("poses", 1), ("size", 16), ("shard_size", 1),
                          ("diffusion_steps", 1), ("diffusion_resolution", 8)):
            if getattr(self, name) < low:
                raise SynthError(f"--{name.replace('_', '-')} must be at least {low}")
        if self.diffusion_resolution % 8:
            raise SynthError(f"--diffusion-resolution must be a multiple of 8, got "
                             f"{self.diffusion_resolution}")
        if self.kind not in ("white", "color"):
            raise SynthError(f"--kind must be white or color, got {self.kind!r}")
        if self.removal_rate is not None and not 0.0 <= self.removal_rate <= 1.0:
            raise SynthError(f"--removal-rate must be in [0, 1], got {self.removal_rate}")
        try:
            check_fractions(self.fractions)
        except ValueError as exc:
            raise SynthError(str(exc)) from None
        if self.kind == "white" and (self.backgrounds or self.diffusion_model):
            raise SynthError("--backgrounds and --diffusion-model apply to --kind color only")
        for name in ("backgrounds", "diffusion_model"):
            path = getattr(self, name)
            if path is not None and not Path(path).exists():
                raise SynthError(f"--{name.replace('_', '-')} {path}: no such file or folder")

    @property
    def genes_per_shard(self) -> int:
        return max(1, self.shard_size // self.poses)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["categories"] = list(self.categories)
        data["fractions"] = list(self.fractions)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SynthConfig":
        names = {f.name for f in fields(cls)}
        if set(data) != names:
            raise SynthError(f"config keys {sorted(data)} differ from {sorted(names)}")
        return cls(**{**data, "categories": tuple(data["categories"]),
                      "fractions": tuple(data["fractions"])})


@dataclass(frozen=True)
class ShardSpec:
    """One shard: its split, number, and the (category, gene index) pairs it holds."""

    config: SynthConfig
    split: str
    number: int
    genes: tuple[tuple[str, int], ...]

    @property
    def name(self) -> str:
        return f"{self.split}/shard-{self.number:05d}"

    @property
    def rows(self) -> int:
        return len(self.genes) * self.config.poses

    def path(self, out_dir: Path) -> Path:
        return out_dir / self.split / f"shard-{self.number:05d}.parquet"

    def marker(self, out_dir: Path) -> Path:
        return out_dir / MARKER_DIR / f"{self.split}-shard-{self.number:05d}.json"


@dataclass
class ShardResult:
    """What a written shard holds, as its done-marker records it."""

    name: str
    rows: int
    genes: int
    sha256: str
    bytes: int
    categories: dict[str, int]
    code_version: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def plan_shards(config: SynthConfig) -> list[ShardSpec]:
    """The shards of a dataset, from its config alone.

    Genes are listed gene index first and category second, so every shard mixes the categories;
    each split's genes (by :func:`split_of`) are cut into shards of ``genes_per_shard``.
    """
    by_split: dict[str, list[tuple[str, int]]] = {split: [] for split in SPLITS}
    for index in range(config.genes):
        for category in config.categories:
            by_split[split_of(config.seed, category, index, config.fractions)].append(
                (category, index))
    step = config.genes_per_shard
    return [ShardSpec(config, split, number, tuple(genes[start:start + step]))
            for split, genes in by_split.items()
            for number, start in enumerate(range(0, len(genes), step))]


@functools.cache
def code_version() -> str:
    """Package version, plus the git commit (``+dirty`` with local changes) of a checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version("genevlm")
    except PackageNotFoundError:
        text = "unknown"
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], check=True,
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "."],
                               check=True, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return text
    return f"{text}+git.{commit[:12]}{'.dirty' if dirty.strip() else ''}"


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of an RGB/L uint8 or I;16 uint16 image at :data:`PNG_LEVEL`."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def encode_depth(depth: np.ndarray) -> bytes:
    """Depth in metres (0 = no surface) → 16-bit PNG in millimetres."""
    return encode_png(np.clip(np.rint(depth * DEPTH_SCALE), 0, 65535).astype(np.uint16))


def decode_depth(data: bytes) -> np.ndarray:
    """16-bit depth PNG → float32 metres (0 = no surface)."""
    return np.asarray(Image.open(io.BytesIO(data)), dtype=np.float32) / DEPTH_SCALE


class _Painter:
    """Per-process image maker: the GL renderer (one context per process, reused), and for
    ColorImages the loaded backgrounds or the diffusion pipeline."""

    def __init__(self, config: SynthConfig) -> None:
        self.config = config
        if config.renderer == "blender":
            from gene_perception.render_blender import BlenderRenderer

            self.renderer = BlenderRenderer(size=config.size)
        else:
            from gene_perception.render import SceneRenderer

            self.renderer = SceneRenderer(size=config.size)
        self.backgrounds = None
        self.recolorizer = None
        if config.kind == "color" and config.diffusion_model is not None:
            from .diffusion import DiffusionRecolorizer

            self.recolorizer = DiffusionRecolorizer(
                config.diffusion_model, device=config.diffusion_device,
                steps=config.diffusion_steps, resolution=config.diffusion_resolution)
        elif config.kind == "color" and config.backgrounds is not None:
            from .colorize import load_backgrounds

            self.backgrounds = load_backgrounds(config.backgrounds, config.size)

    def paint(self, executed: ExecutedGene, rng: np.random.Generator) -> RenderResult:
        """The image (and mask/depth as configured) of one posed gene."""
        config = self.config
        if config.kind == "white":
            return self.renderer.render(executed, mask=config.mask, depth=config.depth)
        if self.recolorizer is not None:
            from .diffusion import prompt_for

            result = self.renderer.render(executed, mask=config.mask, depth=True)
            prompt = prompt_for(executed.gene.category, rng)
            result.image = self.recolorizer(result.image, result.depth, prompt, rng)
            if not config.depth:
                result.depth = None
            return result
        from .colorize import sample_appearance

        appearance = sample_appearance(executed, rng, config.size, self.backgrounds)
        return self.renderer.render(executed, appearance, mask=config.mask, depth=config.depth)

    def close(self) -> None:
        self.renderer.close()


_PAINTER: list[_Painter] = []  # at most one per process: one GL context


def _painter_key(config: SynthConfig) -> tuple:
    """The settings a painter depends on: shards of other datasets with the same settings
    reuse the renderer and the loaded backgrounds or diffusion pipeline."""
    return (config.kind, config.size, config.mask, config.depth, config.backgrounds,
            config.diffusion_model, config.diffusion_steps, config.diffusion_resolution,
            config.diffusion_device, config.renderer)


def _painter(config: SynthConfig) -> _Painter:
    if _PAINTER and _painter_key(_PAINTER[0].config) == _painter_key(config):
        return _PAINTER[0]
    while _PAINTER:
        _PAINTER.pop().close()
    _PAINTER.append(_Painter(config))
    return _PAINTER[0]


_TEXT_COLUMNS = ("gene", "templates", "gene_id")


def _schema(config: SynthConfig):
    import pyarrow as pa

    columns = [("image", pa.binary()), ("gene", pa.string()), ("category", pa.string()),
               ("templates", pa.list_(pa.string())), ("pose", pa.list_(pa.float64())),
               ("seed", pa.int64()), ("gene_id", pa.string()), ("pose_index", pa.int32()),
               ("split", pa.string())]
    if config.mask:
        columns.append(("mask", pa.binary()))
    if config.depth:
        columns.append(("depth", pa.binary()))
    return pa.schema(columns)


def write_shard(spec: ShardSpec, out_dir: str | Path) -> ShardResult:
    """Synthesise, render and write one shard and its done-marker; returns what it wrote.

    Pure in ``spec``: the same spec gives the same Parquet bytes in any process. Each gene is
    executed once and rendered at each of its poses by this process's renderer. The file is
    written under ``DIR/.tmp`` and renamed into its split folder, then the marker likewise.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    config = spec.config
    painter = _painter(config)
    columns: dict[str, list] = {name: [] for name in _schema(config).names}
    counts: Counter[str] = Counter()
    for category, index in spec.genes:
        ident = gene_id(config.seed, category, index)
        try:
            synthesized = synthesize(category, index, config.seed, config.poses,
                                     config.removal_rate)
        except Exception as exc:
            raise SynthError(f"{spec.name}: gene {ident}: {exc}") from exc
        templates = sorted({inst.template for inst in synthesized.gene.instances})
        for k, posed in enumerate(synthesized.poses):
            result = painter.paint(synthesized.posed(k),
                                   sample_rng(config.seed, category, index, k))
            columns["image"].append(encode_png(result.image))
            columns["gene"].append(posed.dumps())
            columns["category"].append(category)
            columns["templates"].append(templates)
            columns["pose"].append([*map(float, posed.global_position),
                                    *map(float, posed.global_rotation)])
            columns["seed"].append(config.seed)
            columns["gene_id"].append(ident)
            columns["pose_index"].append(k)
            columns["split"].append(spec.split)
            if config.mask:
                columns["mask"].append(encode_png(result.mask))
            if config.depth:
                columns["depth"].append(encode_depth(result.depth))
        counts[category] += config.poses
    table = pa.Table.from_pydict(columns, schema=_schema(config))
    tmp_dir = out_dir / TMP_DIR
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"{spec.split}-shard-{spec.number:05d}.parquet.{os.getpid()}"
    # PNGs do not compress further: only the text columns are compressed, and only the small
    # repetitive ones dictionary-encoded.
    pq.write_table(table, tmp, row_group_size=256,
                   compression={name: "zstd" if name in _TEXT_COLUMNS else "none"
                                for name in table.column_names},
                   use_dictionary=["category", "split", "templates", "seed", "pose_index"])
    result = ShardResult(spec.name, spec.rows, len(spec.genes), _sha256(tmp), tmp.stat().st_size,
                         dict(sorted(counts.items())), code_version())
    path = spec.path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.replace(path)
    _write_json_atomic(spec.marker(out_dir), result.to_json())
    return result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def completed(spec: ShardSpec, out_dir: Path) -> ShardResult | None:
    """The shard's result if its marker, file size, sha256 and row count all agree."""
    marker, path = spec.marker(out_dir), spec.path(out_dir)
    if not marker.is_file() or not path.is_file():
        return None
    try:
        result = ShardResult(**json.loads(marker.read_text()))
    except (ValueError, TypeError):
        return None
    if (result.name != spec.name or result.rows != spec.rows
            or result.bytes != path.stat().st_size or result.sha256 != _sha256(path)):
        return None
    return result


def _check_config(config: SynthConfig, out_dir: Path) -> None:
    """Record the config in a fresh folder; refuse a folder written with another config."""
    path = out_dir / CONFIG_FILE
    if path.is_file():
        try:
            recorded = json.loads(path.read_text())
        except ValueError:
            raise SynthError(f"{path}: not valid JSON; remove the folder or choose another "
                             f"--out") from None
        current = config.to_json()
        diff = [f"{key}: {recorded.get(key)!r} there, {current.get(key)!r} now"
                for key in sorted(set(recorded) | set(current))
                if recorded.get(key) != current.get(key)]
        if diff:
            raise SynthError(f"{out_dir} holds a dataset with another config ({'; '.join(diff)})"
                             f"; use another --out or the same arguments")
        return
    if any(path.name != LOCK_FILE for path in out_dir.iterdir()):
        raise SynthError(f"{out_dir} is not empty and holds no {CONFIG_FILE}; choose an empty "
                         f"or new --out")
    _write_json_atomic(path, config.to_json())


def _run_local(specs: list[ShardSpec], out_dir: Path, workers: int) -> Iterator[ShardResult]:
    if workers == 1:
        for spec in specs:
            yield write_shard(spec, out_dir)
        return
    import multiprocessing

    # Workers must not be forked from a process that has rendered: llvmpipe's threads do not
    # survive a fork and the child deadlocks in its first draw. A fork server (started once per
    # process, with the imports done) forks them from a clean process instead, without the
    # ~2 s of imports per worker that spawn costs. Each worker makes its own renderer.
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["gene_training.dataset", "gene_perception.render"])
    else:
        context = multiprocessing.get_context("spawn")
    with _worker_environment(), context.Pool(workers) as pool:
        yield from pool.imap_unordered(_write_shard_args, [(s, out_dir) for s in specs])


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    """Environment the worker processes (and the fork server) start with: one OpenBLAS thread.

    Parallelism comes from the processes; OpenBLAS's idle threads otherwise spin after the small
    matrix products of posing and colouring, doubling a ColorImage worker's CPU time for no
    gain in wall time, so that two workers were slower than one. Must be set before NumPy is
    imported, hence in the environment the new processes inherit; restored afterwards.
    """
    previous = os.environ.get("OPENBLAS_NUM_THREADS")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["OPENBLAS_NUM_THREADS"]
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = previous


def _write_shard_args(args: tuple[ShardSpec, Path]) -> ShardResult:
    return write_shard(*args)


def _run_ray(specs: list[ShardSpec], out_dir: Path, address: str,
             workers: int) -> Iterator[ShardResult]:
    """The same :func:`write_shard` as Ray tasks; ``out_dir`` must be on a filesystem every
    node sees. ``address``: ``local`` starts a local Ray with ``workers`` CPUs, ``auto`` or
    ``ray://...`` joins a cluster; an already initialised Ray is used as it is."""
    import ray

    if not ray.is_initialized():
        if address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            try:
                ray.init(address=address, log_to_driver=False)
            except ConnectionError as exc:
                raise SynthError(f"--ray {address}: no Ray cluster there ({exc})") from None
    task = ray.remote(num_cpus=1)(write_shard)
    pending = [task.remote(spec, str(out_dir)) for spec in specs]
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])


def synthesize_dataset(config: SynthConfig, out_dir: str | Path, workers: int = 1,
                       ray_address: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Write (or finish writing) the dataset of ``config`` into ``out_dir``; returns the
    manifest. Completed shards are verified and kept; the rest are written by ``workers``
    local processes, or by Ray tasks when ``ray_address`` is given.

    Local workers are forked from a fork server, so a script calling this with ``workers > 1``
    needs the usual ``if __name__ == "__main__":`` guard of Python multiprocessing."""
    if workers < 1:
        raise SynthError("--workers must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(out_dir):
        _check_config(config, out_dir)
        return _synthesize(config, out_dir, workers, ray_address, progress)


@contextlib.contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    """Hold ``DIR/.lock`` for the run: a second run on the same folder would delete the first
    one's temporary files. The kernel drops the lock when the process dies, even by SIGKILL."""
    import fcntl

    with open(out_dir / LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SynthError(f"{out_dir}: another genevlm synth is writing this folder") from None
        yield


def _synthesize(config: SynthConfig, out_dir: Path, workers: int, ray_address: str | None,
                progress: bool) -> dict[str, Any]:
    from tqdm import tqdm

    # Leftovers of a killed run: partial shards and markers.
    shutil.rmtree(out_dir / TMP_DIR, ignore_errors=True)
    for leftover in (out_dir / MARKER_DIR).glob("*.tmp"):
        leftover.unlink()
    specs = plan_shards(config)
    results = {spec.name: completed(spec, out_dir) for spec in specs}
    todo = [spec for spec in specs if results[spec.name] is None]
    total = sum(spec.rows for spec in specs)
    bar = tqdm(total=total, initial=total - sum(spec.rows for spec in todo), unit="pair",
               desc=f"synth {out_dir.name}", disable=not progress, file=sys.stderr,
               smoothing=0.1)
    runner = _run_ray(todo, out_dir, ray_address, workers) if ray_address \
        else _run_local(todo, out_dir, workers)
    with bar:
        for result in runner:
            results[result.name] = result
            bar.update(result.rows)
    shutil.rmtree(out_dir / TMP_DIR, ignore_errors=True)
    manifest = build_manifest(config, [results[spec.name] for spec in specs])
    _write_json_atomic(out_dir / MANIFEST_FILE, manifest)
    return manifest


def build_manifest(config: SynthConfig, results: list[ShardResult]) -> dict[str, Any]:
    """The manifest: config, counts per split and category, per-shard checksums, code version."""
    counts: dict[str, dict[str, Any]] = {}
    for result in results:
        split = result.name.split("/")[0]
        entry = counts.setdefault(split, {"rows": 0, "genes": 0, "shards": 0, "categories": {}})
        entry["rows"] += result.rows
        entry["genes"] += result.genes
        entry["shards"] += 1
        for category, rows in result.categories.items():
            entry["categories"][category] = entry["categories"].get(category, 0) + rows
    for entry in counts.values():
        entry["categories"] = {c: entry["categories"][c] for c in config.categories
                               if c in entry["categories"]}
    return {"format": FORMAT,
            "code_version": code_version(),
            "config": config.to_json(),
            "rows": sum(r.rows for r in results),
            "genes": sum(r.genes for r in results),
            "splits": counts,
            "columns": list(_schema(config).names),
            "depth_unit": "uint16 PNG, millimetres, 0 = no surface" if config.depth else None,
            "shards": [{"path": f"{r.name}.parquet", "rows": r.rows, "genes": r.genes,
                        "sha256": r.sha256, "bytes": r.bytes, "code_version": r.code_version}
                       for r in results]}


def read_manifest(data_dir: str | Path) -> tuple[dict[str, Any], str]:
    """The manifest of a complete dataset and the sha256 of its file."""
    path = Path(data_dir) / MANIFEST_FILE
    if not path.is_file():
        raise SynthError(f"{path}: no manifest; the dataset is missing or unfinished (rerun "
                         f"genevlm synth with the same arguments to finish it)")
    text = path.read_bytes()
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise SynthError(f"{path}: not valid JSON ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise SynthError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest, hashlib.sha256(text).hexdigest()


def preview_sheet(data_dir: str | Path, grid: int = 8, out: str | Path | None = None) -> Path:
    """A ``grid`` × ``grid`` contact sheet of the dataset's images for people: the shards' rows
    taken in turn (train shards first), written to ``DIR/preview.png``."""
    import pyarrow.parquet as pq

    data_dir = Path(data_dir)
    manifest, _ = read_manifest(data_dir)
    if grid < 1:
        raise SynthError("--grid must be at least 1")
    want = grid * grid
    columns: list[list[bytes]] = []
    for shard in manifest["shards"]:
        table = pq.read_table(data_dir / shard["path"], columns=["image"])
        columns.append(table.column("image").slice(0, want).to_pylist())
    # Round-robin over shards, so that short (val/test) shards do not leave the grid half empty.
    depth = max((len(column) for column in columns), default=0)
    images = [column[r] for r in range(depth) for column in columns if r < len(column)]
    tiles = [np.asarray(Image.open(io.BytesIO(data)).convert("RGB")) for data in images[:want]]
    if not tiles:
        raise SynthError(f"{data_dir}: the dataset holds no images")
    size = tiles[0].shape[0]
    sheet = np.full((grid * size, grid * size, 3), 255, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, grid)
        sheet[r * size:(r + 1) * size, c * size:(c + 1) * size] = tile
    out = data_dir / "preview.png" if out is None else Path(out)
    tmp = out.with_name(out.name + ".tmp.png")
    Image.fromarray(sheet).save(tmp)
    tmp.replace(out)
    return out
