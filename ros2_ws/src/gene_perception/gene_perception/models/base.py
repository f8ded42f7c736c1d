"""What every GeneVLM model provides to training, the runtime and the node.

A model folder (``save_pretrained``) always holds ``genevlm_model.json`` naming its
``model_type``; :func:`gene_perception.models.load_model` dispatches on it. Training calls
``collate`` on a list of samples and the model's ``forward`` on the result (which returns the
loss); the runtime calls ``parse``, which always decodes under the gene grammar.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

import torch
from PIL import Image

from ..gene import Gene
from ..tokenizer import GeneTokenizer

#: The file naming a model folder's type (and the model's own configuration).
MODEL_FILE = "genevlm_model.json"


class ModelLoadError(Exception):
    """A model folder that cannot be loaded: the message names the folder and what is wrong."""


@dataclass
class GeneSample:
    """One training pair: an RGB image and the gene it shows."""

    image: Image.Image
    gene: Gene


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


class GeneModel(torch.nn.Module, abc.ABC):
    """Base class of GeneVLM models (see the module docstring for the call contract)."""

    model_type: ClassVar[str]
    tokenizer: GeneTokenizer

    @abc.abstractmethod
    def collate(self, samples: Sequence[GeneSample | ConversationSample]) -> dict[str, torch.Tensor]:
        """Model inputs for a batch, ``labels`` included (-100 where no loss is taken)."""

    @abc.abstractmethod
    def parse(self, images: Sequence[Image.Image], *, do_sample: bool = False,
              temperature: float = 1.0, seed: int | None = None) -> list[ParseResult]:
        """Genes for images, decoded under the gene grammar (always valid and executable)."""

    def batch_tokens(self, batch: dict[str, torch.Tensor]) -> int:
        """Tokens a collated batch feeds the model (padding excluded where a mask says so)."""
        if "attention_mask" in batch:
            return int(batch["attention_mask"].sum())
        return int(batch["input_ids"].numel())

    @abc.abstractmethod
    def training_flops(self, batch: dict[str, torch.Tensor]) -> float:
        """Training FLOPs of one collated batch (forward + backward), for scaling curves."""

    @abc.abstractmethod
    def save_pretrained(self, path: str | Path) -> None:
        """Write a folder :func:`~gene_perception.models.load_model` reloads exactly."""

    @classmethod
    @abc.abstractmethod
    def from_pretrained(cls, path: str | Path, device: str = "cpu") -> "GeneModel":
        """Load a folder written by :meth:`save_pretrained`."""


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
