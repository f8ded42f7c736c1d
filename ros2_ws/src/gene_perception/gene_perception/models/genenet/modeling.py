"""GeneNet: a small convolutional encoder and a Qwen2 decoder, trained from scratch on CPU.

The image becomes ``grid²`` tokens (four stride-2 stages, then a linear projection and a learned
position embedding) that prefix the gene's compact token sequence in a transformers
``Qwen2Model``; the output head is tied to the token embedding. With ``object_crop`` the encoder
sees the object's crop (``processing``), placed by the :class:`Localiser` where the background
is not plain (``localiser``). With
``GeneNetConfig.numbers == "text"`` the sequence writes numbers as text (the tokenization
ablation), and the same grammar constrains its characters.

Training takes the loss only where the grammar leaves a choice (forced tokens carry no
information) and over the grammar's allowed set at that position, the same masked distribution
decoding samples from; float tokens get a Gaussian target over neighbouring quantile indices
(``GeneNetConfig.float_sigma``); the characters of numbers written as text get plain
cross-entropy.
"""

from __future__ import annotations

import json
import math
from functools import cached_property
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from ...decoding import constrained_decode
from ...grammar import GeneGrammar
from ...tokenizer import GeneTokenizer, QuantileTable
from ..base import (ConversationSample, GeneModel, GeneSample, ModelLoadError,
                    ParseResult, read_model_file, write_model_file)
from .configuration import GeneNetConfig
from .processing import pixel_values, plain_box, square, to_rgb

WEIGHTS_NAME = "model.safetensors"
IGNORE = -100


class ConvEncoder(nn.Module):
    """Stride-2 stages (conv, batch norm, GELU, then ``blocks[i]`` residual 3×3 blocks) →
    a linear projection and a learned position embedding per grid cell."""

    def __init__(self, config: GeneNetConfig) -> None:
        super().__init__()
        stages, c_in = [], config.in_channels
        for c, n_blocks in zip(config.channels, config.blocks):
            stages.append(nn.ModuleDict({
                "down": nn.Sequential(nn.Conv2d(c_in, c, 3, 2, 1, bias=False),
                                      nn.BatchNorm2d(c), nn.GELU()),
                "blocks": nn.ModuleList(
                    nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c),
                                  nn.GELU(), nn.Conv2d(c, c, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(c)) for _ in range(n_blocks)),
            }))
            c_in = c
        self.stages = nn.ModuleList(stages)
        self.act = nn.GELU()
        self.project = nn.Linear(c_in, config.hidden_size)
        self.position = nn.Parameter(torch.randn(config.image_tokens, config.hidden_size) * 0.02)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels
        for stage in self.stages:
            x = stage["down"](x)
            for block in stage["blocks"]:
                x = self.act(x + block(x))
        x = x.flatten(2).transpose(1, 2)  # [B, grid², C]
        return self.project(x) + self.position

    def flops(self, image_size: int) -> float:
        """Forward FLOPs (2 × multiply-adds) of the convolutions and the projection, per image."""
        total, side = 0.0, image_size
        for stage in self.stages:
            conv = stage["down"][0]
            side //= 2
            c_in, c_out = conv.in_channels, conv.out_channels
            total += side * side * c_out * (c_in + 2 * c_out * len(stage["blocks"])) * 9
        total += side * side * self.project.in_features * self.project.out_features
        return 2.0 * total


class Localiser(nn.Module):
    """The object's box from the whole frame (``[B, 3, S, S]`` pixels, no crop): stride-2
    stages down to a ``G × G`` grid, two 3×3 layers for context beyond a cell, then per cell a
    centre logit and a box (the centre's offset in the cell through a sigmoid, log width and
    height in cells). The box is the one of the cell with the highest logit."""

    def __init__(self, config: GeneNetConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c in config.localiser_channels:
            layers += [nn.Conv2d(c_in, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c), nn.GELU()]
            c_in = c
        for _ in range(2):
            layers += [nn.Conv2d(c_in, c_in, 3, 1, 1, bias=False), nn.BatchNorm2d(c_in),
                       nn.GELU()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(c_in, 5, 1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[B, 5, G, G]``: centre logit, offset x, offset y, log width, log height."""
        return self.head(self.features(pixels))

    @staticmethod
    def _geometry(out: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """``[B, 4]`` box outputs of each row's ``cell`` from the flattened ``[B, 5, G²]``."""
        return out[:, 1:].gather(2, cell[:, None, None].expand(-1, 4, 1))[..., 0]

    def boxes(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[B, 4]`` boxes ``(x0, y0, x1, y1)`` in fractions of the frame."""
        out = self(pixels)
        g = out.shape[-1]
        out = out.flatten(2)
        cell = out[:, 0].argmax(1)
        geometry = self._geometry(out, cell)
        row = torch.div(cell, g, rounding_mode="floor")
        col = (cell - row * g).to(geometry.dtype)
        cx = (col + torch.sigmoid(geometry[:, 0])) / g
        cy = (row.to(geometry.dtype) + torch.sigmoid(geometry[:, 1])) / g
        # at most the frame's size, whatever an untrained head says
        size = torch.exp(geometry[:, 2:].clamp(max=math.log(g))) / (2 * g)
        half_w, half_h = size[:, 0], size[:, 1]
        return torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], 1)

    def loss(self, pixels: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the centre's cell plus L1 of its offset and log size, over the
        samples whose box is known (rows of ``boxes`` without NaN)."""
        out = self(pixels)
        g = out.shape[-1]
        out = out.flatten(2)
        known = ~torch.isnan(boxes).any(1)
        if not known.any():
            return out.sum() * 0.0
        out, boxes = out[known], boxes[known].to(out.dtype)
        centre = (boxes[:, :2] + boxes[:, 2:]) * (g / 2)
        cells = centre.floor().clamp(0, g - 1)
        cell = (cells[:, 1] * g + cells[:, 0]).long()
        geometry = self._geometry(out, cell)
        size = ((boxes[:, 2:] - boxes[:, :2]) * g).clamp_min(1e-3)
        return (nn.functional.cross_entropy(out[:, 0], cell)
                + (torch.sigmoid(geometry[:, :2]) - (centre - cells)).abs().sum(1).mean()
                + (geometry[:, 2:] - size.log()).abs().sum(1).mean())

    def flops(self, image_size: int) -> float:
        """Forward FLOPs (2 × multiply-adds) per image."""
        total, side = 0.0, image_size
        for layer in self.features:
            if isinstance(layer, nn.Conv2d):
                side //= layer.stride[0]
                total += side * side * layer.out_channels * layer.in_channels * 9
        total += side * side * self.head.out_channels * self.head.in_channels
        return 2.0 * total


class GeneNet(GeneModel):
    """See the module docstring. ``tokenizer`` is the closed-vocabulary compact tokenizer."""

    model_type = "genenet"

    def __init__(self, config: GeneNetConfig, tokenizer: GeneTokenizer) -> None:
        super().__init__()
        from transformers import Qwen2Config, Qwen2Model

        if tokenizer.serialization != "compact" or tokenizer.base is not None:
            raise ValueError("GeneNet uses the closed-vocabulary compact tokenizer")
        if tokenizer.numbers != config.numbers:
            raise ValueError(f"the tokenizer writes numbers as {tokenizer.numbers}, the config "
                             f"says {config.numbers}")
        self.config = config
        self.tokenizer = tokenizer
        self.encoder = ConvEncoder(config)
        self.localiser = Localiser(config) if config.localiser else None
        self.decoder = Qwen2Model(Qwen2Config(
            vocab_size=len(tokenizer), hidden_size=config.hidden_size,
            num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
            num_key_value_heads=config.num_kv_heads, intermediate_size=config.intermediate_size,
            max_position_embeddings=config.max_positions, rope_theta=config.rope_theta,
            attention_dropout=config.dropout, tie_word_embeddings=True,
            pad_token_id=tokenizer.ids["<pad>"]))

    # ---- construction and files

    @classmethod
    def create(cls, base: Path | None, table: QuantileTable, options: dict) -> "GeneNet":
        """A new, randomly initialised model (``base`` must be None: GeneNet has no pretrained
        base; continue from a trained GeneNet with :func:`~gene_perception.models.load_model`).
        ``options`` are :class:`GeneNetConfig` fields."""
        if base is not None:
            raise ModelLoadError(f"{base}: GeneNet trains from scratch; pass a trained GeneNet "
                                 "folder to continue from it")
        config = GeneNetConfig.from_dict(dict(options))
        return cls(config, GeneTokenizer(table, "compact", numbers=config.numbers))

    def save_pretrained(self, path: str | Path,
                        state_dict: dict[str, torch.Tensor] | None = None) -> None:
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        source = self.state_dict() if state_dict is None else state_dict
        state = {k: v.detach().contiguous().cpu() for k, v in source.items()}
        save_file(state, str(path / WEIGHTS_NAME), metadata={"format": "pt"})
        self.tokenizer.save_pretrained(path)
        write_model_file(path, self.model_type, self.config.to_dict())

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str = "cpu") -> "GeneNet":
        from safetensors.torch import load_file

        path = Path(path)
        data = read_model_file(path)
        try:
            config = GeneNetConfig.from_dict(data.get("config", {}))
            tokenizer = GeneTokenizer.from_pretrained(path)
        except (ValueError, KeyError, OSError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"{path}: broken GeneNet folder ({exc})") from None
        model = cls(config, tokenizer)
        weights = path / WEIGHTS_NAME
        if not weights.is_file():
            raise ModelLoadError(f"{path}: {WEIGHTS_NAME} missing")
        try:
            state = load_file(str(weights))
            missing, unexpected = model.load_state_dict(state, strict=False)
        except Exception as exc:  # safetensors raises its own error types for corrupt files
            raise ModelLoadError(f"{weights}: unreadable weights ({exc})") from None
        if missing or unexpected:
            raise ModelLoadError(f"{weights}: weights do not match the config (missing "
                                 f"{len(missing)}, unexpected {len(unexpected)} tensors)")
        return model.to(device).eval()

    # ---- training

    @cached_property
    def grammar(self) -> GeneGrammar:
        """The tokenizer's grammar (one instance: text numbers are spelled by it too)."""
        return self.tokenizer.grammar

    def collate(self, samples: Sequence[GeneSample | ConversationSample]) -> dict[str, torch.Tensor]:
        """``pixel_values``, ``input_ids`` (sequence without its last token, right-padded),
        ``labels`` (next tokens; -100 on padding and forced tokens), ``allowed`` (the grammar's
        allowed set per position, bool ``[B, T, V]``); with a localiser ``frame_pixels`` (the
        uncropped frames) and ``boxes`` (``[B, 4]``, the samples' boxes, NaN where unknown).
        Crops are cut around the samples' known boxes, as they are around the localiser's at
        inference."""
        if any(isinstance(s, ConversationSample) for s in samples):
            raise ValueError("GeneNet has no text model: general instruction data (--general-sft) "
                             "applies to Qwen2.5-VL models only")
        g = self.grammar
        seqs = [self.tokenizer.encode(s.gene) for s in samples]
        length = max(len(s) for s in seqs) - 1
        pad = self.tokenizer.ids["<pad>"]
        input_ids = np.full((len(seqs), length), pad, np.int64)
        labels = np.full((len(seqs), length), IGNORE, np.int64)
        allowed = np.zeros((len(seqs), length, len(self.tokenizer)), bool)
        for b, seq in enumerate(seqs):
            input_ids[b, :len(seq) - 1] = seq[:-1]
            state = g.advance(g.initial(), seq[0])
            for i, token in enumerate(seq[1:]):
                ids = g.allowed(state)
                if ids.size > 1:
                    labels[b, i] = token
                    allowed[b, i, ids] = True
                state = g.advance(state, token)
        images = [s.image for s in samples]
        boxes = [s.box for s in samples]
        batch = {"pixel_values": pixel_values(images, self.config.image_size,
                                              self.config.object_crop, boxes),
                 "input_ids": torch.from_numpy(input_ids), "labels": torch.from_numpy(labels),
                 "allowed": torch.from_numpy(allowed)}
        if self.localiser is not None:
            targets = np.full((len(samples), 4), np.nan, np.float32)
            for b, (image, box) in enumerate(zip(images, boxes)):
                box = box if box is not None else plain_box(square(to_rgb(image)))
                if box is not None:
                    targets[b] = box
            batch["frame_pixels"] = pixel_values(images, self.config.image_size)
            batch["boxes"] = torch.from_numpy(targets)
        return batch

    def hidden_states(self, pixel_values: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        """Decoder states at the token positions, ``[B, T, hidden]``."""
        image = self.encoder(pixel_values)
        tokens = self.decoder.embed_tokens(input_ids)
        out = self.decoder(inputs_embeds=torch.cat([image, tokens], 1), use_cache=False)
        return out.last_hidden_state[:, image.shape[1]:]

    def forward(self, pixel_values: torch.Tensor, input_ids: torch.Tensor, labels: torch.Tensor,
                allowed: torch.Tensor, frame_pixels: torch.Tensor | None = None,
                boxes: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``loss`` (mean over choice positions, structural choices weighted by the config's
        ``choice_weight``; plus ``localiser_loss`` with a localiser), ``float_loss``,
        ``choice_loss`` and
        ``choice_accuracy`` (argmax under the mask equals the label; floats within 16 indices)."""
        hidden = self.hidden_states(pixel_values, input_ids)
        sel = labels != IGNORE
        logits = (hidden[sel] @ self.decoder.embed_tokens.weight.T).float()
        mask = allowed[sel]
        y = labels[sel]
        logp = torch.log_softmax(logits.masked_fill(~mask, float("-inf")), -1)
        bof = self.tokenizer.bof
        n_floats = self.tokenizer.table.n
        is_float = (y >= bof) & (y < bof + n_floats)
        losses = torch.empty_like(y, dtype=logp.dtype)
        hard = ~is_float
        losses[hard] = -logp[hard].gather(1, y[hard, None])[:, 0]
        if is_float.any():
            idx = (y[is_float] - bof).to(logp.dtype)
            grid = torch.arange(n_floats, dtype=logp.dtype, device=logp.device)
            fmask = mask[is_float, bof:bof + n_floats]
            w = torch.exp(-0.5 * ((grid - idx[:, None]) / self.config.float_sigma) ** 2) * fmask
            w = w / w.sum(-1, keepdim=True)
            lp = logp[is_float, bof:bof + n_floats].masked_fill(~fmask, 0.0)
            losses[is_float] = -(w * lp).sum(-1)
        pred = logp.argmax(-1)
        correct = torch.where(is_float, (pred - y).abs() <= 16, pred == y)
        # the structural choices (category, templates, counts: what Concept Accuracy scores) are
        # a few positions among many float tokens; choice_weight keeps them from being drowned
        weights = torch.where(is_float, 1.0, self.config.choice_weight).to(losses.dtype)
        values = {"loss": (losses * weights).sum() / weights.sum(),
                  "float_loss": losses[is_float].mean() if is_float.any()
                  else losses.new_zeros(()),
                  "choice_loss": losses[hard].mean() if hard.any() else losses.new_zeros(()),
                  "choice_accuracy": correct.float().mean()}
        if self.localiser is not None:
            if frame_pixels is None or boxes is None:
                raise ValueError("a GeneNet with a localiser trains on frame_pixels and boxes "
                                 "(its collate gives them)")
            values["localiser_loss"] = self.localiser.loss(frame_pixels, boxes)
            values["loss"] = values["loss"] + values["localiser_loss"]
        return values

    def calibrate(self, batches: Iterable[dict[str, torch.Tensor]]) -> None:
        """Precise BN for the localiser: its batch-norm statistics become exact averages over
        ``batches`` instead of training's running averages. Its box logits hinge on the
        normalised level of the background, which fills most of the frame, and the running
        averages were off by enough to move the box (white test IoU 0.379 before, 0.896 after,
        BENCHMARKS.md "Localiser")."""
        if self.localiser is None:
            return
        norms = [m for m in self.localiser.modules() if isinstance(m, nn.BatchNorm2d)]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over every batch
        was_training = self.localiser.training
        device = next(self.parameters()).device
        self.localiser.train()
        with torch.no_grad():
            for batch in batches:
                self.localiser(batch["frame_pixels"].to(device))
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        self.localiser.train(was_training)

    def batch_tokens(self, batch: dict[str, torch.Tensor]) -> int:
        """Image tokens plus non-padding gene tokens."""
        pad = self.tokenizer.ids["<pad>"]
        ids = batch["input_ids"]
        return int((ids != pad).sum()) + ids.shape[0] * self.config.image_tokens

    @cached_property
    def _forward_flops(self) -> tuple[float, float]:
        """(per image: the encoder's convolutions and the localiser's, per position:
        2 × decoder parameters, the
        tied head counted once as the embedding), fixed by the architecture."""
        per_image = self.encoder.flops(self.config.image_size)
        if self.localiser is not None:
            per_image += self.localiser.flops(self.config.image_size)
        return (per_image,
                2.0 * sum(p.numel() for p in self.decoder.parameters()))

    def training_flops(self, batch: dict[str, torch.Tensor]) -> float:
        """Forward + backward ≈ 3 × forward, over the image and every gene position."""
        b, t = batch["input_ids"].shape
        per_image, per_position = self._forward_flops
        return 3.0 * b * (per_image + per_position * (self.config.image_tokens + t))

    # ---- inference

    def locate(self, frames: np.ndarray) -> np.ndarray:
        """The localiser's ``[N, 4]`` object boxes, ``(x0, y0, x1, y1)`` in fractions of the
        square frame, of uncropped frames (:func:`~.processing.pixel_array` without
        ``object_crop``); a model without a localiser has none: ValueError."""
        if self.localiser is None:
            raise ValueError("this GeneNet has no localiser")
        device = next(self.parameters()).device
        with torch.inference_mode():
            return self.localiser.boxes(torch.from_numpy(frames).to(device)).float().cpu().numpy()

    def pixels(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """The encoder's input for ``images``, crops placed by the localiser where it has one."""
        return pixel_values(images, self.config.image_size, self.config.object_crop,
                            localise=None if self.localiser is None else self.locate)

    def parse(self, images: Sequence[Image.Image], *, do_sample: bool = False,
              temperature: float = 1.0, seed: int | None = None) -> list[ParseResult]:
        if not images:
            return []
        device = next(self.parameters()).device
        rng = np.random.default_rng(seed) if do_sample else None
        with torch.inference_mode():
            pixels = self.pixels(images)
            session = GeneNetSession(self, pixels.to(device))
            out = constrained_decode(session, self.grammar, len(images), rng=rng,
                                     temperature=temperature)
        return [ParseResult(self.tokenizer.decode(seq), seq, out.forward_passes)
                for seq in out.sequences]


class GeneNetSession:
    """A KV-cached torch decoding session primed with the image tokens (see
    :class:`~gene_perception.decoding.DecoderSession`)."""

    def __init__(self, model: GeneNet, pixels: torch.Tensor) -> None:
        from transformers import DynamicCache

        self.model = model
        self.cache = DynamicCache()
        model.decoder(inputs_embeds=model.encoder(pixels), cache=self.cache,
                      use_cache=True)

    def feed(self, tokens: np.ndarray) -> np.ndarray:
        m = self.model
        ids = torch.from_numpy(tokens).to(m.decoder.embed_tokens.weight.device)
        out = m.decoder(inputs_embeds=m.decoder.embed_tokens(ids), cache=self.cache,
                        use_cache=True)
        logits = out.last_hidden_state[:, -1] @ m.decoder.embed_tokens.weight.T
        return logits.float().cpu().numpy()
