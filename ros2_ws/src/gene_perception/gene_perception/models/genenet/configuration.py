"""Configuration of GeneNet, the embedded CPU model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .processing import input_channels


@dataclass
class GeneNetConfig:
    """A convolutional image encoder feeding ``(image_size / 2**len(channels))**2`` image tokens
    to a Qwen2 decoder over the closed gene vocabulary (compact serialisation).

    ``float_sigma``: float tokens are trained against a Gaussian over neighbouring quantile
    indices (width in indices) instead of a one-hot target: quantile indices are ordinal, so a
    near miss is worth more than a far one, and the Float Error metric is an index distance.

    ``numbers``: ``float_tokens`` (SPEC §3, one token per number) or ``text`` (each number as
    decimal text, one token per character, trained with plain cross-entropy): the reference's
    tokenization ablation (BENCHMARKS.md). Saved with the model, so loading and parsing follow it.

    ``choice_weight``: loss weight of the structural choices (category, templates, counts, a
    vector's length) against a float token's 1: a gene has a few of them among dozens of floats.

    ``object_crop``: cut images down to the object where the background is plain, with two
    coordinate channels that keep the crop's place in the frame (``processing`` module doc).

    ``localiser`` (with ``object_crop``): a small convolutional box predictor over the whole
    frame, trained beside the gene (on mask boxes, or plain-background boxes), places the crop
    where the background is not plain: ColorImages, photos of scenes. ``localiser_channels``:
    its stride-2 stages; it predicts on their ``image_size / 2**len`` grid.
    """

    image_size: int = 128
    channels: tuple[int, ...] = (32, 64, 128, 256)
    #: residual 3×3 blocks per stage: none at the two high-resolution stages, where a block
    #: costs as much as all low-resolution ones together (measured: 1.6× faster training)
    blocks: tuple[int, ...] = (0, 0, 1, 1)
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 768
    max_positions: int = 512
    rope_theta: float = 10000.0
    float_sigma: float = 4.0
    dropout: float = 0.0
    numbers: str = "float_tokens"
    choice_weight: float = 1.0
    object_crop: bool = False
    localiser: bool = False
    localiser_channels: tuple[int, ...] = (16, 32, 64, 64)

    def __post_init__(self) -> None:
        if not self.choice_weight > 0:
            raise ValueError(f"choice_weight {self.choice_weight}: must be positive")
        if self.numbers not in ("float_tokens", "text"):
            raise ValueError(f"numbers {self.numbers!r}: float_tokens or text")
        self.channels = tuple(int(c) for c in self.channels)
        self.blocks = tuple(int(b) for b in self.blocks)
        self.localiser_channels = tuple(int(c) for c in self.localiser_channels)
        if self.localiser and not self.object_crop:
            raise ValueError("localiser places object crops: it needs object_crop")
        if self.image_size % (2 ** len(self.localiser_channels)):
            raise ValueError(f"image_size {self.image_size} must be divisible by "
                             f"2**{len(self.localiser_channels)} (localiser stages)")
        if len(self.blocks) != len(self.channels) or any(b < 0 for b in self.blocks):
            raise ValueError(f"blocks {list(self.blocks)}: one count (≥ 0) per stage "
                             f"({len(self.channels)} stages)")
        if self.image_size % (2 ** len(self.channels)):
            raise ValueError(f"image_size {self.image_size} must be divisible by "
                             f"2**{len(self.channels)} (one halving per encoder stage)")
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ValueError("hidden_size must divide by num_heads, num_heads by num_kv_heads")

    @property
    def grid(self) -> int:
        """Side of the image-token grid."""
        return self.image_size // 2 ** len(self.channels)

    @property
    def in_channels(self) -> int:
        """Channels of the preprocessed image (colours, and coordinates with ``object_crop``)."""
        return input_channels(self.object_crop)

    @property
    def image_tokens(self) -> int:
        return self.grid ** 2

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        d["blocks"] = list(self.blocks)
        d["localiser_channels"] = list(self.localiser_channels)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GeneNetConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown GeneNet config fields: {', '.join(sorted(unknown))}")
        return cls(**data)
