"""Two-stage training of GeneVLM models (SPEC §4): ``genevlm train``.

One loop for every model type (``GeneModel.collate`` + ``forward`` → loss), run by accelerate, so
the same command trains on a CPU, one GPU, or many GPUs and nodes (``accelerate launch
--config_file configs/accelerate/…``: DDP, FSDP, DeepSpeed ZeRO). Stage ``white`` starts from a
new model (GeneNet) or a pretrained base (Qwen2.5-VL, local path); stage ``color`` starts from the
stage-1 model.

Run folder ``OUT``::

    OUT/train_config.json         the run's configuration (a rerun must match: it resumes)
    OUT/metrics.jsonl             one line per log/eval event: step, samples, tokens, FLOPs, losses
    OUT/tensorboard/              the same scalars for TensorBoard (also against GFLOPs)
    OUT/checkpoints/step-NNNNNNN/ accelerate state (model, optimizer, scheduler, RNG) +
                                  trainer_state.json + model/ (a loadable model folder)
    OUT/model/                    the final model (genevlm parse --model OUT)

Checkpoints are written to a temporary folder and renamed into place, so an interrupted run
leaves only complete ones; the rerun loads the newest and continues with the same batches
(:class:`~gene_training.training_data.BatchPlan`), so an interrupted and a straight run end with
the same weights.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from gene_perception.models import GeneModel, load_model, model_class
from gene_perception.models.base import MODEL_FILE
from gene_perception.registry import CATEGORIES
from gene_perception.tokenizer import QuantileTable

from .dataset import SynthError, _write_json_atomic
from .quantiles import dataset_quantiles
from .training_data import (BatchPlan, GeneImageDataset, MixedDataset, ReplayDataset,
                            StepBatches)

CONFIG_FILE = "train_config.json"
METRICS_FILE = "metrics.jsonl"
STATE_FILE = "trainer_state.json"
STAGES = ("white", "color")
#: Training batches the finished model's statistics are re-estimated on (``GeneModel.calibrate``).
CALIBRATION_BATCHES = 16
#: Fields that may differ when a run is resumed (they do not change what is computed).
RESUMABLE_CHANGES = {"time_budget_min", "workers", "log_every"}


class TrainError(Exception):
    """A user-facing training failure (bad arguments, mismatched data or run folder)."""


@dataclass
class TrainConfig:
    """Everything a training run depends on (``genevlm train --help`` documents each)."""

    stage: str
    data: str
    out: str
    base: str | None = None
    model_type: str = "genenet"
    model_options: dict[str, Any] = field(default_factory=dict)
    replay: str | None = None
    replay_ratio: float = 0.0
    general_sft: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    sft_ratio: float = 0.0
    batch_size: int = 32
    grad_accum: int = 1
    max_steps: int = 1000
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    mixed_precision: str = "auto"
    seed: int = 0
    log_every: int = 10
    eval_every: int = 200
    save_every: int = 500
    val_samples: int = 256
    keep_checkpoints: int = 2
    workers: int = 1
    time_budget_min: float | None = None

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise TrainError(f"--stage must be one of {', '.join(STAGES)}, got {self.stage!r}")
        unknown = [c for c in self.categories if c not in CATEGORIES]
        if unknown:
            raise TrainError(f"--categories: unknown {', '.join(unknown)}")
        if self.stage == "color" and self.base is None:
            raise TrainError("--stage color starts from the stage-1 model: pass --base STAGE1_OUT")
        for name in ("batch_size", "grad_accum", "max_steps", "log_every", "eval_every",
                     "save_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise TrainError(f"--{name.replace('_', '-')} must be at least 1")
        # before the run folder records them, so that the corrected command is the same run
        for ratio, source, flag in (("replay_ratio", self.replay, "--replay DIR"),
                                    ("sft_ratio", self.general_sft, "--general-sft files")):
            option = "--" + ratio.replace("_", "-")
            if not 0.0 <= getattr(self, ratio) < 1.0:
                raise TrainError(f"{option} must be in [0, 1), got {getattr(self, ratio)}")
            if getattr(self, ratio) > 0 and not source:
                raise TrainError(f"{option} > 0 needs {flag}")
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise TrainError(f"--mixed-precision: auto, no, bf16 or fp16, not "
                             f"{self.mixed_precision!r}")
        for name in ("data", "out"):
            setattr(self, name, str(Path(getattr(self, name)).resolve()))
        for name in ("base", "replay"):
            if getattr(self, name) is not None:
                setattr(self, name, str(Path(getattr(self, name)).resolve()))
        self.general_sft = [str(Path(p).resolve()) for p in self.general_sft]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def resolve_mixed_precision(setting: str, device: str) -> str:
    """``auto``: bf16 on a CUDA device that supports it or a CPU with native bf16 (AVX512-BF16 /
    AMX), otherwise full precision."""
    if setting != "auto":
        return setting
    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if torch.cpu._is_avx512_bf16_supported() else "no"


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up, then cosine decay to ``min_ratio`` at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _is_model_folder(path: Path) -> bool:
    return (path / MODEL_FILE).is_file() or (path / "model" / MODEL_FILE).is_file()


def build_model(config: TrainConfig, train: GeneImageDataset) -> GeneModel:
    """The model to train: a trained GeneVLM folder to continue from (stage 2), or a new model
    (GeneNet from scratch, Qwen2.5-VL from a pretrained base) whose quantile table is computed
    from the training split."""
    base = Path(config.base) if config.base else None
    if base is not None and _is_model_folder(base):
        model = load_model(base)
        if model.model_type != config.model_type:
            raise TrainError(f"--base {base} is a {model.model_type} model, not "
                             f"{config.model_type} (--model-type)")
        return model
    if config.stage == "color":
        raise TrainError(f"--base {base}: not a GeneVLM model folder (stage color continues "
                         "from the stage-1 run's OUT or OUT/model)")
    table = QuantileTable.from_json(dataset_quantiles(train.data_dir, "train"))
    return model_class(config.model_type).create(base, table, dict(config.model_options))


def _check_run_folder(config: TrainConfig) -> None:
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / CONFIG_FILE
    if path.is_file():  # through TrainConfig, so fields added since then read as their default
        old = TrainConfig.from_json(json.loads(path.read_text())).to_json()
        new = config.to_json()
        changed = sorted(k for k in set(old) | set(new)
                         if old.get(k) != new.get(k) and k not in RESUMABLE_CHANGES)
        if changed:
            raise TrainError(f"{out} holds a run with different settings ({', '.join(changed)}):"
                             f" rerun with the same arguments to resume, or use a new --out")
    _write_json_atomic(path, config.to_json())


def _publish(core: GeneModel, tmp: Path, final: Path, state: dict[str, Any],
             weights: dict[str, torch.Tensor] | None = None) -> None:
    """Complete ``tmp`` with the loadable model (``model/`` inside a checkpoint, the folder itself
    for the final model) and the trainer state, then rename it to ``final``. ``weights``: the
    gathered full state dict when parameters are sharded (see :func:`_gathered_weights`)."""
    core.save_pretrained(tmp / "model" if final.name.startswith("step-") else tmp, weights)
    _write_json_atomic(tmp / STATE_FILE, state)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


def _sharded(accelerator: Any) -> bool:
    """Whether each process holds only a shard of the parameters (FSDP, DeepSpeed ZeRO-3)."""
    from accelerate.utils import DistributedType

    if accelerator.distributed_type == DistributedType.FSDP:
        return True
    plugin = accelerator.state.deepspeed_plugin
    return accelerator.distributed_type == DistributedType.DEEPSPEED and plugin is not None \
        and plugin.zero_stage == 3


def _gathered_weights(accelerator: Any, model: torch.nn.Module) -> dict[str, torch.Tensor] | None:
    """The full state dict on the main process when parameters are sharded (a collective: every
    process must call it), else None (the model's own state dict is complete)."""
    return accelerator.get_state_dict(model) if _sharded(accelerator) else None


def latest_checkpoint(out: Path) -> Path | None:
    folder = out / "checkpoints"
    done = sorted(p for p in folder.glob("step-*") if (p / STATE_FILE).is_file()) \
        if folder.is_dir() else []
    return done[-1] if done else None


def _trim_metrics(out: Path, step: int) -> None:
    """Drop metric lines past the resumed step (the rerun logs them again)."""
    path = out / METRICS_FILE
    if not path.is_file():
        return
    keep = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line)["step"] <= step]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in keep))
    os.replace(tmp, path)


class _Log:
    """metrics.jsonl + TensorBoard, main process only."""

    def __init__(self, out: Path, enabled: bool) -> None:
        self.enabled = enabled
        self.path = out / METRICS_FILE
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(out / "tensorboard"))

    def write(self, split: str, step: int, counters: dict[str, float],
              values: dict[str, float]) -> None:
        if not self.enabled:
            return
        record = {"split": split, "step": step, **counters, **values}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        gflops = int(counters["flops"] / 1e9)
        for k, v in values.items():
            self.writer.add_scalar(f"{split}/{k}", v, step)
            self.writer.add_scalar(f"{split}_vs_gflops/{k}", v, gflops)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def train(config: TrainConfig, progress: bool = True) -> Path:
    """Run (or resume) a training run; returns the final model folder ``OUT/model``."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    out = Path(config.out)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    accelerator = Accelerator(
        mixed_precision=resolve_mixed_precision(config.mixed_precision, device),
        gradient_accumulation_steps=config.grad_accum, cpu=device == "cpu")
    if accelerator.is_main_process:
        _check_run_folder(config)
    accelerator.wait_for_everyone()
    set_seed(config.seed)

    try:
        train_set = GeneImageDataset(config.data, "train", categories=config.categories)
        val_set = GeneImageDataset(config.data, "val", limit=config.val_samples,
                                   categories=config.categories)
        replay_set = GeneImageDataset(config.replay, "train", categories=config.categories) \
            if config.replay and config.replay_ratio > 0 else None
    except SynthError as exc:
        raise TrainError(str(exc)) from None
    if train_set.kind != config.stage:
        raise TrainError(f"--data {config.data} holds {train_set.kind} images; stage "
                         f"{config.stage} trains on {config.stage} images")
    conversations = None
    if config.general_sft:
        from .sft import ConversationDataset

        conversations = ConversationDataset(config.general_sft)
    try:
        mixed = MixedDataset(ReplayDataset(train_set, replay_set, config.replay_ratio),
                             conversations, config.sft_ratio)
    except ValueError as exc:
        raise TrainError(str(exc)) from None

    model = build_model(config, train_set)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, config.warmup_steps, config.max_steps,
                                       config.min_lr_ratio))
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    core: GeneModel = accelerator.unwrap_model(model)
    if _sharded(accelerator) and getattr(getattr(core, "config", None), "lora", None):
        # fail now, not at the first checkpoint (see QwenGeneModel.save_pretrained)
        raise TrainError("LoRA with sharded parameters (FSDP / ZeRO-3) is not supported: use "
                         "configs/accelerate/ddp.yaml or zero2.yaml")

    counters = {"samples": 0, "tokens": 0, "flops": 0.0, "elapsed_s": 0.0}
    step = 0
    checkpoint = latest_checkpoint(out)
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        state = json.loads((checkpoint / STATE_FILE).read_text())
        step, counters = state["step"], state["counters"]
        if accelerator.is_main_process:
            print(f"resuming {out} from {checkpoint.name} (step {step})", flush=True)
    if accelerator.is_main_process:
        _trim_metrics(out, step)
    log = _Log(out, accelerator.is_main_process)

    plan = BatchPlan(len(mixed), config.batch_size, config.seed, accelerator.num_processes,
                     accelerator.process_index)
    val_plan = BatchPlan(len(val_set), min(config.batch_size, len(val_set)), config.seed)
    remaining = config.max_steps - step
    loader = torch.utils.data.DataLoader(
        StepBatches(mixed, plan, core.collate, step * config.grad_accum,
                    max(0, remaining) * config.grad_accum),
        batch_size=None, shuffle=False, num_workers=config.workers,
        persistent_workers=False, prefetch_factor=2 if config.workers else None)

    def state() -> dict[str, Any]:
        return {"step": step, "counters": counters, "config": config.to_json()}

    def save() -> None:
        accelerator.wait_for_everyone()
        folder = out / "checkpoints"
        final = folder / f"step-{step:07d}"
        tmp = folder / f".step-{step:07d}.tmp"
        if accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(tmp))
        weights = _gathered_weights(accelerator, model)
        accelerator.wait_for_everyone()  # every process's shard of the state is in tmp
        if accelerator.is_main_process:
            _publish(core, tmp, final, state(), weights)
            for old in sorted(folder.glob("step-*"))[:-config.keep_checkpoints]:
                shutil.rmtree(old)
        accelerator.wait_for_everyone()

    def evaluate() -> dict[str, float]:
        model.eval()
        sums: dict[str, float] = {}
        n = 0
        with torch.inference_mode():
            for k in range(max(1, len(val_set) // val_plan.batch_size)):
                batch = core.collate([val_set[int(j)] for j in val_plan.indices(k)])
                with accelerator.autocast():
                    values = model(**{k2: v.to(accelerator.device) for k2, v in batch.items()})
                for name, v in values.items():
                    sums[name] = sums.get(name, 0.0) + float(v)
                n += 1
        model.train()
        return {k: v / n for k, v in sums.items()}

    model.train()
    started = time.perf_counter() - counters["elapsed_s"]
    budget_end = time.perf_counter() + 60 * config.time_budget_min \
        if config.time_budget_min is not None else None
    window: dict[str, float] = {}
    window_n, window_start, window_samples = 0, time.perf_counter(), 0
    micro = 0
    for batch in loader:
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        with accelerator.accumulate(model):
            with accelerator.autocast():
                values = model(**batch)
            accelerator.backward(values["loss"])
            if accelerator.sync_gradients and config.grad_clip:
                accelerator.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        world = accelerator.num_processes
        n_samples = batch["input_ids"].shape[0] * world
        counters["samples"] += n_samples
        counters["tokens"] += core.batch_tokens(batch) * world
        counters["flops"] += core.training_flops(batch) * world
        window_samples += n_samples
        for k, v in values.items():
            window[k] = window.get(k, 0.0) + float(v.detach())
        window_n += 1
        micro += 1
        if micro % config.grad_accum:
            continue
        step += 1
        counters["elapsed_s"] = time.perf_counter() - started
        if step % config.log_every == 0 or step == config.max_steps:
            rate = window_samples / (time.perf_counter() - window_start)
            values_avg = {k: v / window_n for k, v in window.items()}
            values_avg.update(lr=scheduler.get_last_lr()[0], samples_per_s=rate)
            log.write("train", step, counters, values_avg)
            if progress and accelerator.is_main_process:
                print(f"step {step}/{config.max_steps} loss {values_avg['loss']:.4f} "
                      f"{rate:.1f} samples/s", flush=True)
            window, window_n, window_start, window_samples = {}, 0, time.perf_counter(), 0
        if step % config.eval_every == 0 or step == config.max_steps:
            val = evaluate()
            log.write("val", step, counters, val)
            if progress and accelerator.is_main_process:
                print(f"step {step} val loss {val['loss']:.4f}", flush=True)
        out_of_time = budget_end is not None and time.perf_counter() > budget_end
        if step % config.save_every == 0 or step == config.max_steps or out_of_time:
            save()
        if out_of_time:
            if accelerator.is_main_process:
                print(f"time budget reached at step {step}: checkpoint saved; rerun the same "
                      f"command to continue", flush=True)
            log.close()
            return out / "model"
    if step >= config.max_steps:
        # deterministic batches, so a rerun of a finished command publishes the same model
        core.calibrate(core.collate([mixed[int(j)] for j in plan.indices(k)])
                       for k in range(min(CALIBRATION_BATCHES, plan.steps_per_epoch)))
    weights = _gathered_weights(accelerator, model) if step >= config.max_steps else None
    if step >= config.max_steps and accelerator.is_main_process:
        tmp = out / ".model.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        _publish(core, tmp, out / "model", state(), weights)
    log.close()
    accelerator.wait_for_everyone()
    return out / "model"
