"""Image preprocessing of GeneNet: any PIL image → normalised ``[3, S, S]`` float tensor.

Photos are centre-cropped to a square first (the synthetic renders are square and centred);
transparent images are composited on white (the WhiteImage background). The arithmetic is numpy
(:func:`pixel_array`), so the torch model and the ONNX Runtime / TensorRT backends see
bit-identical inputs and the latter need no torch.

With ``object_crop`` (a model's config setting) the square is cut down to the object where the
background is plain (:func:`object_box`: a white render, a product photo), and two coordinate
channels follow the colours: each pixel's position in the whole square frame, so the model still
sees where the object was and at which scale (the gene's pose), whether or not it was cropped.
At the SPEC's pose augmentation an object covers 5-40 pixels of a 128² render; cut out and
enlarged, its parts become visible to a small encoder. Where the background is not plain (a
ColorImage, a scene), the crop goes around a box given by the caller: the model's learned
localiser at inference (``GeneNetConfig.localiser``), the mask's box in training.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with any alpha composited on white."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def square(image: Image.Image) -> Image.Image:
    """Centre crop to the shorter side."""
    w, h = image.size
    if w == h:
        return image
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return image.crop((left, top, left + s, top + s))


#: Border pixels within this many levels (0-255, any channel) of their median count as plain.
BACKGROUND_TOLERANCE = 12
#: Share of the border pixels that must be plain for the background to count as plain.
PLAIN_BORDER = 0.9
#: The crop's side: the object's longer box side times this, plus 2 pixels of the frame.
CROP_MARGIN = 1.15
#: The smallest crop, as a share of the frame's side (at most this much enlargement).
MIN_CROP = 1 / 8
#: Side of the copy the object's box is searched in (large photos are shrunk first).
_BOX_SEARCH_SIDE = 256


def object_box(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` (end exclusive) bounding the pixels of an ``[H, W, 3]`` uint8 image
    that differ from its plain background, or None where the background is not plain (fewer
    than :data:`PLAIN_BORDER` of the border pixels within :data:`BACKGROUND_TOLERANCE` of their
    median colour: noise, textures, gradients, a photo's scene) or nothing differs from it."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[1:-1, 0], rgb[1:-1, -1]]).astype(np.int16)
    background = np.median(border, 0).astype(np.int16)
    if (np.abs(border - background).max(1) <= BACKGROUND_TOLERANCE).mean() < PLAIN_BORDER:
        return None
    differs = np.abs(rgb.astype(np.int16) - background).max(2) > BACKGROUND_TOLERANCE
    rows, cols = np.flatnonzero(differs.any(1)), np.flatnonzero(differs.any(0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def plain_box(image: Image.Image) -> tuple[float, float, float, float] | None:
    """:func:`object_box` of the square RGB ``image`` in fractions of its frame, searched in a
    copy shrunk to :data:`_BOX_SEARCH_SIDE` for large photos (None where the background is not
    plain)."""
    search = image if image.size[0] <= _BOX_SEARCH_SIDE else \
        image.resize((_BOX_SEARCH_SIDE, _BOX_SEARCH_SIDE), Image.BILINEAR)
    found = object_box(np.asarray(search))
    if found is None:
        return None
    side = search.size[0]
    return tuple(v / side for v in found)


def box_window(box: Sequence[float] | None, frame: int) -> tuple[float, float, float]:
    """``(x0, y0, side)`` of the square to cut from a ``frame``-pixel square around ``box``
    (``(x0, y0, x1, y1)`` in fractions of the frame): its longer side times
    :data:`CROP_MARGIN` plus 2 pixels of the search copy, at least :data:`MIN_CROP` of the
    frame, inside the frame; the whole frame for no box or an empty one."""
    if box is None:
        return 0.0, 0.0, float(frame)
    x0, y0, x1, y1 = (float(v) * frame for v in box)
    if not (x1 > x0 and y1 > y0):
        return 0.0, 0.0, float(frame)
    side = max(x1 - x0, y1 - y0) * CROP_MARGIN + 2.0 * frame / min(frame, _BOX_SEARCH_SIDE)
    side = min(max(side, MIN_CROP * frame), float(frame))
    # centred on the box, shifted back inside the frame
    left = min(max((x0 + x1 - side) / 2, 0.0), frame - side)
    top = min(max((y0 + y1 - side) / 2, 0.0), frame - side)
    return left, top, side


def crop_window(image: Image.Image,
                box: Sequence[float] | None = None) -> tuple[float, float, float]:
    """``(x0, y0, side)`` of the square to cut from the square ``image``: around the object where
    :func:`plain_box` finds one, else around ``box`` (fractions of the frame) where one is
    given, else the whole image."""
    found = plain_box(image)
    return box_window(found if found is not None else box, image.size[0])


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """``(x0, y0, x1, y1)`` in fractions of the frame bounding the non-zero pixels of an
    ``[H, W]`` mask (a ``genevlm synth --mask`` column), None where it is empty."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return None
    h, w = mask.shape
    return cols[0] / w, rows[0] / h, (cols[-1] + 1) / w, (rows[-1] + 1) / h


def input_channels(object_crop: bool) -> int:
    """Channels of :func:`pixel_array`'s output."""
    return 5 if object_crop else 3


#: A localiser as the preprocessing calls it: uncropped frames ``[n, 3, S, S]`` (the output of
#: :func:`pixel_array` without ``object_crop``) → ``[n, 4]`` boxes in fractions of the frame.
Localise = Callable[[np.ndarray], np.ndarray]


def pixel_array(images: Sequence[Image.Image], size: int, object_crop: bool = False,
                boxes: Sequence[Sequence[float] | None] | None = None,
                localise: Localise | None = None) -> np.ndarray:
    """``[batch, 3, size, size]`` float32 in [-1, 1], C-contiguous; with ``object_crop``
    ``[batch, 5, size, size]``: the object's crop and its pixels' frame coordinates (module
    doc). Where the background is not plain the crop goes around the image's entry of
    ``boxes``, or, without ``boxes``, around the box ``localise`` finds: it is called once, on
    the frames of those images only."""
    squares = [square(to_rgb(image)) for image in images]
    if not object_crop:
        return _normalised(squares, size, None)
    found = [plain_box(image) for image in squares]
    if boxes is None and localise is not None:
        missing = [k for k, box in enumerate(found) if box is None]
        if missing:
            located = localise(_normalised([squares[k] for k in missing], size, None))
            for k, box in zip(missing, located):
                found[k] = box
    elif boxes is not None:
        found = [box if box is not None else given for box, given in zip(found, boxes)]
    windows = [box_window(box, image.size[0]) for box, image in zip(found, squares)]
    return _normalised(squares, size, windows)


def _normalised(squares: Sequence[Image.Image], size: int,
                windows: Sequence[tuple[float, float, float]] | None) -> np.ndarray:
    """The square RGB images resized to ``size`` (cut to their ``windows`` first, when given,
    followed by the coordinate channels) as float32 in [-1, 1]."""
    out = np.empty((len(squares), size, size, 3), np.uint8)
    for k, image in enumerate(squares):
        frame = image.size[0]
        if windows is not None and windows[k] != (0.0, 0.0, float(frame)):
            left, top, side = windows[k]
            image = image.resize((size, size), Image.BILINEAR,
                                 box=(left, top, left + side, top + side))
        elif frame != size:
            image = image.resize((size, size), Image.BILINEAR, reducing_gap=2.0)
        out[k] = np.asarray(image)
    x = np.empty((len(squares), input_channels(windows is not None), size, size), np.float32)
    x[:, :3] = out.transpose(0, 3, 1, 2)
    x[:, :3] *= np.float32(2.0 / 255.0)
    x[:, :3] -= np.float32(1.0)
    if windows is not None:
        # pixel centres in the frame, in [-1, 1]: channel 3 along x, channel 4 along y
        frames = np.array([image.size[0] for image in squares], np.float64)[:, None]
        fractions = np.array(windows, np.float64) / frames
        steps = (np.arange(size) + 0.5) / size
        u = 2.0 * (fractions[:, :2, None] + fractions[:, 2:, None] * steps) - 1.0
        x[:, 3] = u[:, 0, None, :]
        x[:, 4] = u[:, 1, :, None]
    return x


def pixel_values(images: Sequence[Image.Image], size: int, object_crop: bool = False,
                 boxes: Sequence[Sequence[float] | None] | None = None,
                 localise: Localise | None = None) -> torch.Tensor:
    """:func:`pixel_array` as a torch tensor (shares its memory)."""
    import torch

    return torch.from_numpy(pixel_array(images, size, object_crop, boxes, localise))
