"""The ONNX Runtime CPU backend: an export folder (``genevlm export onnx``) decoded under the gene
grammar with no torch at runtime.

Preprocessing is GeneNet's own (:func:`~gene_perception.models.genenet.processing.pixel_array`),
the decode loop the shared :func:`~gene_perception.decoding.constrained_decode`; only the
engine differs. Each step feeds the previous step's present key/value arrays back as they are
(no copy on our side) and looks gene tokens up in the embedding table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from .decoding import constrained_decode
from .grammar import GeneGrammar
from .models.common import ModelLoadError, ParseResult
from .models.genenet.processing import pixel_array
from .onnx_format import OnnxExport, past_names


def ort_session(file: Path, threads: int | None = None):
    """A CPU ``InferenceSession`` for ``file``; ``ModelLoadError`` for an unreadable graph."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelLoadError("the onnxruntime backend needs ONNX Runtime: pip install "
                             "'genevlm[onnx]'") from None
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's pybind errors (InvalidProtobuf, Fail, ...)
        raise ModelLoadError(f"{file}: unreadable ONNX graph ({exc})") from None


def _check_io(session, file: Path, inputs: list[str], outputs: list[str]) -> None:
    got_in = [i.name for i in session.get_inputs()]
    got_out = [o.name for o in session.get_outputs()]
    if got_in != inputs or got_out != outputs:
        raise ModelLoadError(f"{file}: graph inputs {got_in} / outputs {got_out} do not match "
                             f"the manifest ({inputs} / {outputs})")


class OrtDecoderSession:
    """A :class:`~gene_perception.decoding.DecoderSession` over ``decoder.onnx``, primed with
    image embeddings. ``past`` holds the KV arrays of every layer (key, value per layer)."""

    def __init__(self, backend: "OnnxRuntimeBackend", image_embeds: np.ndarray) -> None:
        self._backend = backend
        batch = image_embeds.shape[0]
        empty = np.zeros((batch, backend.export["num_kv_heads"], 0, backend.export["head_dim"]),
                         np.float32)
        self.past: list[np.ndarray] = [empty] * len(backend.past_names)
        self._run(image_embeds)

    def feed(self, tokens: np.ndarray) -> np.ndarray:
        return self._run(self._backend.embeddings[tokens])

    def _run(self, embeds: np.ndarray) -> np.ndarray:
        b = self._backend
        feeds = dict(zip(b.past_names, self.past))
        feeds["inputs_embeds"] = embeds
        logits, *self.past = b.decoder.run(b.decoder_outputs, feeds)
        return logits


class OnnxRuntimeBackend:
    """GeneNet from an ONNX export folder on ONNX Runtime's CPU provider."""

    name = "onnxruntime"

    def __init__(self, folder: str | Path, threads: int | None = None) -> None:
        self.export = OnnxExport.open(folder)
        self.tokenizer = self.export.tokenizer()
        self.grammar = GeneGrammar(self.tokenizer)
        self.embeddings = self.export.embeddings()
        enc, dec = self.export["encoder"], self.export["decoder"]
        self.encoder = ort_session(self.export.path(enc["file"]), threads)
        self.decoder = ort_session(self.export.path(dec["file"]), threads)
        _check_io(self.encoder, self.export.path(enc["file"]), enc["inputs"], enc["outputs"])
        _check_io(self.decoder, self.export.path(dec["file"]), dec["inputs"], dec["outputs"])
        self.localiser = None
        if self.export.localiser is not None:
            loc = self.export.localiser
            self.localiser = ort_session(self.export.path(loc["file"]), threads)
            _check_io(self.localiser, self.export.path(loc["file"]), loc["inputs"],
                      loc["outputs"])
            self._localiser_io = (loc["inputs"][0], loc["outputs"])
        self.past_names = past_names(self.export["num_layers"])
        self.decoder_outputs = dec["outputs"]
        self._encoder_io = (enc["inputs"][0], enc["outputs"])

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """Image embeddings ``[batch, image_tokens, hidden]`` of preprocessed pixels."""
        name, outputs = self._encoder_io
        return self.encoder.run(outputs, {name: pixels})[0]

    def boxes(self, frames: np.ndarray) -> np.ndarray:
        """The localiser's ``[batch, 4]`` object boxes of uncropped preprocessed frames."""
        name, outputs = self._localiser_io
        return self.localiser.run(outputs, {name: frames})[0]

    def pixels(self, images: Sequence[Image.Image]) -> np.ndarray:
        """The encoder's input, crops placed by the localiser where the export has one."""
        return pixel_array(images, self.export["image_size"], self.export.object_crop,
                           localise=None if self.localiser is None else self.boxes)

    def session(self, pixels: np.ndarray) -> OrtDecoderSession:
        return OrtDecoderSession(self, self.encode(pixels))

    def parse(self, images: Sequence[Image.Image]) -> list[ParseResult]:
        """Greedy constrained decoding of one gene per image."""
        if not images:
            return []
        session = self.session(self.pixels(images))
        out = constrained_decode(session, self.grammar, len(images))
        return [ParseResult(self.tokenizer.decode(seq), seq, out.forward_passes)
                for seq in out.sequences]
