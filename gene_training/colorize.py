"""ColorImage by domain randomisation: random part colours, materials, lights, backgrounds and a
small camera jitter, on the CPU, as an :class:`~gene_perception.render.Appearance` for
:meth:`SceneRenderer.render <gene_perception.render.SceneRenderer.render>`.

The geometry stays exactly that of the WhiteImage (the same gene, pose and fixed camera up to the
jitter), so the label stays exact; only what a photo adds on top of shape is varied, so that a
model trained on these images does not learn to depend on grey shading or a white background.
All randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from gene_perception.execute import ExecutedGene
from gene_perception.render import Appearance, Camera, Light, srgb_to_linear

#: Colour families as ranges in HSV (sRGB) and PBR material ranges:
#: name → (hue, saturation, value, metallic, roughness), each a (low, high) pair.
FAMILIES: dict[str, tuple[tuple[float, float], ...]] = {
    "saturated": ((0.0, 1.0), (0.6, 1.0), (0.45, 1.0), (0.0, 0.1), (0.25, 0.8)),
    "pastel": ((0.0, 1.0), (0.15, 0.4), (0.8, 1.0), (0.0, 0.05), (0.4, 0.9)),
    "greyish": ((0.0, 1.0), (0.0, 0.08), (0.08, 0.95), (0.0, 0.2), (0.3, 0.95)),
    "wood": ((0.05, 0.11), (0.35, 0.75), (0.25, 0.75), (0.0, 0.0), (0.5, 0.9)),
    "metal": ((0.0, 1.0), (0.0, 0.06), (0.55, 0.95), (0.5, 0.9), (0.15, 0.5)),
    "brass": ((0.08, 0.14), (0.35, 0.7), (0.55, 0.9), (0.5, 0.9), (0.15, 0.5)),
}
FAMILY_WEIGHTS = np.array([0.28, 0.18, 0.18, 0.14, 0.14, 0.08])
#: Probability that all instances of an object draw from one family (a coherent object);
#: otherwise every instance picks its own family.
COHERENT_RATE = 0.5

#: Blackbody colours (sRGB) against colour temperature in kelvin, for light colours.
KELVIN = np.array([2500.0, 4000.0, 5500.0, 6500.0, 8000.0, 10000.0])
KELVIN_RGB = np.array([[255, 161, 72], [255, 206, 166], [255, 236, 224], [255, 249, 253],
                       [227, 233, 255], [201, 218, 255]]) / 255.0
#: The first (key) light shines within this angle of the view direction, so that the object's
#: visible side is lit; the others point anywhere (fill, rim and back lights).
KEY_CONE_DEG = 50.0
#: Camera jitter bounds: azimuth, elevation, roll (degrees, ±) and the distance factor range.
JITTER_DEG = np.array([4.0, 3.0, 5.0])
DISTANCE_FACTOR = (0.95, 1.05)
#: Background kinds and their weights without / with real photos.
BACKGROUND_KINDS = ("noise", "gradient", "texture", "photo")
BACKGROUND_WEIGHTS = np.array([0.3, 0.3, 0.4, 0.0])
BACKGROUND_WEIGHTS_PHOTOS = np.array([0.15, 0.15, 0.2, 0.5])
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def sample_appearance(executed: ExecutedGene, rng: np.random.Generator, size: int = 224,
                      backgrounds: Sequence[np.ndarray] | None = None) -> Appearance:
    """A random ColorImage appearance for ``executed``: one colour and material per concept
    instance (its links share them, as a real part is usually one material), 1–4 directional
    lights of random colour temperature with the first lighting the side the camera sees, an
    ambient level, a ``size``×``size`` background (procedural, or a crop of one of the
    ``backgrounds`` photos) and a camera jitter small enough to keep the object in frame.

    Light directions are relative to the default :class:`~gene_perception.render.Camera`, the
    fixed camera of the WhiteImage.
    """
    instances = np.array([link.instance for link in executed.links])
    colors, metallic, roughness = _instance_materials(rng, int(instances.max()) + 1)
    jitter = np.array([*rng.uniform(-JITTER_DEG, JITTER_DEG), rng.uniform(*DISTANCE_FACTOR)])
    view = -Camera().pose(1.0, jitter)[:3, 2]
    return Appearance(colors=colors[instances], metallic=metallic[instances],
                      roughness=roughness[instances], lights=_lights(rng, view),
                      background=sample_background(rng, size, backgrounds),
                      ambient=float(rng.uniform(0.05, 0.4)), jitter=jitter)


def load_backgrounds(folder: Path, size: int) -> list[np.ndarray]:
    """The .jpg/.jpeg/.png photos in ``folder`` (sorted by name, so a seed means the same
    crops), RGB uint8 with the shorter side scaled to ``size``: small enough that every worker
    can hold hundreds, large enough for the random crops :func:`sample_appearance` takes."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"background folder {folder}: not a directory")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"background folder {folder}: no {'/'.join(PHOTO_SUFFIXES)} "
                                "photos")
    photos = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
        except (OSError, Image.DecompressionBombError) as exc:
            raise OSError(f"background photo {path}: unreadable image ({exc})") from exc
        scale = size / min(image.size)
        photos.append(np.asarray(image.resize((max(size, round(image.width * scale)),
                                               max(size, round(image.height * scale))),
                                              Image.BILINEAR)))
    return photos


def sample_background(rng: np.random.Generator, size: int,
                      photos: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """A ``size``×``size`` RGB uint8 background: noise, a colour gradient, a procedural texture
    (stripes, checks, wood grain, marble) or, when ``photos`` are given, a random crop of one."""
    weights = BACKGROUND_WEIGHTS if photos is None or len(photos) == 0 \
        else BACKGROUND_WEIGHTS_PHOTOS
    kind = BACKGROUND_KINDS[int(rng.choice(len(BACKGROUND_KINDS), p=weights))]
    if kind == "photo":
        return _photo_crop(rng, size, photos[int(rng.integers(len(photos)))])
    y = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, size, dtype=np.float32)[None, :]
    if kind == "noise":
        base = _random_colors(rng, 1)[0]
        field = _value_noise(rng, size, octaves=int(rng.integers(1, 6)))
        image = base + (field[..., None] - 0.5) * rng.uniform(0.1, 0.8) * \
            rng.uniform(0.5, 1.0, 3).astype(np.float32)
        image = image + rng.uniform(0.0, 0.12) * rng.standard_normal((size, size, 3),
                                                                       dtype=np.float32)
    elif kind == "gradient":
        image = _blend(_gradient(rng, x, y), _random_colors(rng, 2))
    else:
        image = _blend(_texture(rng, size, x, y), _random_colors(rng, 2))
    return _to_uint8(image)


def _instance_materials(rng: np.random.Generator, n: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per instance: linear RGB colour (n, 3), metallic (n,), roughness (n,)."""
    names = list(FAMILIES)
    if rng.random() < COHERENT_RATE:
        family = np.full(n, rng.choice(len(names), p=FAMILY_WEIGHTS))
    else:
        family = rng.choice(len(names), size=n, p=FAMILY_WEIGHTS)
    ranges = np.array([FAMILIES[name] for name in names])[family]  # (n, 5, 2)
    values = ranges[..., 0] + rng.random((n, 5)) * (ranges[..., 1] - ranges[..., 0])
    return srgb_to_linear(_hsv_to_rgb(values[:, :3])), values[:, 3], values[:, 4]


def _lights(rng: np.random.Generator, view: np.ndarray) -> list[Light]:
    """1–4 directional lights; ``view`` is the camera's viewing direction (unit, world)."""
    n = int(rng.integers(1, 5))
    key = _in_cone(rng, view, np.radians(KEY_CONE_DEG))
    others = rng.normal(size=(n - 1, 3))
    directions = np.vstack([key, others / np.linalg.norm(others, axis=1, keepdims=True)])
    colors = srgb_to_linear(np.stack([np.interp(rng.uniform(KELVIN[0], KELVIN[-1], n),
                                                 KELVIN, KELVIN_RGB[:, c]) for c in range(3)], 1))
    colors /= colors.max(axis=1, keepdims=True)
    intensities = np.concatenate([rng.uniform(1.5, 4.0, 1), rng.uniform(0.3, 2.5, n - 1)])
    return [Light(d, c, float(i)) for d, c, i in zip(directions, colors, intensities)]


def _in_cone(rng: np.random.Generator, axis: np.ndarray, half_angle: float) -> np.ndarray:
    """A random unit vector within ``half_angle`` (radians) of the unit vector ``axis``."""
    side = rng.normal(size=3)
    side -= side @ axis * axis
    side /= np.linalg.norm(side)
    angle = rng.uniform(0.0, half_angle)
    return np.cos(angle) * axis + np.sin(angle) * side


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """(…, 3) HSV in [0, 1] → RGB in [0, 1]."""
    h, s, v = hsv[..., 0] * 6.0, hsv[..., 1], hsv[..., 2]
    k = (np.array([5.0, 3.0, 1.0]) + h[..., None]) % 6.0
    return v[..., None] - (v * s)[..., None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _random_colors(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` background colours (sRGB, float32) from any colour family."""
    ranges = np.array(list(FAMILIES.values()))[rng.choice(len(FAMILIES), size=n), :3]
    hsv = ranges[..., 0] + rng.random((n, 3)) * (ranges[..., 1] - ranges[..., 0])
    return _hsv_to_rgb(hsv).astype(np.float32)


def _value_noise(rng: np.random.Generator, size: int, octaves: int) -> np.ndarray:
    """Smooth fractal noise in [0, 1], (size, size) float32: random lattices of 2, 4, 8, …
    cells, smoothstep-interpolated and summed with halving amplitudes. Interpolation along
    both axes is one small matrix product per octave, ``W @ lattice @ W.T``."""
    total = np.zeros((size, size), np.float32)
    rows = np.arange(size)
    for octave in range(octaves):
        cells = 2 ** (octave + 1)
        t = np.linspace(0.0, cells, size, endpoint=False, dtype=np.float32)
        i = t.astype(np.int64)
        f = t - i
        f = f * f * (3.0 - 2.0 * f)
        weights = np.zeros((size, cells + 1), np.float32)
        weights[rows, i], weights[rows, i + 1] = 1.0 - f, f
        lattice = rng.random((cells + 1, cells + 1), dtype=np.float32)
        total += weights @ lattice @ weights.T * np.float32(0.5 ** octave)
    return total / np.float32(2.0 - 0.5 ** (octaves - 1))


def _gradient(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A linear ramp at a random angle or a radial ramp around a random centre, in [0, 1]."""
    if rng.random() < 0.5:
        angle = rng.uniform(0.0, 2 * np.pi)
        t = (x - 0.5) * math.cos(angle) + (y - 0.5) * math.sin(angle)
    else:
        cx, cy = map(float, rng.uniform(-0.2, 1.2, 2))
        t = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    return (t - t.min()) / max(float(t.max() - t.min()), 1e-6)


def _texture(rng: np.random.Generator, size: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A procedural pattern in [0, 1]: stripes, checks, wood grain or marble. Scalars are
    Python floats so that the float32 grids are not promoted to float64."""
    kind = int(rng.integers(4))
    angle = rng.uniform(0.0, np.pi)
    u = x * math.cos(angle) + y * math.sin(angle)
    v = y * math.cos(angle) - x * math.sin(angle)
    frequency = rng.uniform(3.0, 20.0)
    if kind == 0:  # stripes, soft or hard
        t = 0.5 + 0.5 * np.sin(2 * np.pi * frequency * u)
        return t if rng.random() < 0.5 else (t > 0.5).astype(np.float32)
    if kind == 1:  # checks
        return ((np.floor(frequency * u) + np.floor(frequency * v)) % 2).astype(np.float32)
    noise = _value_noise(rng, size, octaves=4)
    if kind == 2:  # wood grain: rings around a centre off to one side, distorted by noise
        cx, cy = map(float, rng.uniform(-1.0, 2.0, 2))
        r = np.sqrt((x - cx) ** 2 + ((y - cy) * rng.uniform(0.05, 0.3)) ** 2)
        return 0.5 + 0.5 * np.sin(2 * np.pi * (frequency * r + 2.0 * noise))
    return 0.5 + 0.5 * np.sin(2 * np.pi * (0.5 * frequency * u + rng.uniform(2.0, 6.0) * noise))


def _blend(t: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """(H, W) weights in [0, 1] → (H, W, 3) between ``colors[0]`` and ``colors[1]``."""
    return colors[0] + t[..., None].astype(np.float32) * (colors[1] - colors[0])


def _photo_crop(rng: np.random.Generator, size: int, photo: np.ndarray) -> np.ndarray:
    """A random square crop (half to all of the shorter side) of ``photo``, resized to ``size``
    and mirrored half of the time."""
    h, w = photo.shape[:2]
    side = max(1, int(round(min(h, w) * rng.uniform(0.5, 1.0))))
    top, left = int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1))
    crop = Image.fromarray(np.ascontiguousarray(photo[top:top + side, left:left + side]))
    image = np.asarray(crop.resize((size, size), Image.BILINEAR))
    return image[:, ::-1].copy() if rng.random() < 0.5 else image


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
