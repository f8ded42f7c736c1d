"""The ONNX export and the ONNX Runtime backend (SPEC §7: ONNX Runtime on a CPU): the same genes,
token for token, as the torch model for the same images (batch 1 and batched); no torch at
runtime; clear errors for missing or damaged export folders, non-GeneNet models and a machine
without TensorRT."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from conftest import TINY_GENENET
from gene_perception.backends import load_backend
from gene_perception.cli import main
from gene_perception.models import ModelLoadError, load_model
from gene_perception.models.base import write_model_file
from gene_perception.models.genenet import GeneNet
from gene_perception.models.genenet.processing import pixel_array
from gene_perception.onnx_export import ExportError, export_onnx
from gene_perception.onnx_format import MANIFEST_NAME
from gene_perception.registry import CATEGORIES
from gene_perception.tokenizer import sample_posed_genes, table_from_genes


@pytest.fixture(scope="module")
def steered_model_dir(tmp_path_factory):
    """A tiny GeneNet with every weight redrawn from N(0, 1): at the default initialisation the
    image barely moves the logits and every image gives the same gene, which would make a parity
    test weak; here different images give different categories and lengths."""
    genes = [g for c in CATEGORIES for g in sample_posed_genes(c, 4, 7)]
    torch.manual_seed(0)
    model = GeneNet.create(None, table_from_genes(genes), TINY_GENENET).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 1.0)
    folder = tmp_path_factory.mktemp("steered")
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def export_dir(steered_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("exports") / "onnx"
    assert main(["export", "onnx", "--model", str(steered_model_dir), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    noise = [Image.fromarray(rng.integers(0, 256, (40 + 9 * i, 50, 3), dtype=np.uint8))
             for i in range(4)]
    rgba = Image.fromarray(rng.integers(0, 256, (32, 32, 4), dtype=np.uint8), "RGBA")
    grey = Image.fromarray(rng.integers(0, 256, (64, 48), dtype=np.uint8), "L")
    return [*noise, rgba, grey, Image.new("RGB", (32, 32), (200, 30, 30))]


@pytest.fixture(scope="module")
def torch_model(steered_model_dir):
    return load_model(steered_model_dir)


@pytest.fixture(scope="module")
def ort_backend(export_dir):
    return load_backend(export_dir, "onnxruntime")


def test_export_folder_is_complete_and_verified(export_dir):
    manifest = json.loads((export_dir / MANIFEST_NAME).read_text())
    assert manifest["model_type"] == "genenet" and manifest["opset"] == 18
    assert manifest["image_size"] == TINY_GENENET["image_size"]
    for graph in ("encoder", "decoder"):
        onnx.checker.check_model(str(export_dir / manifest[graph]["file"]), full_check=True)
    assert manifest["decoder"]["inputs"] == ["inputs_embeds", "past_key_0", "past_value_0"]
    # verified at export time (within tolerance, else no folder): the encoder, two decoder steps
    # and the KV cache of every layer
    assert set(manifest["max_abs_diff"]) == {"encoder/image_embeds", "decoder/step0/logits",
                                             "decoder/step1/logits", "decoder/present_key_0",
                                             "decoder/present_value_0"}
    assert not list(export_dir.parent.glob("onnx.tmp*"))  # the temporary sibling was renamed


def test_same_genes_as_torch_one_image_at_a_time(torch_model, ort_backend, images):
    sequences = set()
    for image in images:
        expected = torch_model.parse([image])[0]
        got = ort_backend.parse([image])[0]
        assert got.token_ids == expected.token_ids
        assert got.gene.to_json() == expected.gene.to_json()
        assert got.forward_passes == expected.forward_passes
        sequences.add(tuple(got.token_ids))
    assert len(sequences) >= 3  # the images steer the genes, so equality is informative


def test_same_genes_as_torch_batched(torch_model, ort_backend, images):
    expected = torch_model.parse(images)
    got = ort_backend.parse(images)
    assert [r.token_ids for r in got] == [r.token_ids for r in expected]
    assert len({len(r.token_ids) for r in got}) > 1  # rows of different lengths in one batch


def _exported(tmp_path, seed: int, **options) -> tuple[Path, dict]:
    """A tiny GeneNet with ``options`` and weights drawn wide (so that decoding branches),
    saved to ``tmp_path/model`` and exported by the CLI to ``tmp_path/onnx``; the manifest."""
    genes = [g for c in CATEGORIES for g in sample_posed_genes(c, 2, 7)]
    torch.manual_seed(seed)
    model = GeneNet.create(None, table_from_genes(genes), {**TINY_GENENET, **options}).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 1.0)
    model.save_pretrained(tmp_path / "model")
    out = tmp_path / "onnx"
    assert main(["export", "onnx", "--model", str(tmp_path / "model"), "--out", str(out)]) == 0
    return out, json.loads((out / MANIFEST_NAME).read_text())


def test_object_crop_model_exports_with_its_coordinate_channels(tmp_path):
    """An ``object_crop`` GeneNet (5 input channels, the crop done in the shared numpy
    preprocessing) gives the same genes through ONNX Runtime as through torch."""
    out, manifest = _exported(tmp_path, 1, object_crop=True)
    assert manifest["object_crop"] is True and "localiser" not in manifest
    backend = load_backend(out, "onnxruntime")
    rng = np.random.default_rng(3)
    scenes = []
    for k in range(4):  # plain backgrounds with an object at different places and sizes
        rgb = np.full((64, 64, 3), 255, np.uint8)
        x, y, w = rng.integers(0, 40), rng.integers(0, 40), 4 + 5 * k
        rgb[y:y + w, x:x + w] = rng.integers(0, 200, 3)
        scenes.append(Image.fromarray(rgb))
    expected = load_model(tmp_path / "model").parse(scenes)
    assert [r.token_ids for r in backend.parse(scenes)] == [r.token_ids for r in expected]


def test_localiser_model_exports_its_box_graph(tmp_path):
    """A GeneNet with a localiser exports its box graph; on busy backgrounds (crops placed by
    the localiser) ONNX Runtime gives the same boxes and genes as torch."""
    out, manifest = _exported(tmp_path, 2, object_crop=True, localiser=True,
                              localiser_channels=[8, 16])
    assert manifest["localiser"]["file"] == "localiser.onnx"
    assert "localiser/boxes" in manifest["max_abs_diff"]
    backend = load_backend(out, "onnxruntime")
    rng = np.random.default_rng(4)
    scenes = [Image.fromarray(rng.integers(0, 255, (48, 48, 3), np.uint8)) for _ in range(3)]
    torch_model = load_model(tmp_path / "model")
    frames = pixel_array(scenes, 32)
    assert np.allclose(backend.boxes(frames),
                       torch_model.localiser.boxes(torch.from_numpy(frames)).detach().numpy(),
                       atol=1e-5)
    expected = torch_model.parse(scenes)
    assert [r.token_ids for r in backend.parse(scenes)] == [r.token_ids for r in expected]


def test_onnxruntime_backend_runs_without_torch(export_dir):
    script = ("import sys\n"
              "from PIL import Image\n"
              "from gene_perception.backends import load_backend\n"
              f"backend = load_backend({str(export_dir)!r}, 'onnxruntime')\n"
              "result = backend.parse([Image.new('RGB', (40, 30), (10, 200, 90))])[0]\n"
              "print(result.gene.category, 'torch' in sys.modules, 'transformers' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0] in CATEGORIES and out[1:] == ["False", "False"]


def test_parse_cli_with_onnxruntime_backend(torch_model, export_dir, images, tmp_path):
    images[0].save(tmp_path / "photo.png")
    out = tmp_path / "parsed"
    assert main(["parse", str(tmp_path / "photo.png"), "--model", str(export_dir),
                 "--backend", "onnxruntime", "--out", str(out), "--no-preview"]) == 0
    gene = json.loads((out / "photo" / "gene.json").read_text())
    assert gene == json.loads(torch_model.parse([images[0]])[0].gene.dumps())


def test_latency_bench_reports_every_backend(steered_model_dir, export_dir, images):
    from gene_eval.latency import latency_table

    table = latency_table(steered_model_dir, ["torch", "onnxruntime"], images[:3],
                          onnx=export_dir, warmup=1)
    rows = [r for r in table.splitlines() if r.startswith("| torch") or
            r.startswith("| onnxruntime")]
    assert len(rows) == 2 and all(r.endswith("| 3/3 |") for r in rows)


# ---------------------------------------------------------------- errors


def test_missing_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_backend(tmp_path / "nowhere", "onnxruntime")


def test_model_folder_is_not_an_export(model_dir):
    with pytest.raises(ModelLoadError, match="not an ONNX export.*genevlm export onnx"):
        load_backend(model_dir, "onnxruntime")


@pytest.fixture
def damaged(export_dir, tmp_path):
    """A copy of the export to break."""
    return shutil.copytree(export_dir, tmp_path / "copy")


def test_corrupt_manifest(damaged):
    (damaged / MANIFEST_NAME).write_text("{\"format\": ")
    with pytest.raises(ModelLoadError, match=f"{MANIFEST_NAME}: not valid JSON"):
        load_backend(damaged, "onnxruntime")


def test_corrupt_graph(damaged):
    (damaged / "decoder.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(ModelLoadError, match="decoder.onnx: unreadable ONNX graph"):
        load_backend(damaged, "onnxruntime")


def test_missing_embedding_table(damaged):
    (damaged / "embed_tokens.npy").unlink()
    with pytest.raises(ModelLoadError, match="embed_tokens.npy: missing"):
        load_backend(damaged, "onnxruntime")


def test_graphs_swapped(damaged):
    manifest = json.loads((damaged / MANIFEST_NAME).read_text())
    manifest["decoder"]["file"] = manifest["encoder"]["file"]
    (damaged / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="encoder.onnx: graph inputs"):
        load_backend(damaged, "onnxruntime")


def test_export_refuses_non_genenet_models(tmp_path, capsys):
    folder = tmp_path / "qwen"
    folder.mkdir()
    write_model_file(folder, "qwen2_5_vl", {})
    with pytest.raises(ExportError, match="covers GeneNet only"):
        export_onnx(folder, tmp_path / "out")
    assert main(["export", "onnx", "--model", str(folder), "--out", str(tmp_path / "out")]) == 2
    assert "covers GeneNet only" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_export_does_not_replace_other_folders(model_dir, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not an ONNX export; not replacing it"):
        export_onnx(model_dir, tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def _tensorrt_usable() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.skipif(_tensorrt_usable(), reason="TensorRT and a GPU are present here")
def test_tensorrt_unavailable_is_one_clear_error(export_dir, tmp_path, capsys):
    out = tmp_path / "engines"
    assert main(["export", "tensorrt", "--onnx", str(export_dir), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("TensorRT is not installed" in err[0] or "no CUDA GPU" in err[0])
    assert not out.exists()
    with pytest.raises(ModelLoadError, match="TensorRT is not installed|no CUDA GPU"):
        load_backend(export_dir, "tensorrt")
