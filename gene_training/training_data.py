"""Training samples from synthesised datasets, mixed with replayed samples of an earlier
stage's dataset and with general instruction data, in a deterministic batch order that a resumed
run continues exactly.

:class:`GeneImageDataset` reads one split of a ``genevlm synth`` folder into memory (PNG bytes and
gene JSON; decoded per access). :class:`BatchPlan` fixes which samples form global micro-batch
``k``: epoch ``e`` is a permutation drawn from ``(seed, e)``, so batch ``k`` depends only on the
seed and ``k``, and resuming at step ``k`` needs no sampler state.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from PIL import Image

from gene_perception.gene import from_json
from gene_perception.models import ConversationSample, GeneSample
from gene_perception.models.genenet.processing import mask_box

from .dataset import SPLITS, SynthError, read_manifest


class GeneImageDataset:
    """One split of a synthesised dataset: ``dataset[i]`` is a :class:`GeneSample`;
    ``categories`` keeps those categories only (small runs, ablations on a subset)."""

    def __init__(self, data_dir: str | Path, split: str = "train",
                 limit: int | None = None, categories: Sequence[str] = ()) -> None:
        if split not in SPLITS:
            raise SynthError(f"unknown split {split!r}: {', '.join(SPLITS)}")
        self.data_dir = Path(data_dir)
        self.manifest, self.manifest_sha256 = read_manifest(self.data_dir)
        self.kind = self.manifest["config"]["kind"]
        shards = sorted((self.data_dir / split).glob("shard-*.parquet"))
        self.images: list[bytes] = []
        self.genes: list[str] = []
        self.ids: list[str] = []
        #: mask PNGs (``genevlm synth --mask``), whose boxes become the samples' ``box``
        self.masks: list[bytes] | None = [] if self.manifest["config"].get("mask") else None
        columns = ["image", "gene", "gene_id", "category"] + \
            (["mask"] if self.masks is not None else [])
        for shard in shards:
            table = pq.read_table(shard, columns=columns)
            if categories:
                table = table.filter(pc.is_in(table.column("category"),
                                              pa.array(list(categories))))
            self.images += table.column("image").to_pylist()
            self.genes += table.column("gene").to_pylist()
            self.ids += table.column("gene_id").to_pylist()
            if self.masks is not None:
                self.masks += table.column("mask").to_pylist()
            if limit is not None and len(self.images) >= limit:
                break
        if limit is not None:
            del self.images[limit:], self.genes[limit:], self.ids[limit:]
            if self.masks is not None:
                del self.masks[limit:]
        if not self.images:
            raise SynthError(f"{self.data_dir}: no {split} samples"
                             + (f" of {', '.join(categories)}" if categories else ""))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> GeneSample:
        image = Image.open(io.BytesIO(self.images[i]))
        image.load()
        box = None
        if self.masks is not None:
            box = mask_box(np.asarray(Image.open(io.BytesIO(self.masks[i]))))
        return GeneSample(image, from_json(json.loads(self.genes[i])), box)


class ReplayDataset:
    """The stage's gene samples followed by ``ratio`` (the share among all) of samples replayed
    from an earlier stage's dataset, so that stage 2 keeps what stage 1 learned. The replayed
    samples are spread evenly over the replay dataset (every category, every shard), the same
    ones every epoch; :class:`BatchPlan` shuffles them among the stage's samples."""

    def __init__(self, genes: GeneImageDataset, replay: GeneImageDataset | None,
                 ratio: float = 0.0) -> None:
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"--replay-ratio must be in [0, 1), got {ratio}")
        if ratio > 0 and replay is None:
            raise ValueError("--replay-ratio > 0 needs --replay DIR")
        self.genes = genes
        self.replay = replay
        n = round(len(genes) * ratio / (1.0 - ratio)) if ratio else 0
        # evenly spaced over the replay dataset (each used in turn when it has fewer than n)
        self.replay_indices = np.arange(n, dtype=np.int64) * len(replay) // n if n \
            else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.genes) + len(self.replay_indices)

    def __getitem__(self, i: int) -> GeneSample:
        if i < len(self.genes):
            return self.genes[i]
        assert self.replay is not None
        return self.replay[int(self.replay_indices[i - len(self.genes)])]


class MixedDataset:
    """Gene samples with general instruction samples mixed in at ``ratio`` (the share of
    conversation samples among all); conversations cycle when there are fewer than needed."""

    def __init__(self, genes: Sequence[GeneSample],
                 conversations: Sequence[ConversationSample] | None, ratio: float = 0.0) -> None:
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"--sft-ratio must be in [0, 1), got {ratio}")
        if ratio > 0 and not conversations:
            raise ValueError("--sft-ratio > 0 needs --general-sft files")
        self.genes = genes
        self.conversations = conversations
        self.n_conversations = round(len(genes) * ratio / (1.0 - ratio)) if ratio else 0

    def __len__(self) -> int:
        return len(self.genes) + self.n_conversations

    def __getitem__(self, i: int) -> GeneSample | ConversationSample:
        if i < len(self.genes):
            return self.genes[i]
        assert self.conversations is not None
        return self.conversations[(i - len(self.genes)) % len(self.conversations)]


@dataclass(frozen=True)
class BatchPlan:
    """Which samples make global micro-batch ``k`` (``batch_size`` per process)."""

    n: int
    batch_size: int
    seed: int
    world_size: int = 1
    rank: int = 0

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world_size

    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.n // self.global_batch)

    def indices(self, k: int) -> np.ndarray:
        """This process's sample indices of micro-batch ``k`` (the last partial batch of an
        epoch is dropped so every batch has the same size)."""
        epoch, j = divmod(k, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        start = j * self.global_batch + self.rank * self.batch_size
        return order[start:start + self.batch_size]


class StepBatches:
    """``torch.utils.data.Dataset`` of collated micro-batches ``start, start + 1, …`` (index
    ``i`` is micro-batch ``start + i``), so a DataLoader worker collates ahead of training."""

    def __init__(self, dataset, plan: BatchPlan, collate, start: int, count: int) -> None:
        self.dataset, self.plan, self.collate = dataset, plan, collate
        self.start, self.count = start, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int):
        return self.collate([self.dataset[int(j)] for j in self.plan.indices(self.start + i)])
