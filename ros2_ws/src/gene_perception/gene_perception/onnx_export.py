"""``genevlm export onnx``: a GeneNet model folder → an ONNX export folder (:mod:`.onnx_format`).

The decoder step graph takes input embeddings, so one graph serves both the image prefix (the
encoder's output, past length 0) and gene tokens (looked up in ``embed_tokens.npy``); batch,
token count and past length are dynamic. A model with a localiser adds its box graph. The
graphs pass ``onnx.checker`` and are run with ONNX Runtime against the torch runtime path
(:class:`~gene_perception.models.genenet.GeneNetSession`, the localiser's boxes) before the folder
is published; a mismatch beyond tolerance fails the export. The folder is written to a temporary
sibling and renamed, so it is complete or absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .models import load_model, read_model_file, resolve_model_dir
from .onnx_format import (EMBEDDINGS_NAME, ENCODER_INPUTS, ENCODER_OUTPUTS, FORMAT,
                          LOCALISER_INPUTS, LOCALISER_OUTPUTS, MANIFEST_NAME, past_names,
                          present_names, publishing)
from .tokenizer import CONFIG_NAME

OPSET = 18
#: ORT against torch, float32 on the CPU: observed differences are ~1e-6.
RTOL, ATOL = 1e-3, 1e-4


class ExportError(Exception):
    """An export that cannot be made or does not reproduce the torch model: names the file."""


class DecoderStep(torch.nn.Module):
    """One KV-cached decoder step over flat past tensors (the exported graph)."""

    def __init__(self, decoder: torch.nn.Module) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, inputs_embeds: torch.Tensor, *past: torch.Tensor) -> tuple[torch.Tensor, ...]:
        from transformers import DynamicCache

        cache = DynamicCache(list(zip(past[0::2], past[1::2])))
        batch, n = inputs_embeds.shape[:2]
        # an explicit all-ones mask keeps the graph to plain ops for any past length
        mask = torch.ones(batch, past[0].shape[2] + n, dtype=torch.int64,
                          device=inputs_embeds.device)
        out = self.decoder(inputs_embeds=inputs_embeds, attention_mask=mask,
                           cache=cache, use_cache=True)
        logits = out.last_hidden_state[:, -1] @ self.decoder.embed_tokens.weight.T
        presents = [t for layer in cache.layers for t in (layer.keys, layer.values)]
        return (logits, *presents)


class LocaliserBoxes(torch.nn.Module):
    """The localiser's boxes from uncropped frames (the exported graph)."""

    def __init__(self, localiser: torch.nn.Module) -> None:
        super().__init__()
        self.localiser = localiser

    def forward(self, frame_pixels: torch.Tensor) -> torch.Tensor:
        return self.localiser.boxes(frame_pixels)


def export_onnx(model: str | Path, out: str | Path) -> Path:
    """Export the GeneNet folder (or training run) ``model`` to ``out`` and verify it."""
    folder = resolve_model_dir(model)
    model_type = read_model_file(folder)["model_type"]
    if model_type != "genenet":
        raise ExportError(f"{folder}: model_type {model_type!r}; the ONNX export covers GeneNet "
                          "only (run Qwen2.5-VL models with the torch backend)")
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401  (torch's dynamo exporter needs it)
    except ImportError as exc:
        raise ExportError(f"genevlm export onnx needs onnx and onnxscript ({exc}): pip install "
                          "'genevlm[onnx]'") from None
    out = Path(out)
    with publishing(out, "an ONNX export", ExportError) as tmp:
        net = load_model(folder).eval()
        manifest = _write(net, folder, tmp)
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1))
        manifest["max_abs_diff"] = verify(net, tmp)
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1))
    return out


def _write(net: torch.nn.Module, source: Path, folder: Path) -> dict:
    """Graphs, embedding table and tokenizer files into ``folder``; the manifest (unwritten)."""
    import onnx

    config = net.config
    layers, kv_heads = config.num_layers, config.num_kv_heads
    head_dim = config.hidden_size // config.num_heads
    batch = torch.export.Dim("batch", min=1)
    tokens = torch.export.Dim("tokens", min=1)
    past_len = torch.export.Dim("past", min=0)
    pixels = torch.zeros(2, config.in_channels, config.image_size, config.image_size)
    embeds = torch.zeros(2, 3, config.hidden_size)
    past = tuple(torch.zeros(2, kv_heads, 5, head_dim) for _ in range(2 * layers))
    graphs = {
        "encoder": (net.encoder, (pixels,), ENCODER_INPUTS, ENCODER_OUTPUTS, ({0: batch},)),
        "decoder": (DecoderStep(net.decoder).eval(), (embeds, *past),
                    ["inputs_embeds", *past_names(layers)], ["logits", *present_names(layers)],
                    ({0: batch, 1: tokens}, tuple({0: batch, 2: past_len} for _ in past))),
    }
    if net.localiser is not None:
        frames = torch.zeros(2, 3, config.image_size, config.image_size)
        graphs["localiser"] = (LocaliserBoxes(net.localiser).eval(), (frames,),
                               LOCALISER_INPUTS, LOCALISER_OUTPUTS, ({0: batch},))
    manifest = {"format": FORMAT, "model_type": "genenet", "opset": OPSET,
                "source": str(source.resolve()), "config": config.to_dict(),
                "image_size": config.image_size, "object_crop": config.object_crop,
                "image_tokens": config.image_tokens,
                "hidden_size": config.hidden_size, "num_layers": layers,
                "num_kv_heads": kv_heads, "head_dim": head_dim, "vocab_size": len(net.tokenizer),
                "max_positions": config.max_positions, "embeddings": EMBEDDINGS_NAME,
                "tokenizer": CONFIG_NAME}
    for name, (module, args, inputs, outputs, dynamic) in graphs.items():
        file = folder / f"{name}.onnx"
        try:
            with torch.no_grad():
                torch.onnx.export(module, args, str(file), dynamo=True, opset_version=OPSET,
                                  input_names=inputs, output_names=outputs,
                                  dynamic_shapes=dynamic, external_data=False, verbose=False)
            onnx.checker.check_model(str(file), full_check=True)
        except Exception as exc:  # the exporter and checker raise many types; name the graph
            raise ExportError(f"{file}: export failed ({type(exc).__name__}: {exc})") from exc
        manifest[name] = {"file": file.name, "inputs": inputs, "outputs": outputs}
    np.save(folder / EMBEDDINGS_NAME,
            net.decoder.embed_tokens.weight.detach().float().cpu().numpy())
    net.tokenizer.save_pretrained(folder)
    return manifest


def verify(net: torch.nn.Module, folder: Path) -> dict[str, float]:
    """Run the export with ONNX Runtime beside the torch session on the same pixels and tokens
    (batch 2, a multi-token step then a single-token step); raise :class:`ExportError` beyond
    tolerance, else return the largest absolute difference per compared output."""
    from .models.genenet import GeneNetSession
    from .onnx_backend import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(folder)
    rng = np.random.default_rng(0)
    size = net.config.image_size
    pixels = rng.uniform(-1.0, 1.0, (2, net.config.in_channels, size, size)).astype(np.float32)
    diffs: dict[str, float] = {}

    def compare(what: str, got: np.ndarray, expected: np.ndarray) -> None:
        diffs[what] = float(np.abs(got - expected).max())
        if got.shape != expected.shape or not np.allclose(got, expected, RTOL, ATOL):
            raise ExportError(f"{folder}: ONNX Runtime differs from torch at {what} (max abs "
                              f"difference {diffs[what]:.3g}, shapes {got.shape} vs "
                              f"{expected.shape})")

    with torch.inference_mode():
        compare("encoder/image_embeds", backend.encode(pixels),
                net.encoder(torch.from_numpy(pixels)).numpy())
        if net.localiser is not None:
            frames = np.ascontiguousarray(pixels[:, :3])
            compare("localiser/boxes", backend.boxes(frames),
                    net.localiser.boxes(torch.from_numpy(frames)).numpy())
        reference = GeneNetSession(net, torch.from_numpy(pixels))
        session = backend.session(pixels)
        for step, n in enumerate((3, 1)):
            tokens = rng.integers(0, len(net.tokenizer), (2, n), dtype=np.int64)
            compare(f"decoder/step{step}/logits", session.feed(tokens), reference.feed(tokens))
        for i, layer in enumerate(reference.cache.layers):
            compare(f"decoder/present_key_{i}", session.past[2 * i], layer.keys.numpy())
            compare(f"decoder/present_value_{i}", session.past[2 * i + 1], layer.values.numpy())
    return diffs
