"""GeneNet, the embedded CPU model (see :mod:`.modeling`)."""

from .configuration import GeneNetConfig
from .modeling import GeneNet, GeneNetSession

MODEL = GeneNet

__all__ = ["MODEL", "GeneNet", "GeneNetConfig", "GeneNetSession"]
