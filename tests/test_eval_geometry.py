"""Geometry evaluation (issue 7): alignment, Chamfer / F-score, pairs folders (ours and
OmniObject3D's layout), `genevlm eval make-pairs` and `eval geometry` end to end on a tiny
synthesised dataset with a tiny random GeneNet, workers, and the report over the results."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import trimesh
from PIL import Image
from scipy.spatial.transform import Rotation

from gene_eval.cli_eval import register_eval
from gene_eval.geometry import (AlignConfig, GeometryError, align, compare, distance_metrics,
                                load_mesh, normalise, rotation_grid, sample_surface,
                                surface_ceiling)
from gene_eval.items import load_images, load_pairs
from gene_perception.cli import CliError
from gene_perception.execute import execute
from gene_perception.registry import CATEGORIES
from gene_perception.sample import sample_gene



def run_eval(*argv: str) -> None:
    """``genevlm eval ARGV`` through the subcommands' own parser and handlers."""
    parser = argparse.ArgumentParser(prog="genevlm eval")
    register_eval(parser.add_subparsers(dest="what", required=True))
    args = parser.parse_args([str(a) for a in argv])
    args.handler(args)


def _mesh(category: str, seed: int) -> trimesh.Trimesh:
    return execute(sample_gene(category, np.random.default_rng(seed))).mesh(global_pose=False)


def _rotated(mesh: trimesh.Trimesh, rotation: np.ndarray) -> trimesh.Trimesh:
    return trimesh.Trimesh(mesh.vertices @ rotation.T * 3.0 + [0.5, -2.0, 1.0], mesh.faces,
                           process=False)


# ---- geometry


def test_normalisation_is_rotation_and_scale_invariant():
    mesh = _mesh("Kettle", 1)
    rotation = Rotation.random(random_state=3).as_matrix()
    a, b = normalise(mesh), normalise(_rotated(mesh, rotation))
    assert np.linalg.norm(a.vertices, axis=1).max() == pytest.approx(1.0)
    assert np.allclose(a.vertices @ rotation.T, b.vertices, atol=1e-9)


def test_rotation_grid_covers_so3_within_41_degrees():
    grid = rotation_grid(AlignConfig().grid)
    assert np.allclose(grid @ grid.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(grid), 1.0)
    probes = Rotation.random(400, random_state=0).as_matrix()
    cos = (np.einsum("pij,kij->pk", probes, grid) - 1) / 2  # trace(Pᵀ G) → angle
    worst = np.degrees(np.arccos(np.clip(cos.max(1), -1, 1))).max()
    assert worst < 41.0


@pytest.mark.parametrize("category,seed,rotation_seed", [("Chair", 2, 11), ("Laptop", 1, 12),
                                                        ("Kettle", 0, 13), ("Table", 3, 14)])
def test_alignment_recovers_a_random_rotation_within_2_degrees(category, seed, rotation_seed):
    mesh = _mesh(category, seed)
    rotation = Rotation.random(random_state=rotation_seed).as_matrix()
    rng = np.random.default_rng(0)
    true = sample_surface(mesh, rng)
    pred = sample_surface(_rotated(mesh, rotation), rng)  # rotated, scaled and moved
    matrix = align(pred, true)
    error = Rotation.from_matrix(matrix[:3, :3] @ rotation).magnitude()
    assert np.degrees(error) < 2.0
    assert np.linalg.norm(matrix[:3, 3]) < 0.02


def test_chamfer_of_a_mesh_with_itself_is_zero_and_at_the_ceiling():
    mesh = _mesh("Mug", 4)
    rng = np.random.default_rng(1)
    true = sample_surface(mesh, rng)
    same = distance_metrics(true.points, true)
    assert same["chamfer"] == 0.0 and same["f@0.01"] == 1.0
    result = compare(mesh, true, rng)
    ceiling = surface_ceiling(mesh, true, rng)
    assert result.chamfer < 1e-3 and result.chamfer < 1.5 * ceiling["chamfer"]
    assert result.fscore["f@0.05"] > 0.99
    assert result.fscore["f@0.01"] > 0.8 * ceiling["f@0.01"]
    assert ceiling["f@0.01"] < 0.99  # two samplings of one surface do not coincide


def test_a_different_shape_scores_worse_than_the_same_one():
    rng = np.random.default_rng(2)
    true = sample_surface(_mesh("Chair", 2), rng)
    same = compare(_mesh("Chair", 2), true, rng)
    other = compare(_mesh("Bottle", 0), true, rng)
    assert other.chamfer > 10 * same.chamfer
    assert other.fscore["f@0.02"] < same.fscore["f@0.02"]


def test_unreadable_and_empty_meshes_name_the_file(tmp_path):
    bad = tmp_path / "mesh.obj"
    bad.write_text("this is not a mesh")
    with pytest.raises(GeometryError, match="mesh.obj: no triangles"):
        load_mesh(bad)
    with pytest.raises(GeometryError, match="no surface area"):
        normalise(trimesh.Trimesh(np.zeros((3, 3)), [[0, 1, 2]], process=False))


# ---- folders


def _png(path, value=128, size=(40, 32)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)


def test_omniobject3d_layout_takes_8_equally_spaced_renders(tmp_path):
    root = tmp_path / "omni"
    for obj, n in (("mug_001", 12), ("mug_002", 0)):  # mug_002: scan without renders
        scan = root / "raw_scans" / "mug" / obj / "Scan" / "Scan.obj"
        scan.parent.mkdir(parents=True)
        trimesh.creation.box().export(scan)
        for k in range(n):
            _png(root / "blender_renders" / "mug" / obj / "render" / "images" / f"r_{k}.png")
    items = load_pairs(root, views=8)
    assert [i.image.name for i in items] == [f"r_{k}.png" for k in (0, 1, 3, 4, 6, 7, 9, 10)]
    assert {i.category for i in items} == {"mug"} and items[0].mesh.name == "Scan.obj"
    assert items[0].id == "mug/mug_001/r_0"


def test_image_folder_and_missing_folders(tmp_path):
    _png(tmp_path / "photos" / "a.jpg")
    _png(tmp_path / "photos" / "sub" / "b.png")
    items = load_images(tmp_path / "photos")
    assert [i.id for i in items] == ["a", "sub/b"] and items[0].mesh is None
    with pytest.raises(CliError, match="nothere: pairs folder does not exist"):
        run_eval("geometry", "--pairs", tmp_path / "nothere", "--model", tmp_path)
    (tmp_path / "pairs" / "Mug" / "m1" / "images").mkdir(parents=True)
    with pytest.raises(CliError, match="m1: no mesh"):
        run_eval("geometry", "--pairs", tmp_path / "pairs", "--model", tmp_path)


# ---- end to end


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    from gene_training.dataset import SynthConfig, synthesize_dataset

    data = tmp_path_factory.mktemp("synth")
    synthesize_dataset(SynthConfig(categories=("Mug", "Chair", "Laptop"), genes=2, poses=2,
                                   size=48, fractions=(0.0, 0.0, 1.0)), data, progress=False)
    out = tmp_path_factory.mktemp("pairs") / "pairs"
    run_eval("make-pairs", "--data", data, "--out", out)
    return out


def test_make_pairs_writes_the_documented_layout(pairs):
    items = load_pairs(pairs)
    assert len(items) == 12 and {i.category for i in items} == {"Mug", "Chair", "Laptop"}
    assert all(i.mesh.name == "mesh.ply" and i.gene.is_file() for i in items)
    assert json.loads((pairs / "pairs.json").read_text())["objects"] == 6
    with pytest.raises(CliError, match="already exists"):
        run_eval("make-pairs", "--data", pairs, "--out", pairs)


def test_eval_geometry_end_to_end_and_workers_agree(pairs, model_dir, tmp_path, capsys):
    out1, out2 = tmp_path / "w1", tmp_path / "w2"
    run_eval("geometry", "--pairs", pairs, "--model", model_dir, "--out", out1, "--gallery", "2")
    printed = capsys.readouterr().out
    assert "pairs/s" in printed and "**overall** | 12 |" in printed
    result = json.loads((out1 / "eval_geometry.json").read_text())
    assert result["kind"] == "geometry" and result["overall"]["n"] == 12
    assert set(result["per_category"]) == {"Chair", "Laptop", "Mug"}
    overall = result["overall"]
    assert 0 < overall["chamfer"] < 8 and 0 <= overall["f@0.01"] <= overall["f@0.05"] <= 1
    assert overall["ceiling_chamfer"] < overall["chamfer"]
    assert [g["file"] for g in result["gallery"]] == ["gallery/geometry-000.png",
                                                      "gallery/geometry-001.png"]
    assert Image.open(out1 / "gallery" / "geometry-000.png").size[1] == 256
    rows = [json.loads(line) for line in (out1 / "geometry_items.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and rows[0]["predicted"]["category"] in CATEGORIES
    assert "| **overall** | 12 |" in (out1 / "eval_geometry.md").read_text()

    run_eval("geometry", "--pairs", pairs, "--model", model_dir, "--out", out2, "--workers", "2",
             "--gallery", "0")
    again = json.loads((out2 / "eval_geometry.json").read_text())
    assert again["timing"]["workers"] == 2
    for key in ("chamfer", "f@0.02", "ceiling_f@0.01"):
        assert again["overall"][key] == pytest.approx(overall[key], rel=1e-6)


def test_report_over_an_evaluation_and_a_training_run(pairs, model_dir, tmp_path):
    evaluation = tmp_path / "eval"
    run_eval("geometry", "--pairs", pairs, "--model", model_dir, "--out", evaluation,
             "--per-category", "1", "--gallery", "1")
    # A training run as gene_training writes it, with two evaluated checkpoints.
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(
        json.dumps({"split": split, "step": s, "samples": 32 * s, "tokens": 4000 * s,
                    "flops": 1e12 * s, "loss": 6.0 - s / 100}) + "\n"
        for s in (100, 200, 300) for split in ("train", "val")))
    for step, acc in ((100, 0.1), (300, 0.3)):
        ckpt = run / "checkpoints" / f"step-{step:07d}"
        ckpt.mkdir(parents=True)
        (ckpt / "trainer_state.json").write_text(json.dumps(
            {"step": step, "counters": {"flops": 1e12 * step}}))
        (ckpt / "eval").mkdir()
        (ckpt / "eval" / "eval_genes.json").write_text(json.dumps(
            {"overall": {"concept_accuracy": acc, "float_error": 200.0 - step / 10},
             "per_category": {}}))
    (run / "eval_genes.json").write_text(json.dumps(
        {"overall": {"n": 48, "concept_accuracy": 0.35, "float_error": 150.0},
         "per_category": {"Mug": {"n": 16, "concept_accuracy": 0.5, "float_error": 140.0}},
         "training": {"flops": 3.5e14}}))
    out = tmp_path / "report"
    run_eval("report", evaluation, run, "--out", out)
    md = (out / "report.md").read_text()
    assert "| eval | – | – | – |" in md and "| run | 0.350 | 150.0 |" in md
    assert "| eval: same-surface ceiling |" in md and "| GeneVLM-32B (paper) | 0.660 |" in md
    data = json.loads((out / "report.json").read_text())
    curves = data["runs"][1]["curves"]
    assert curves["loss"] == [[1e14, 5.0], [2e14, 4.0], [3e14, 3.0]]
    assert curves["concept_accuracy"] == [[1e14, 0.1], [3e14, 0.3], [3.5e14, 0.35]]
    assert "figures/curve_concept_accuracy.png" in data["figures"]
    assert "figures/per_category_chamfer.png" in data["figures"]
    for name in data["figures"] + data["gallery"]:
        assert Image.open(out / name).size[0] > 100
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(data["figures"]) + len(data["gallery"])
    assert 'src="figures' not in page  # self-contained
    with pytest.raises(CliError, match="empty: no eval_"):
        (tmp_path / "empty").mkdir()
        run_eval("report", tmp_path / "empty", "--out", tmp_path / "r2")


@pytest.mark.slow
def test_eval_geometry_on_a_local_ray_matches_one_process(pairs, model_dir, tmp_path):
    """The same per-object task as Ray tasks (`--ray local`; starting Ray takes ~10 s)."""
    for name, extra in (("one", []), ("ray", ["--ray", "local", "--workers", "2"])):
        run_eval("geometry", "--pairs", pairs, "--model", model_dir, "--out", tmp_path / name,
                 "--per-category", "2", "--gallery", "0", *extra)
    one, ray = (json.loads((tmp_path / n / "eval_geometry.json").read_text())["overall"]
                for n in ("one", "ray"))
    for key in ("chamfer", "f@0.01", "ceiling_chamfer"):
        assert ray[key] == pytest.approx(one[key], rel=1e-6)
