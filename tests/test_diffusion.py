"""Diffusion recolouring end to end with a tiny randomly initialised depth ControlNet img2img
pipeline written to disk and loaded the way a real local model is (no network)."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before diffusers / huggingface_hub read it

import json  # noqa: E402
import shutil  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gene_perception.execute import ExecutedGene, execute  # noqa: E402
from gene_perception.registry import CATEGORIES  # noqa: E402
from gene_perception.render import SceneRenderer  # noqa: E402
from gene_perception.sample import sample_gene  # noqa: E402
from gene_training.diffusion import (DiffusionModelError, DiffusionRecolorizer,  # noqa: E402
                                     build_tiny_pipeline, depth_to_control, prompt_for)
from gene_training.synthesis import augment_poses  # noqa: E402

TINY = dict(steps=4, strength=0.75, guidance_scale=2.0, resolution=64)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One intra-op thread, as a data worker runs: on a busy 2-core machine two spinning threads
    stall for seconds, and a tiny model gains nothing from more."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_pipeline(tmp_path_factory.mktemp("diffusion") / "tiny-sd-controlnet")


@pytest.fixture(scope="module")
def recolorizer(tiny_model):
    return DiffusionRecolorizer(tiny_model, **TINY)


@pytest.fixture(scope="module")
def white_and_depth():
    renderer = SceneRenderer(size=224)
    rng = np.random.default_rng(0)
    gene = sample_gene("Mug", rng)
    executed = execute(gene)
    posed = ExecutedGene(augment_poses(gene, executed, rng, n=1)[0], executed.links,
                         executed.joints)
    result = renderer.render(posed, depth=True)
    renderer.close()
    return result.image, result.depth


def test_tiny_pipeline_has_the_layout_of_a_local_model(tiny_model):
    index = json.loads((tiny_model / "model_index.json").read_text())
    for component in ("unet", "vae", "text_encoder", "tokenizer", "scheduler", "controlnet"):
        assert index[component][0] in ("diffusers", "transformers")
        assert (tiny_model / component).is_dir()
    assert (tiny_model / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert (tiny_model / "controlnet" / "diffusion_pytorch_model.safetensors").is_file()
    assert (tiny_model / "tokenizer" / "vocab.json").is_file()
    assert (tiny_model / "tokenizer" / "merges.txt").is_file()
    assert not tiny_model.with_name(tiny_model.name + ".partial").exists()


def test_recolours_a_white_image_to_its_size_deterministically(recolorizer, white_and_depth):
    white, depth = white_and_depth
    prompt = prompt_for("Mug", np.random.default_rng(0))
    out = recolorizer(white, depth, prompt, np.random.default_rng(5))
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, recolorizer(white, depth, prompt,
                                                   np.random.default_rng(5)))
    assert not np.array_equal(out, recolorizer(white, depth, prompt, np.random.default_rng(6)))
    assert np.abs(out.astype(int) - white.astype(int)).mean() > 1  # it did recolour


def test_output_size_follows_a_non_square_input(recolorizer, white_and_depth):
    white, depth = white_and_depth
    out = recolorizer(white[:96, :160].copy(), depth[:96, :160].copy(), "a photo of a mug",
                      np.random.default_rng(0))
    assert out.shape == (96, 160, 3) and out.dtype == np.uint8


def test_rejects_mismatched_inputs(recolorizer, white_and_depth):
    white, depth = white_and_depth
    with pytest.raises(ValueError, match="depth: expected shape"):
        recolorizer(white, depth[:100], "a mug", np.random.default_rng(0))
    with pytest.raises(ValueError, match="white image"):
        recolorizer(white.astype(np.float32), depth, "a mug", np.random.default_rng(0))


def test_separate_controlnet_folder_loads(tiny_model, tmp_path):
    base = tmp_path / "sd"
    shutil.copytree(tiny_model, base)
    shutil.move(base / "controlnet", tmp_path / "controlnet-depth")
    with pytest.raises(DiffusionModelError, match=r"controlnet/config\.json"):
        DiffusionRecolorizer(base, **TINY)
    recolorizer = DiffusionRecolorizer(base, controlnet_path=tmp_path / "controlnet-depth",
                                       **TINY)
    assert recolorizer.pipe.controlnet.config.in_channels == 4


@pytest.mark.parametrize("broken, message", [
    (None, "not a directory"),
    ("model_index.json", "missing .*model_index.json"),
    ("unet/config.json", "missing .*unet/config.json"),
    ("tokenizer/tokenizer_config.json", "missing .*tokenizer/tokenizer_config.json"),
    ("vae/diffusion_pytorch_model.safetensors", "no weights .* in .*vae"),
    ("controlnet/diffusion_pytorch_model.safetensors", "no weights .* in .*controlnet"),
])
def test_missing_parts_give_one_line_errors_naming_them(tiny_model, tmp_path, broken, message):
    model = tmp_path / "model"
    if broken is not None:
        shutil.copytree(tiny_model, model)
        (model / broken).unlink()
    with pytest.raises(DiffusionModelError, match=message) as info:
        DiffusionRecolorizer(model, **TINY)
    assert str(model) in str(info.value) and "\n" not in str(info.value)


def test_corrupt_config_gives_one_line_error(tiny_model, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    (model / "unet" / "config.json").write_text("{ not json")
    with pytest.raises(DiffusionModelError, match="cannot load") as info:
        DiffusionRecolorizer(model, **TINY)
    assert str(model) in str(info.value) and "\n" not in str(info.value)


def test_invalid_settings_are_rejected(tiny_model):
    with pytest.raises(ValueError, match="multiple of 8"):
        DiffusionRecolorizer(tiny_model, resolution=60)
    with pytest.raises(ValueError, match="strength"):
        DiffusionRecolorizer(tiny_model, strength=0.0)


def test_build_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="not empty"):
        build_tiny_pipeline(tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "user data"


def test_depth_control_image_is_bright_near_dark_far_black_outside():
    depth = np.zeros((4, 4), np.float32)
    depth[1, 1], depth[2, 2] = 1.0, 2.0
    control = depth_to_control(depth)
    assert control.shape == (4, 4, 3) and control.dtype == np.uint8
    assert control[1, 1, 0] == 255 and 0 < control[2, 2, 0] < control[1, 1, 0]
    assert (control[depth == 0] == 0).all()
    assert (control[..., 0] == control[..., 2]).all()


def test_prompt_names_the_category_and_is_seeded():
    for name in CATEGORIES:
        prompt = prompt_for(name, np.random.default_rng(1))
        assert prompt.startswith("a photo of ") and prompt == prompt_for(
            name, np.random.default_rng(1))
    assert "kitchen pot" in prompt_for("KitchenPot", np.random.default_rng(0))
    assert len({prompt_for("Mug", np.random.default_rng(s)) for s in range(20)}) > 5
