"""Domain-randomised ColorImage: appearance sampling, backgrounds, photos, rendering with it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gene_perception.execute import ExecutedGene, execute
from gene_perception.registry import CATEGORIES
from gene_perception.render import Camera, SceneRenderer
from gene_perception.sample import sample_gene
from gene_training.colorize import (DISTANCE_FACTOR, JITTER_DEG, KEY_CONE_DEG, load_backgrounds,
                                    sample_appearance, sample_background)
from gene_training.synthesis import augment_poses


@pytest.fixture(scope="module")
def renderer():
    renderer = SceneRenderer(size=224)
    yield renderer
    renderer.close()


def _multi_link_gene() -> ExecutedGene:
    """A StorageFurniture whose door or drawer instance spans several links."""
    for seed in range(50):
        executed = execute(sample_gene("StorageFurniture", np.random.default_rng(seed)))
        instances = [link.instance for link in executed.links]
        if len(set(instances)) < len(instances):
            return executed
    raise AssertionError("no StorageFurniture with a multi-link instance in 50 seeds")


def _posed(category: str, seed: int) -> list[ExecutedGene]:
    rng = np.random.default_rng(seed)
    gene = sample_gene(category, rng)
    executed = execute(gene)
    return [ExecutedGene(g, executed.links, executed.joints)
            for g in augment_poses(gene, executed, rng, n=2)]


def _photo(height: int, width: int) -> np.ndarray:
    """A photo-like test image: red ramps left to right, green top to bottom, blue constant 77."""
    red = np.broadcast_to(np.linspace(0, 255, width)[None, :], (height, width))
    green = np.broadcast_to(np.linspace(0, 255, height)[:, None], (height, width))
    return np.stack([red, green, np.full((height, width), 77.0)], 2).round().astype(np.uint8)


def test_same_seed_same_appearance_other_seed_differs():
    executed = _multi_link_gene()
    a = sample_appearance(executed, np.random.default_rng(7))
    b = sample_appearance(executed, np.random.default_rng(7))
    c = sample_appearance(executed, np.random.default_rng(8))
    for name in ("colors", "metallic", "roughness", "background", "jitter"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.ambient == b.ambient
    assert [(l.direction.tolist(), l.color.tolist(), l.intensity) for l in a.lights] == \
        [(l.direction.tolist(), l.color.tolist(), l.intensity) for l in b.lights]
    assert not np.array_equal(a.colors, c.colors)
    assert not np.array_equal(a.background, c.background)


@pytest.mark.parametrize("size", [224, 96])
def test_shapes_dtypes_and_ranges(size):
    executed = _multi_link_gene()
    n = len(executed.links)
    view_dirs = []
    for seed in range(40):
        a = sample_appearance(executed, np.random.default_rng(seed), size=size)
        assert a.colors.shape == (n, 3) and a.metallic.shape == (n,) and a.roughness.shape == (n,)
        for values in (a.colors, a.metallic, a.roughness):
            assert values.min() >= 0.0 and values.max() <= 1.0
        assert a.background.shape == (size, size, 3) and a.background.dtype == np.uint8
        assert 1 <= len(a.lights) <= 4
        for light in a.lights:
            assert np.linalg.norm(light.direction) == pytest.approx(1.0)
            assert light.color.max() == pytest.approx(1.0) and light.color.min() > 0.0
            assert light.intensity > 0.0
        assert 0.0 < a.ambient < 1.0
        assert a.jitter.shape == (4,)
        assert (np.abs(a.jitter[:3]) <= JITTER_DEG).all()
        assert DISTANCE_FACTOR[0] <= a.jitter[3] <= DISTANCE_FACTOR[1]
        view = -Camera().pose(1.0, a.jitter)[:3, 2]
        view_dirs.append(a.lights[0].direction @ view)
    # The key light comes from the camera's side, so the visible faces are lit.
    assert min(view_dirs) >= np.cos(np.radians(KEY_CONE_DEG)) - 1e-9


def test_links_of_one_instance_share_colour_and_material():
    executed = _multi_link_gene()
    instances = np.array([link.instance for link in executed.links])
    distinct = 0
    for seed in range(20):
        a = sample_appearance(executed, np.random.default_rng(seed))
        for k in np.unique(instances):
            rows = instances == k
            for values in (a.colors, a.metallic, a.roughness):
                assert (values[rows] == values[rows][0]).all()
        distinct += len(np.unique(a.colors, axis=0)) == len(np.unique(instances))
    assert distinct == 20  # different instances get their own colours


def test_backgrounds_vary_in_colour_and_structure():
    rng = np.random.default_rng(0)
    backgrounds = np.stack([sample_background(rng, 64) for _ in range(120)]).astype(np.float32)
    means = backgrounds.mean(axis=(1, 2))
    assert means.std(axis=0).min() > 30  # colours spread over every channel
    # Mean neighbour difference: smooth gradients and noisy or patterned ones both occur.
    roughness = np.abs(np.diff(backgrounds, axis=2)).mean(axis=(1, 2, 3))
    assert roughness.min() < 2.0 and roughness.max() > 25.0
    assert len({b.tobytes() for b in backgrounds}) == len(backgrounds)


def test_photo_backgrounds_are_crops_of_the_photos(tmp_path):
    Image.fromarray(_photo(300, 400)).save(tmp_path / "ramp.png")
    photos = load_backgrounds(tmp_path, 128)
    rng = np.random.default_rng(3)
    from_photo = 0
    for _ in range(60):
        background = sample_background(rng, 128, photos)
        if (background[..., 2] == 77).all():
            from_photo += 1
            red = background[64, :, 0].astype(int)
            steps = np.diff(red)
            # A crop keeps the ramp (mirrored or not) and magnifies at most 2x.
            assert (steps >= 0).all() or (steps <= 0).all()
            assert abs(red[-1] - red[0]) > 40
            assert (np.diff(background[:, 64, 1].astype(int)) >= 0).all()
    assert 15 <= from_photo <= 45  # about half, with photos given
    assert all(not (sample_background(rng, 64)[..., 2] == 77).all() for _ in range(30))


def test_load_backgrounds_scales_and_reports_bad_files(tmp_path):
    Image.fromarray(_photo(300, 500)).save(tmp_path / "b.jpg", quality=90)
    Image.fromarray(_photo(400, 200)).convert("RGBA").save(tmp_path / "a.PNG")
    (tmp_path / "notes.txt").write_text("not a photo")
    photos = load_backgrounds(tmp_path, 100)
    assert [p.shape for p in photos] == [(200, 100, 3), (100, 167, 3)]  # sorted by name
    assert all(p.dtype == np.uint8 for p in photos)
    (tmp_path / "c.jpg").write_bytes(b"garbage, not a jpeg")
    with pytest.raises(OSError, match=r"c\.jpg: unreadable image"):
        load_backgrounds(tmp_path, 100)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_backgrounds(tmp_path / "missing", 100)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .jpg"):
        load_backgrounds(tmp_path / "empty", 100)


def test_rendered_colour_image_keeps_object_visible_in_frame_and_composites_background(
        renderer):
    rng = np.random.default_rng(11)
    for category in sorted(CATEGORIES):
        for executed in _posed(category, 1):
            white = renderer.render(executed, mask=True)
            appearance = sample_appearance(executed, rng)
            color = renderer.render(executed, appearance, mask=True)
            obj, background = color.mask > 0, color.mask == 0
            assert color.image.shape == (224, 224, 3) and color.image.dtype == np.uint8
            np.testing.assert_array_equal(color.image[background],
                                          appearance.background[background])
            # Same geometry, so the jittered object is about as large and in the same place ...
            white_obj = white.mask > 0
            assert 0.75 < obj.sum() / white_obj.sum() < 1.33, category
            shift = np.subtract(np.argwhere(obj).mean(0), np.argwhere(white_obj).mean(0))
            assert np.linalg.norm(shift) < 12, category
            # ... but looks different from the grey WhiteImage, and is lit well enough to see.
            diff = np.abs(color.image[obj].astype(int) - white.image[obj].astype(int)).mean()
            assert diff > 10, category
            assert color.image[obj].mean() > 20, category
            # The jitter keeps the object inside the frame whenever the WhiteImage has it there.
            edges = np.concatenate([color.mask[0], color.mask[-1], color.mask[:, 0],
                                    color.mask[:, -1]])
            white_edges = np.concatenate([white.mask[0], white.mask[-1], white.mask[:, 0],
                                          white.mask[:, -1]])
            assert not edges.any() or white_edges.any(), category
