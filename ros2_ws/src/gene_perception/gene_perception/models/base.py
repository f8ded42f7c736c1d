"""What every GeneVLM model provides to training, the runtime and the node.

A model folder (``save_pretrained``) always holds ``genevlm_model.json`` naming its
``model_type``; :func:`gene_perception.models.load_model` dispatches on it. Training calls
``collate`` on a list of samples and the model's ``forward`` on the result (which returns the
loss); the runtime calls ``parse``, which always decodes under the gene grammar.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import ClassVar, Iterable, Sequence

import torch
from PIL import Image

from ..tokenizer import GeneTokenizer
from .common import (MODEL_FILE, ConversationSample, GeneSample, ModelLoadError, ParseResult,
                     read_model_file, resolve_model_dir, write_model_file)


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

    def calibrate(self, batches: Iterable[dict[str, torch.Tensor]]) -> None:
        """Re-estimate statistics that training leaves behind the weights, from collated
        training ``batches``; the training loop calls it once before publishing the final
        model. Models without such statistics keep the default: nothing to do."""

    @abc.abstractmethod
    def save_pretrained(self, path: str | Path,
                        state_dict: dict[str, torch.Tensor] | None = None) -> None:
        """Write a folder :func:`~gene_perception.models.load_model` reloads exactly.
        ``state_dict``: this module's full weights when its own parameters are shards (FSDP,
        ZeRO-3: the training loop gathers them with ``accelerator.get_state_dict``)."""

    @classmethod
    @abc.abstractmethod
    def from_pretrained(cls, path: str | Path, device: str = "cpu") -> "GeneModel":
        """Load a folder written by :meth:`save_pretrained`."""


#: The torch-free names live in :mod:`.common`; re-exported for the model modules.
__all__ = ["MODEL_FILE", "ConversationSample", "GeneModel", "GeneSample", "ModelLoadError",
           "ParseResult", "read_model_file", "resolve_model_dir", "write_model_file"]
