"""GeneVLM over a pretrained Qwen2.5-VL, fine-tuned from a local path (see :mod:`.modeling`)."""

from .configuration import DEFAULT_PROMPT, LoraSettings, QwenGeneConfig
from .modeling import QwenGeneModel
from .tiny import build_tiny_base

MODEL = QwenGeneModel

__all__ = ["DEFAULT_PROMPT", "MODEL", "LoraSettings", "QwenGeneConfig", "QwenGeneModel",
           "build_tiny_base"]
