"""The ONNX export folder written by ``genevlm export onnx`` and read by the ONNX Runtime and
TensorRT backends, without torch.

A folder holds ``encoder.onnx`` (pixels → image embeddings), ``decoder.onnx`` (one decoder step
with a KV cache: input embeddings and the past keys/values of every layer → the last position's
logits and the present keys/values), ``embed_tokens.npy`` (the token embedding table: the lookup
runs outside the graph so that the image prefix and gene tokens enter the same graph), the gene
tokenizer files and :data:`MANIFEST_NAME`, which names all of them. A model with a localiser adds
``localiser.onnx`` (uncropped frames → object boxes, which place the crops fed to the encoder).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .models.common import MODEL_FILE, ModelLoadError
from .tokenizer import GeneTokenizer, QuantileTable

MANIFEST_NAME = "genevlm_onnx.json"
FORMAT = "genevlm-onnx/1"
EMBEDDINGS_NAME = "embed_tokens.npy"
ENCODER_INPUTS = ["pixel_values"]
ENCODER_OUTPUTS = ["image_embeds"]
LOCALISER_INPUTS = ["frame_pixels"]
LOCALISER_OUTPUTS = ["boxes"]


@contextmanager
def publishing(out: Path, kind: str, error: type[Exception]) -> Iterator[Path]:
    """A fresh temporary sibling of ``out`` to fill; renamed to ``out`` (replacing an earlier
    folder of this format) when the block succeeds, removed when it fails, so ``out`` is whole
    or untouched. A folder that is not one of ours (no manifest) raises ``error`` instead of
    being replaced; ``kind`` names the format in that message."""
    if out.exists() and not (out / MANIFEST_NAME).is_file():
        raise error(f"{out}: exists and is not {kind}; not replacing it")
    out.parent.mkdir(parents=True, exist_ok=True)
    # a unique sibling: two runs into one folder must not delete each other's work
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".tmp-", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    tmp.chmod(0o755)  # mkdtemp's 0700 would hide the folder from other users (a ROS node's)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


def past_names(num_layers: int) -> list[str]:
    """Decoder KV inputs, key then value per layer."""
    return [f"past_{kind}_{i}" for i in range(num_layers) for kind in ("key", "value")]


def present_names(num_layers: int) -> list[str]:
    """Decoder KV outputs, in the order of :func:`past_names`."""
    return [f"present_{kind}_{i}" for i in range(num_layers) for kind in ("key", "value")]


@dataclass(frozen=True)
class OnnxExport:
    """An export folder's manifest, checked: every named file exists and the shapes are sane."""

    folder: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, folder: str | Path) -> "OnnxExport":
        """Read and check ``folder``; ``ModelLoadError`` names the folder or file and the fault."""
        folder = Path(folder)
        if not folder.is_dir():
            raise ModelLoadError(f"{folder}: ONNX export folder does not exist")
        file = folder / MANIFEST_NAME
        if not file.is_file():
            hint = (" (a model folder: export it with `genevlm export onnx --model "
                    f"{folder} --out DIR`)") if (folder / MODEL_FILE).is_file() else ""
            raise ModelLoadError(f"{folder}: not an ONNX export ({MANIFEST_NAME} missing){hint}")
        try:
            manifest = json.loads(file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelLoadError(f"{file}: not valid JSON ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ModelLoadError(f"{file}: unknown format {manifest.get('format')!r} "
                                 f"(expected {FORMAT!r})" if isinstance(manifest, dict)
                                 else f"{file}: not a manifest object")
        if manifest.get("model_type") != "genenet":
            raise ModelLoadError(f"{file}: model_type {manifest.get('model_type')!r}; ONNX "
                                 "exports cover GeneNet only")
        export = cls(folder, manifest)
        try:
            names = [manifest["encoder"]["file"], manifest["decoder"]["file"],
                     manifest["embeddings"], manifest["tokenizer"]]
            if "localiser" in manifest:
                names.append(manifest["localiser"]["file"])
            for key in ("image_size", "hidden_size", "num_layers", "num_kv_heads", "head_dim",
                        "vocab_size", "max_positions"):
                if not isinstance(manifest[key], int) or manifest[key] < 1:
                    raise ValueError(f"{key} must be a positive integer")
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"{file}: incomplete manifest ({exc!s})") from None
        for name in names:
            if not (folder / name).is_file():
                raise ModelLoadError(f"{folder / name}: missing (named in {MANIFEST_NAME})")
        return export

    def __getitem__(self, key: str) -> Any:
        return self.manifest[key]

    @property
    def object_crop(self) -> bool:
        """Whether the model takes object crops with coordinate channels (exports made before
        the setting existed have no such key: plain images)."""
        return bool(self.manifest.get("object_crop", False))

    @property
    def localiser(self) -> dict[str, Any] | None:
        """The localiser graph's entry (file, inputs, outputs), None for a model without one."""
        return self.manifest.get("localiser")

    def path(self, name: str) -> Path:
        return self.folder / name

    def tokenizer(self) -> GeneTokenizer:
        """The closed-vocabulary compact tokenizer, built from the quantile table alone (no
        transformers)."""
        file = self.path(self["tokenizer"])
        try:
            config = json.loads(file.read_text())
            table = QuantileTable.load(self.folder / config["quantiles"])
        except (OSError, KeyError, ValueError) as exc:
            raise ModelLoadError(f"{file}: broken tokenizer files ({exc})") from None
        if config.get("serialization") != "compact":
            raise ModelLoadError(f"{file}: serialization {config.get('serialization')!r}; "
                                 "GeneNet exports use 'compact'")
        # tokenizer files older than numbers-as-text have no "numbers" field (float tokens)
        options = {"numbers": config["numbers"]} if "numbers" in config else {}
        try:
            tokenizer = GeneTokenizer(table, "compact", **options)
        except ValueError as exc:
            raise ModelLoadError(f"{file}: {exc}") from None
        if len(tokenizer) != self["vocab_size"]:
            raise ModelLoadError(f"{file}: {len(tokenizer)} tokens, the graphs have "
                                 f"{self['vocab_size']}")
        return tokenizer

    def embeddings(self) -> np.ndarray:
        """The token embedding table ``[vocab, hidden]`` float32."""
        file = self.path(self["embeddings"])
        try:
            table = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{file}: unreadable embedding table ({exc})") from None
        expected = (self["vocab_size"], self["hidden_size"])
        if table.shape != expected or table.dtype != np.float32:
            raise ModelLoadError(f"{file}: {table.dtype} {table.shape}, expected float32 "
                                 f"{expected}")
        return table


__all__ = ["EMBEDDINGS_NAME", "ENCODER_INPUTS", "ENCODER_OUTPUTS", "FORMAT", "LOCALISER_INPUTS",
           "LOCALISER_OUTPUTS",
           "MANIFEST_NAME", "OnnxExport", "past_names", "present_names"]
