"""The WhiteImage renderer: framing under pose augmentation, masks, depth, determinism."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from gene_perception.execute import execute
from gene_perception.geometry import pose_matrix, transform
from gene_perception.registry import CATEGORIES
from gene_perception.render import Camera, SceneRenderer, object_radius
from gene_perception.sample import sample_gene
from gene_training.synthesis import augment_poses


@pytest.fixture(scope="module")
def renderer():
    renderer = SceneRenderer(size=224)
    yield renderer
    renderer.close()


def _pixels(executed, camera: Camera, size: int) -> np.ndarray:
    """Every vertex of the posed object projected to pixel coordinates (u right, v down)."""
    root = pose_matrix(executed.gene.global_position, executed.gene.global_rotation)
    poses = executed.link_poses()
    world = np.concatenate([transform(link.vertices, root @ poses[link.name])
                            for link in executed.links])
    in_camera = transform(world, np.linalg.inv(camera.pose(object_radius(executed))))
    depth = -in_camera[:, 2]  # OpenGL cameras look along -z
    assert (depth > 0).all()
    k = camera.intrinsics(size)
    return np.stack([k[0, 0] * in_camera[:, 0] / depth + k[0, 2],
                     -k[1, 1] * in_camera[:, 1] / depth + k[1, 2]], axis=1)


@pytest.mark.parametrize("category", sorted(CATEGORIES))
def test_object_stays_in_frame_for_every_augmented_pose(category):
    camera, size = Camera(), 224
    for seed in range(20):
        gene = sample_gene(category, np.random.default_rng(seed))
        executed = execute(gene)
        for posed in augment_poses(gene, executed, np.random.default_rng([seed, 1]), n=5):
            pixels = _pixels(execute(posed), camera, size)
            assert pixels.min() >= 0 and pixels.max() < size, (category, seed, posed.dumps())


def test_corner_poses_stay_in_frame():
    """The worst cases of the augmentation: every corner of the position cube, any rotation."""
    camera, size = Camera(), 224
    rng = np.random.default_rng(0)
    for category in CATEGORIES:
        gene = sample_gene(category, rng)
        radius = object_radius(execute(gene))
        for corner in np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).T.reshape(-1, 3):
            gene.global_position = corner * radius
            gene.global_rotation = rng.uniform(-180, 180, 3)
            pixels = _pixels(execute(gene), camera, size)
            assert pixels.min() >= 0 and pixels.max() < size, (category, corner)


def test_white_image_mask_and_depth_agree(renderer):
    gene = sample_gene("Microwave", np.random.default_rng(3))
    executed = execute(gene)
    result = renderer.render(executed, mask=True, depth=True)
    assert result.image.shape == (224, 224, 3) and result.image.dtype == np.uint8
    assert result.mask.dtype == np.uint8 and result.depth.dtype == np.float32
    foreground = result.mask > 0
    assert np.array_equal(foreground, result.depth > 0)
    assert set(np.unique(result.mask)) == {0, *range(1, len(gene.instances) + 1)}
    # Untextured grey on white: background pixels are white, object pixels grey and shaded.
    assert (result.image[~foreground] == 255).all()
    shades = result.image[foreground][:, 0]
    assert shades.max() < 255 and np.ptp(shades) > 30
    # Depth is metric: the object's centre is about `distance` radii from the camera.
    radius = object_radius(executed)
    median_depth = float(np.median(result.depth[foreground]))
    assert abs(median_depth - Camera().distance * radius) < 1.5 * radius


def test_render_is_deterministic_and_follows_the_pose(renderer):
    gene = sample_gene("Chair", np.random.default_rng(5))
    first = renderer.render(execute(gene)).image
    assert np.array_equal(first, renderer.render(execute(gene)).image)
    gene.global_rotation = np.array([0.0, 0.0, 90.0])
    assert not np.array_equal(first, renderer.render(execute(gene)).image)


def test_egl_platform_renders_the_same_image(tmp_path, renderer):
    """The GPU path: pyrender on EGL (Mesa's software EGL device here, a GPU's EGL on a GPU
    machine) gives the same framing and mask as OSMesa. The platform is chosen when PyOpenGL is
    first imported, so EGL runs in a child process."""
    script = (
        "import sys, numpy as np\n"
        "from gene_perception.execute import execute\n"
        "from gene_perception.render import SceneRenderer\n"
        "from gene_perception.sample import sample_gene\n"
        "from OpenGL import platform\n"
        "assert type(platform.PLATFORM).__name__ == 'EGLPlatform', platform.PLATFORM\n"
        "result = SceneRenderer(size=224).render(execute(sample_gene('Laptop', "
        "np.random.default_rng(4))), mask=True)\n"
        "np.savez(sys.argv[1], image=result.image, mask=result.mask)\n")
    out = tmp_path / "egl.npz"
    env = {**os.environ, "PYOPENGL_PLATFORM": "egl"}
    subprocess.run([sys.executable, "-c", script, str(out)], env=env, check=True, timeout=120)
    egl = np.load(out)
    osmesa = renderer.render(execute(sample_gene("Laptop", np.random.default_rng(4))), mask=True)
    both = (egl["mask"] > 0) & (osmesa.mask > 0)
    either = (egl["mask"] > 0) | (osmesa.mask > 0)
    assert both.sum() / either.sum() > 0.97
    assert np.abs(egl["image"].astype(int) - osmesa.image.astype(int)).mean() < 3.0
