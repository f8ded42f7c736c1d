"""TensorRT engines from an ONNX export, and the backend that runs them on a CUDA GPU.

UNVERIFIED: written against the TensorRT 10 Python API (named tensors, ``execute_async_v3``)
but never run: the development machine has no GPU and no TensorRT. The ONNX graphs it builds
from are verified against torch at export time; the unavailability errors are tested.

``build_engines`` gives each graph one optimisation profile over its dynamic dims (batch
1..``max_batch``; decoder tokens 1..``max_positions``, past length 0..``max_positions``).
The backend keeps every tensor on the GPU as a torch CUDA tensor (the KV cache included) and
copies only the last position's logits to the host for the grammar.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from .decoding import constrained_decode
from .grammar import GeneGrammar
from .models.common import ModelLoadError, ParseResult
from .models.genenet.processing import input_channels, pixel_array
from .onnx_format import MANIFEST_NAME, OnnxExport, past_names, publishing

ENGINE_NAMES = {"encoder": "encoder.plan", "decoder": "decoder.plan",
                "localiser": "localiser.plan"}


class TensorRTError(ModelLoadError):
    """TensorRT or a CUDA GPU is missing, or an engine cannot be built or loaded."""


def require_tensorrt() -> tuple[Any, Any]:
    """``(tensorrt, torch)`` when both import and a CUDA GPU is visible, else one clear error."""
    try:
        import tensorrt as trt
    except ImportError:
        raise TensorRTError("TensorRT is not installed (pip install tensorrt, on a machine with "
                            "a CUDA GPU); use --backend onnxruntime on a CPU") from None
    try:
        import torch
    except ImportError:
        raise TensorRTError("the tensorrt backend keeps its buffers in torch CUDA tensors: "
                            "install torch with CUDA") from None
    if not torch.cuda.is_available():
        raise TensorRTError("no CUDA GPU visible: TensorRT engines need one; use --backend "
                            "onnxruntime on a CPU")
    return trt, torch


def _profiles(export: OnnxExport, max_batch: int) -> dict[str, dict[str, tuple]]:
    """Per graph, per dynamic input: (min, opt, max) shapes."""
    h, kv, hd = export["hidden_size"], export["num_kv_heads"], export["head_dim"]
    size, longest, prefix = export["image_size"], export["max_positions"], export["image_tokens"]
    channels = input_channels(export.object_crop)
    kv_shape = ((1, kv, 0, hd), (1, kv, min(prefix + 64, longest), hd),
                (max_batch, kv, longest, hd))
    decoder = {"inputs_embeds": ((1, 1, h), (1, 1, h), (max_batch, longest, h))}
    decoder.update({name: kv_shape for name in past_names(export["num_layers"])})
    profiles = {"encoder": {export["encoder"]["inputs"][0]: ((1, channels, size, size),) * 2
                            + ((max_batch, channels, size, size),)},
                "decoder": decoder}
    if export.localiser is not None:
        profiles["localiser"] = {export.localiser["inputs"][0]: ((1, 3, size, size),) * 2
                                 + ((max_batch, 3, size, size),)}
    return profiles


def build_engines(export: OnnxExport, out: str | Path, fp16: bool = False,
                  max_batch: int = 8) -> Path:
    """Copy the export to ``out`` (temporary sibling, then renamed) with an engine per graph."""
    trt, _ = require_tensorrt()
    out = Path(out)
    logger = trt.Logger(trt.Logger.WARNING)
    with publishing(out, "an engine folder", TensorRTError) as tmp:
        shutil.copytree(export.folder, tmp, dirs_exist_ok=True)
        for graph, shapes in _profiles(export, max_batch).items():
            onnx_file = export.path(export[graph]["file"])
            builder = trt.Builder(logger)
            network = builder.create_network(0)
            parser = trt.OnnxParser(network, logger)
            if not parser.parse_from_file(str(onnx_file)):
                errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
                raise TensorRTError(f"{onnx_file}: TensorRT cannot parse it ({errors})")
            config = builder.create_builder_config()
            if fp16:
                config.set_flag(trt.BuilderFlag.FP16)
            profile = builder.create_optimization_profile()
            for name, (low, opt, high) in shapes.items():
                profile.set_shape(name, low, opt, high)
            config.add_optimization_profile(profile)
            plan = builder.build_serialized_network(network, config)
            if plan is None:
                raise TensorRTError(f"{onnx_file}: TensorRT engine build failed (see its log)")
            (tmp / ENGINE_NAMES[graph]).write_bytes(bytes(plan))
        manifest = dict(export.manifest)
        engines = {graph: ENGINE_NAMES[graph] for graph in _profiles(export, max_batch)}
        manifest["tensorrt"] = {"engines": engines, "fp16": fp16, "max_batch": max_batch,
                                "version": trt.__version__}
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1))
    return out


class _Engine:
    """One deserialised engine and its execution context; :meth:`run` binds torch tensors."""

    def __init__(self, trt: Any, torch: Any, file: Path) -> None:
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(file.read_bytes())
        if self.engine is None:
            raise TensorRTError(f"{file}: not a TensorRT engine for this TensorRT version/GPU")
        self.context = self.engine.create_execution_context()
        self.torch = torch
        self.outputs = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)
                        if self.engine.get_tensor_mode(self.engine.get_tensor_name(i))
                        == trt.TensorIOMode.OUTPUT]
        # empty tensors (past length 0) have no storage; TensorRT still wants an address
        self._placeholder = torch.empty(1, device="cuda")

    def _address(self, tensor: Any) -> int:
        return tensor.data_ptr() if tensor.numel() else self._placeholder.data_ptr()

    def run(self, inputs: dict[str, Any]) -> list[Any]:
        torch = self.torch
        for name, tensor in inputs.items():
            self.context.set_input_shape(name, tuple(tensor.shape))
            self.context.set_tensor_address(name, self._address(tensor))
        outputs = []
        for name in self.outputs:
            tensor = torch.empty(tuple(self.context.get_tensor_shape(name)),
                                 dtype=torch.float32, device="cuda")
            self.context.set_tensor_address(name, self._address(tensor))
            outputs.append(tensor)
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        return outputs


class TensorRTDecoderSession:
    """A :class:`~gene_perception.decoding.DecoderSession` over the decoder engine."""

    def __init__(self, backend: "TensorRTBackend", image_embeds: Any) -> None:
        self._backend = backend
        torch, e = backend.torch, backend.export
        empty = torch.empty((image_embeds.shape[0], e["num_kv_heads"], 0, e["head_dim"]),
                            dtype=torch.float32, device="cuda")
        self.past = [empty] * len(backend.past_names)
        self._run(image_embeds)

    def feed(self, tokens: np.ndarray) -> np.ndarray:
        ids = self._backend.torch.from_numpy(tokens).cuda(non_blocking=True)
        return self._run(self._backend.embeddings[ids])

    def _run(self, embeds: Any) -> np.ndarray:
        inputs = dict(zip(self._backend.past_names, self.past))
        inputs["inputs_embeds"] = embeds.contiguous()
        logits, *self.past = self._backend.decoder.run(inputs)
        return logits.cpu().numpy()


class TensorRTBackend:
    """GeneNet engines (``genevlm export tensorrt``) on a CUDA GPU."""

    name = "tensorrt"

    def __init__(self, folder: str | Path) -> None:
        trt, torch = require_tensorrt()
        self.torch = torch
        self.export = OnnxExport.open(folder)
        if "tensorrt" not in self.export.manifest:
            raise TensorRTError(f"{folder}: an ONNX export without engines; build them with "
                                f"`genevlm export tensorrt --onnx {folder} --out DIR`")
        engines = self.export["tensorrt"]["engines"]
        self.encoder = _Engine(trt, torch, self.export.path(engines["encoder"]))
        self.decoder = _Engine(trt, torch, self.export.path(engines["decoder"]))
        self.localiser = _Engine(trt, torch, self.export.path(engines["localiser"])) \
            if self.export.localiser is not None else None
        self.tokenizer = self.export.tokenizer()
        self.grammar = GeneGrammar(self.tokenizer)
        self.embeddings = torch.from_numpy(self.export.embeddings()).cuda()
        self.past_names = past_names(self.export["num_layers"])
        self.max_batch = self.export["tensorrt"]["max_batch"]

    def _boxes(self, frames: np.ndarray) -> np.ndarray:
        """The localiser engine's ``[n, 4]`` boxes of uncropped preprocessed frames."""
        name = self.export.localiser["inputs"][0]
        return self.localiser.run({name: self.torch.from_numpy(frames).cuda()})[0].cpu().numpy()

    def parse(self, images: Sequence[Image.Image]) -> list[ParseResult]:
        """Greedy constrained decoding of one gene per image (at most ``max_batch`` at once)."""
        results: list[ParseResult] = []
        for start in range(0, len(images), self.max_batch):
            chunk = images[start:start + self.max_batch]
            pixels = self.torch.from_numpy(pixel_array(
                chunk, self.export["image_size"], self.export.object_crop,
                localise=None if self.localiser is None else self._boxes)).cuda()
            name = self.export["encoder"]["inputs"][0]
            image_embeds = self.encoder.run({name: pixels})[0]
            out = constrained_decode(TensorRTDecoderSession(self, image_embeds), self.grammar,
                                     len(chunk))
            results += [ParseResult(self.tokenizer.decode(seq), seq, out.forward_passes)
                        for seq in out.sequences]
        return results
