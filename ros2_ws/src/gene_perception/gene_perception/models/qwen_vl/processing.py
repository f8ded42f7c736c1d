"""Chat prompts, images and label masks of the Qwen2.5-VL GeneVLM.

A gene sample is one user turn (the image, then the instruction) and one assistant turn, the
gene in the ``json`` serialisation (``<code>{...}</code>`` with float tokens); a general
instruction sample is its own turns. Both go through the base model's chat template, so the
model sees at training time exactly the format it answers in at parse time and in its original
instruction tuning.

Labels: the loss is taken on the assistant turns only (their content and the template's
end-of-turn text); system and user turns, image tokens and padding are -100. The text is
tokenized turn by turn (the masked prompt up to the assistant header, then the answer), which
is also how generation sees it: the prompt is tokenized alone and the answer continues from its
last token. A gene answer's ids are :meth:`GeneTokenizer.encode`'s, the sequence the decoding
grammar accepts.

Images: the base's own image processor (the PIL implementation, no torchvision), bounded by
the config's ``min_pixels``/``max_pixels``; each image's single ``<|image_pad|>`` in the
rendered template is expanded to its ``grid_t * grid_h * grid_w / merge_size²`` tokens, and
``mm_token_type_ids`` marks them (the model's 3D rotary positions need it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from PIL import Image

from ...gene import Gene
from ...tokenizer import GeneTokenizer
from ..base import ConversationSample, GeneSample

#: Where an image goes in a general instruction sample's text (LLaVA convention).
IMAGE_MARKER = "<image>"
#: The placeholder Qwen2.5-VL's template writes per image (expanded to the image's tokens).
IMAGE_PAD = "<|image_pad|>"
IGNORE = -100


class ChatFormatError(ValueError):
    """A sample (or chat template) that cannot be turned into model inputs; says which."""


@dataclass
class Turn:
    """One chat turn. ``text`` holds :data:`IMAGE_MARKER` where images go (user and system
    turns); ``ids`` are an assistant answer's token ids when they are not simply the text's
    tokenization (a gene: the gene tokenizer's ids)."""

    role: str
    text: str
    ids: list[int] | None = None


@dataclass
class Encoded:
    """One sample's token ids (one ``<|image_pad|>`` per image, not yet expanded), labels and
    images."""

    input_ids: list[int]
    labels: list[int]
    images: list[Image.Image]


class QwenProcessing:
    """Turns samples into Qwen2.5-VL inputs (see the module docstring).

    ``tokenizer`` is the base's transformers tokenizer extended with the gene tokens (the one
    ``genes`` wraps), ``image_processor`` a ``Qwen2VLImageProcessorPil``.
    """

    def __init__(self, tokenizer: Any, image_processor: Any, genes: GeneTokenizer,
                 prompt: str) -> None:
        if getattr(tokenizer, "chat_template", None) is None:
            raise ChatFormatError("the base tokenizer has no chat template")
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.genes = genes
        self.prompt = prompt
        self.image_pad = tokenizer.convert_tokens_to_ids(IMAGE_PAD)
        if self.image_pad is None or self.image_pad == tokenizer.unk_token_id:
            raise ChatFormatError(f"the base tokenizer has no {IMAGE_PAD} token")
        if tokenizer.pad_token_id is None:
            raise ChatFormatError("the base tokenizer has no pad token")
        self.pad = int(tokenizer.pad_token_id)

    # ---- samples → turns

    def gene_turns(self, gene: Gene | None) -> list[Turn]:
        """The gene prompt, and the gene as the answer when given."""
        turns = [Turn("user", IMAGE_MARKER + self.prompt)]
        if gene is not None:
            turns.append(Turn("assistant", self.genes.text(gene), self.genes.encode(gene)))
        return turns

    @staticmethod
    def conversation_turns(sample: ConversationSample) -> list[Turn]:
        """Turns of a general instruction sample; images without any marker go before the
        first user turn's text (the :class:`ConversationSample` rule)."""
        turns = [Turn(m["role"], m["content"]) for m in sample.messages]
        markers = sum(t.text.count(IMAGE_MARKER) for t in turns if t.role != "assistant")
        if markers == 0 and sample.images:
            first = next((t for t in turns if t.role == "user"), None)
            if first is None:
                raise ChatFormatError("a sample with images needs a user turn")
            first.text = IMAGE_MARKER * len(sample.images) + first.text
        elif markers != len(sample.images):
            raise ChatFormatError(f"{len(sample.images)} images but {markers} {IMAGE_MARKER} "
                                  f"markers")
        if any(IMAGE_MARKER in t.text for t in turns if t.role == "assistant"):
            raise ChatFormatError(f"{IMAGE_MARKER} in an assistant turn")
        return turns

    # ---- turns → ids

    def _render(self, turns: Sequence[Turn], generation_prompt: bool) -> str:
        messages = []
        for t in turns:
            if t.role == "assistant":
                messages.append({"role": t.role, "content": t.text})
                continue
            parts: list[dict[str, str]] = []
            for k, text in enumerate(t.text.split(IMAGE_MARKER)):
                if k:
                    parts.append({"type": "image"})
                if text:
                    parts.append({"type": "text", "text": text})
            messages.append({"role": t.role, "content": parts})
        return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                  add_generation_prompt=generation_prompt)

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode_turns(self, turns: Sequence[Turn], images: Sequence[Image.Image]) -> Encoded:
        """Ids and labels of a chat, loss on the assistant turns (module docstring)."""
        ids: list[int] = []
        labels: list[int] = []
        done = ""
        for k, turn in enumerate(turns):
            if turn.role != "assistant":
                continue
            prompt = self._render(turns[:k], True)
            full = self._render(turns[:k + 1], False)
            if not prompt.startswith(done) or not full.startswith(prompt + turn.text):
                raise ChatFormatError(f"turn {k}: the chat template does not render the "
                                      f"conversation as a prefix of its continuation, or "
                                      f"changes the answer text")
            context = self._ids(prompt[len(done):])
            answer = turn.ids if turn.ids is not None else self._ids(turn.text)
            answer = answer + self._ids(full[len(prompt) + len(turn.text):])
            ids += context + answer
            labels += [IGNORE] * len(context) + answer
            done = full
        if not done:
            raise ChatFormatError("no assistant turn: nothing to learn")
        rest = self._ids(self._render(turns, False)[len(done):])
        return Encoded(ids + rest, labels + [IGNORE] * len(rest), list(images))

    def encode_prompt(self, image: Image.Image) -> Encoded:
        """The gene prompt up to the assistant header (generation continues from there)."""
        ids = self._ids(self._render(self.gene_turns(None), True))
        return Encoded(ids, [IGNORE] * len(ids), [image])

    def encode(self, sample: GeneSample | ConversationSample) -> Encoded:
        if isinstance(sample, GeneSample):
            return self.encode_turns(self.gene_turns(sample.gene), [sample.image])
        if isinstance(sample, ConversationSample):
            return self.encode_turns(self.conversation_turns(sample), sample.images)
        raise TypeError(f"expected GeneSample or ConversationSample, got {type(sample).__name__}")

    # ---- batch

    def batch(self, encoded: Sequence[Encoded], padding_side: str = "right",
              with_labels: bool = True) -> dict[str, torch.Tensor]:
        """Padded model inputs: ``input_ids``, ``attention_mask``, ``mm_token_type_ids``,
        ``labels`` (when ``with_labels``) and, when there are images, ``pixel_values`` and
        ``image_grid_thw`` (images in batch order, as the model consumes them). Training pads on
        the right; generation on the left (new tokens must follow every prompt directly)."""
        images = [im for e in encoded for im in e.images]
        out: dict[str, torch.Tensor] = {}
        counts: list[int] = []
        if images:
            vision = self.image_processor(images=images, return_tensors="pt")
            out["pixel_values"] = vision["pixel_values"]
            out["image_grid_thw"] = vision["image_grid_thw"]
            merge = self.image_processor.merge_size ** 2
            counts = (vision["image_grid_thw"].prod(-1) // merge).tolist()
        rows, row_labels = [], []
        next_image = 0
        for b, e in enumerate(encoded):
            pads = sum(1 for t in e.input_ids if t == self.image_pad)
            if pads != len(e.images):
                raise ChatFormatError(f"batch row {b}: {len(e.images)} images but {pads} "
                                      f"{IMAGE_PAD} tokens")
            ids, labels = [], []
            for t, y in zip(e.input_ids, e.labels):
                if t == self.image_pad:
                    n = int(counts[next_image])
                    next_image += 1
                    ids += [t] * n
                    labels += [IGNORE] * n
                else:
                    ids.append(t)
                    labels.append(y)
            rows.append(ids)
            row_labels.append(labels)
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for b, (r, y) in enumerate(zip(rows, row_labels)):
            span = slice(width - len(r), width) if padding_side == "left" else slice(0, len(r))
            input_ids[b, span] = torch.tensor(r, dtype=torch.long)
            labels[b, span] = torch.tensor(y, dtype=torch.long)
            mask[b, span] = 1
        out.update(input_ids=input_ids, attention_mask=mask,
                   mm_token_type_ids=(input_ids == self.image_pad).long() * mask)
        if with_labels:
            out["labels"] = labels
        return out
