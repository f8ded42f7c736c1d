"""Configuration of the Qwen2.5-VL GeneVLM (SPEC §4): what was fine-tuned from where, and how."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

#: The instruction of every gene sample, at training and at parse time (one string, so the two
#: cannot drift apart).
DEFAULT_PROMPT = ("Describe the object in the image as a Digital Gene: its category, its 6D "
                  "pose and its parts as concept templates with their parameters. Answer with "
                  "the gene JSON inside <code>...</code>.")


@dataclass
class LoraSettings:
    """peft LoRA on the language model's linear layers (and the vision blocks' when the vision
    tower trains). ``alpha / r`` scales the update, as in peft."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha <= 0 or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"lora: need r >= 1, alpha > 0, 0 <= dropout < 1 (got {self})")


@dataclass
class QwenGeneConfig:
    """Everything that decides the model's behaviour beyond its weights.

    ``lora``: None (full fine-tuning), or the LoRA settings; options may give a dict of
    :class:`LoraSettings` fields or ``true`` for the defaults (normalised on construction).
    ``base``: the local Qwen2.5-VL folder the model was created from (provenance; a saved model
    is self-contained and never reads it again). ``n_base_tokens``: the base tokenizer's length
    before the gene tokens were added, so ids from there on are the new rows that must train
    (also after a reload, when they are no longer "new"). ``min_pixels``/``max_pixels``: image
    area bounds of the Qwen image processor (28 × 28 pixels per image token); the defaults give
    64 to 256 image tokens, enough for 224² to 448² renders. ``dtype``: the dtype the weights
    are held in (``bfloat16`` for pure-bf16 training of large bases on a GPU; ``float32`` with
    autocast otherwise). ``init_seed``: seeds the noise of the new embedding rows.
    """

    base: str
    prompt: str = DEFAULT_PROMPT
    freeze_vision: bool = True
    lora: LoraSettings | dict[str, Any] | bool | None = None
    min_pixels: int = 64 * 28 * 28
    max_pixels: int = 256 * 28 * 28
    max_new_tokens: int = 2048
    dtype: str = "float32"
    attn_implementation: str = "sdpa"
    init_seed: int = 0
    n_base_tokens: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.lora, dict):
            unknown = set(self.lora) - {f.name for f in fields(LoraSettings)}
            if unknown:
                raise ValueError(f"unknown lora settings: {', '.join(sorted(unknown))} "
                                 f"(known: r, alpha, dropout)")
            self.lora = LoraSettings(**self.lora)
        elif self.lora is True:
            self.lora = LoraSettings()
        elif self.lora is False:
            self.lora = None
        if not 0 < self.min_pixels <= self.max_pixels:
            raise ValueError(f"need 0 < min_pixels <= max_pixels (got {self.min_pixels}, "
                             f"{self.max_pixels})")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be float32, bfloat16 or float16 (got {self.dtype!r})")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be positive")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "QwenGeneConfig":
        """From :meth:`to_dict` output or user options; unknown keys are an error that names
        them (a typo must not silently fall back to a default)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown Qwen2.5-VL GeneVLM options: {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(sorted(known))})")
        return cls(**data)
