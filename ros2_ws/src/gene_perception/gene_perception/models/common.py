"""The torch-free half of the model contract: the model folder file, load errors, samples and
parse results. Kept apart from :mod:`.base` so that engines without torch (ONNX Runtime on a
robot's CPU) can load folders and return results without importing it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from ..gene import Gene


#: The file naming a model folder's type (and the model's own configuration).
MODEL_FILE = "genevlm_model.json"


class ModelLoadError(Exception):
    """A model folder that cannot be loaded: the message names the folder and what is wrong."""


@dataclass
class GeneSample:
    """One training pair: an RGB image and the gene it shows; ``box``: the object's
    ``(x0, y0, x1, y1)`` in fractions of the square frame where the dataset knows it (a
    ``--mask`` column)."""

    image: Image.Image
    gene: Gene
    box: tuple[float, float, float, float] | None = None


@dataclass
class ConversationSample:
    """One general-purpose instruction sample (LLaVA-style): images and chat turns
    ``[{"role": "user"|"assistant", "content": str}]``; ``<image>`` in a user turn marks where
    the next image goes (images without a marker go before the first user turn's text)."""

    images: list[Image.Image]
    messages: list[dict[str, str]]


@dataclass
class ParseResult:
    """A decoded gene and what it took: generated ids (forced ones included), forward passes."""

    gene: Gene
    token_ids: list[int]
    forward_passes: int
    extra: dict[str, Any] = field(default_factory=dict)


def write_model_file(path: str | Path, model_type: str, config: dict[str, Any]) -> None:
    """``genevlm_model.json``: the model type :func:`read_model_file` dispatches on, and its
    configuration."""
    (Path(path) / MODEL_FILE).write_text(json.dumps({"model_type": model_type,
                                                     "config": config}, indent=1))


def resolve_model_dir(path: str | Path) -> Path:
    """A model folder, or a training run folder holding one in ``model/``."""
    folder = Path(path)
    if not folder.is_dir():
        raise ModelLoadError(f"{folder}: model folder does not exist")
    if not (folder / MODEL_FILE).is_file() and (folder / "model" / MODEL_FILE).is_file():
        return folder / "model"
    return folder


def read_model_file(path: str | Path) -> dict[str, Any]:
    """``genevlm_model.json`` of a model folder, with a clear error when it is missing or bad."""
    folder = Path(path)
    if not folder.is_dir():
        raise ModelLoadError(f"{folder}: model folder does not exist")
    file = folder / MODEL_FILE
    if not file.is_file():
        raise ModelLoadError(f"{folder}: not a GeneVLM model folder ({MODEL_FILE} missing)")
    try:
        data = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("model_type"), str):
        raise ModelLoadError(f"{file}: no 'model_type'")
    return data
