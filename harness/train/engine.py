"""The optimisation loop: AdamW/Adam/SGD, a cosine warm-up, plateau or step schedule, AMP, clipping, per-epoch
validation, early stopping, checkpoints.

Reproducibility: the sampler's order is a function of (seed, epoch) (harness.train.sampler, also for one process) and
every RNG a step can touch is saved with each epoch's checkpoint, so a run resumed from the checkpoint of epoch e
follows exactly the same sequence of batches, dropout masks and updates as an uninterrupted run, and on the CPU two
runs with the same seed give identical metrics.

Files written by rank 0 into the run directory: `last.pt` (full training state at the latest epoch end, for
`--resume`), `best.pt` (the model weights of the best validation epoch; of the last epoch when there is no validation,
as in the train+val rows) and `train_log.jsonl` (one JSON object per epoch), all atomically.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from abaw_bench.harness.atomic import write_text
from abaw_bench.harness.errors import AbawError, printable
from abaw_bench.harness.features.loading import LoaderSettings, default_workers, loader_settings
from abaw_bench.harness.metrics.result import MetricResult
from abaw_bench.harness.runtime.distributed import DistContext, barrier, broadcast_object, gather_objects
from abaw_bench.harness.systems import Hyper
from abaw_bench.harness.train import checkpoint
from abaw_bench.harness.train.data import (
    Collate,
    PlainErrors,
    PlainErrorsCollate,
    PlainErrorsLoader,
    move_to,
    non_finite_input,
    pad_sequences,
)
from abaw_bench.harness.train.losses import LOSS_OPTIONS, get_loss, mean_denominator, output_transform
from abaw_bench.harness.train.sampler import epoch_sampler, epoch_samples
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Sampler

CHECKPOINT_FORMAT = 1


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_deterministic(requested: bool | None, device: torch.device) -> bool:
    """`--deterministic` as given, else on for the CPU and off on CUDA.

    On the CPU it costs nothing (cuDNN is not involved and the CPU kernels used here are deterministic), so two CPU
    runs with one seed stay identical by default. On CUDA deterministic cuDNN kernels are markedly slower for the
    convolutions of image fine-tuning, so the default is the fast kernels, whose runs differ in the last bits.
    """
    return requested if requested is not None else device.type != "cuda"


def configure_determinism(deterministic: bool) -> None:
    """cuDNN's deterministic kernels, or its fastest ones.

    Autotuning (`cudnn.benchmark`) stays off either way: variable-length batches (audio, windows at a video's end)
    would make it re-tune at every new shape. This is cuDNN's determinism, not `torch.use_deterministic_algorithms`:
    the few atomics-based CUDA kernels (e.g. index_add) are not covered.
    """
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = deterministic


class TrainableModel(nn.Module):
    """The system's head plus any unfrozen encoders, as one module for the optimiser, DDP and checkpoints.

    Frozen inputs arrive as padded features (on the device); unfrozen ones as the encoder's collated batch, run
    through the encoder here (with grad) and padded into the same `(padded, lengths)` form, so the head never sees the
    difference. A collated encoder batch stays on the host: the encoder's `forward` moves what its model reads to the
    device itself (as in extraction) and reads its lengths and counts on the host, where that costs no device sync.
    """

    def __init__(self, head: nn.Module, encoders: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.head = head
        self._encoders = dict(encoders or {})
        self.encoders = nn.ModuleDict({_module_key(name): enc.model for name, enc in self._encoders.items()})
        self.encoders_frozen = False

    def freeze_encoders(self) -> None:
        """Stop fine-tuning the encoders (a row's `encoder_freeze_epoch`): no gradient and eval mode (no dropout)
        from now on, as the authors' `requires_grad = False` + `.eval()`; the head keeps training."""
        self.encoders.requires_grad_(False)
        self.encoders.eval()
        self.encoders_frozen = True

    def train(self, mode: bool = True) -> TrainableModel:
        super().train(mode)
        if self.encoders_frozen:
            self.encoders.eval()
        return self

    def forward(self, features: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
                prepared: Mapping[str, Any]) -> torch.Tensor:
        inputs = dict(features)
        with torch.no_grad() if self.encoders_frozen else contextlib.nullcontext():
            for name, encoder in self._encoders.items():
                outputs = encoder.forward(prepared[name])
                padded, lengths = pad_sequences(outputs)
                inputs[name] = (padded, lengths.to(padded.device))
        return self.head(inputs)


def _module_key(name: str) -> str:
    return name.replace(".", "_").replace(":", "_")


@dataclass(frozen=True)
class FitSettings:
    """What one fit runs with: the run's resolved engine knobs (`hyper`: the system's Hyper after the variant, demo,
    recipe and CLI overrides) and what the run itself decides."""

    hyper: Hyper
    rank_batch_size: int  # this rank's share of `hyper.batch_size`, the global batch (distributed.per_rank_batch)
    # the lr schedule's length when it differs from `hyper.epochs` (train+val rows; a run resumed with fewer --epochs)
    schedule_epochs: int | None = None
    seed: int = 0
    precision: str = "auto"
    num_workers: int | None = 0  # None: the device's default (`loader_workers`)
    higher_is_better: bool = True
    progress: bool = True


@dataclass
class FitResult:
    best_epoch: int | None  # 1-based; None only when no epoch ran
    best_metric: MetricResult | None  # None without validation
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False
    resumed_from_epoch: int | None = None


# ReduceLROnPlateau's settings for schedule "plateau": torch's defaults (factor 0.1, patience 10 epochs) with a floor
# of 1e-7, as wen2024's expression code configures it.
PLATEAU = {"factor": 0.1, "patience": 10, "min_lr": 1e-7}


def make_optimizer(groups: list[dict[str, Any]], settings: FitSettings) -> torch.optim.Optimizer:
    """The optimiser `settings.hyper.optimizer` names over the parameter groups (each with its own lr)."""
    hyper = settings.hyper
    if hyper.optimizer == "sgd":  # the BAH dataset authors': SGD with (Nesterov) momentum, no dampening
        return torch.optim.SGD(groups, lr=hyper.lr, momentum=hyper.momentum, nesterov=hyper.nesterov,
                               weight_decay=hyper.weight_decay)
    optimizer_class = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}[hyper.optimizer]
    return optimizer_class(groups, lr=hyper.lr, weight_decay=hyper.weight_decay)


def step_decay_factor(epochs_done: int, *, base_lr: float, step_size: int, gamma: float, min_lr: float) -> float:
    """Schedule "step": the factor on `base_lr` after `epochs_done` epochs, so that the lr is
    max(base_lr · gamma^⌊epochs_done / step_size⌋, min_lr), the BAH dataset authors' MyStepLR (stepped once per epoch;
    their floor is absolute, hence per parameter group)."""
    return max(base_lr * gamma ** (epochs_done // step_size), min_lr) / base_lr


def make_scheduler(optimizer: torch.optim.Optimizer, settings: FitSettings, steps_per_epoch: int,
                   schedule_epochs: int) -> Any:
    """The lr schedule `settings.hyper.schedule` names: "cosine" is stepped after every optimiser step, "plateau" once
    per epoch on the validation metric, "step" once after every training epoch."""
    hyper = settings.hyper
    if hyper.schedule == "cosine":
        from transformers import get_cosine_schedule_with_warmup

        return get_cosine_schedule_with_warmup(optimizer, round(hyper.warmup_epochs * steps_per_epoch),
                                               max(1, schedule_epochs * steps_per_epoch))
    if hyper.schedule == "plateau":  # constant lr without validation
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max" if settings.higher_is_better else "min", **PLATEAU)
    factors = [partial(step_decay_factor, base_lr=group["lr"], step_size=hyper.step_size, gamma=hyper.step_gamma,
                       min_lr=hyper.step_min_lr) for group in optimizer.param_groups]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factors)


def resolve_precision(precision: str, device: torch.device) -> str:
    """fp32 on the CPU (no native bf16 there); on CUDA "auto" is bf16 where supported, else fp16 with a GradScaler."""
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise AbawError(f"precision {precision!r}: expected auto, fp32, bf16 or fp16")
    if device.type != "cuda":
        return "fp32"
    if precision == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return precision


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16/fp16 autocast; nothing for fp32 (also on devices that have no autocast, e.g. "meta" in the tests)."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return contextlib.nullcontext() if dtype is None else torch.autocast(device_type=device.type, dtype=dtype)


def batch_bytes(value: Any) -> int:
    """Bytes of the tensors nested in a collated batch (what a DataLoader worker sends through shared memory)."""
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, dict):
        return sum(batch_bytes(inner) for inner in value.values())
    if isinstance(value, (list, tuple)):
        return sum(batch_bytes(inner) for inner in value)
    return 0


def loader_workers(dataset: Dataset, collate: Collate, batch_size: int, context: DistContext,
                   num_workers: int | None) -> LoaderSettings:
    """Workers, prefetch and pinning for a training or inference loader, by extraction's rule (`features.loading`).

    `num_workers` None is the device's default (4–8 per GPU, none on the CPU). With workers, the batches they keep in
    flight are bounded by the free shared memory: a batch of the first `batch_size` items is collated once to
    measure it, and twice its size is assumed, as later batches may hold longer items.
    """
    device = str(context.device)
    workers = default_workers(device, context.local_world_size, cpu_workers=0) if num_workers is None \
        else num_workers
    measured = 0
    if workers > 0 and len(dataset) > 0:
        measured = 2 * batch_bytes(collate([dataset[index] for index in range(min(batch_size, len(dataset)))]))
    settings = loader_settings(device, workers, measured, local_world_size=context.local_world_size)
    if settings.note and context.is_main:
        print(f"[abaw-bench] data loading: {settings.note}", file=sys.stderr)
    return settings


def make_loader(dataset: Dataset, collate: Collate, batch_size: int, *, shuffle: bool, seed: int, context: DistContext,
                num_workers: int | None, epoch_sampling: str = "all") -> tuple[DataLoader, Sampler]:
    """A loader whose order depends only on (seed, epoch); `epoch_sampling` chooses a training epoch's draw
    (harness.train.sampler); inference (`shuffle` False) reads the dataset in order.

    `batch_size` is this rank's share of the global batch. `num_workers` None: see `loader_workers`.
    """
    sampler = epoch_sampler(dataset, epoch_sampling, shuffle=shuffle, seed=seed, rank=context.rank,
                            world_size=context.world_size)
    settings = loader_workers(dataset, collate, batch_size, context, num_workers)
    loader = PlainErrorsLoader(PlainErrors(dataset), batch_size=batch_size, sampler=sampler,
                               collate_fn=PlainErrorsCollate(collate), num_workers=settings.num_workers,
                               prefetch_factor=settings.prefetch_factor, pin_memory=settings.pin_memory,
                               persistent_workers=settings.num_workers > 0)
    return loader, sampler


def wait_for_host_copies(device: torch.device) -> None:
    """Block until the device-to-host copies started so far on `device` are done (nothing to wait for on the CPU)."""
    if device.type == "cuda":
        torch.cuda.current_stream(device).synchronize()


def split_outputs(raw: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A model returns predictions or (predictions, auxiliary losses); see harness/systems.py."""
    if isinstance(raw, tuple):
        predictions, auxiliary = raw
        return predictions, dict(auxiliary)
    return raw, {}


def as_frames(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(outputs [B, T, K], targets [B, T, C] with NaN zeroed, valid [B, T, C]); a clip batch becomes T = 1."""
    if outputs.ndim == 2:
        outputs = outputs[:, None, :]
    if targets.ndim == 2:
        targets = targets[:, None, :]
    if targets.shape[1] != outputs.shape[1]:
        raise AbawError(f"the model returned {outputs.shape[1]} frames per sample for {targets.shape[1]} target "
                        "frames; a frame-level model must return one row per input frame")
    valid = torch.isfinite(targets)
    return outputs, torch.where(valid, targets, torch.zeros_like(targets)), valid


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, context: DistContext, precision: str,
            transform: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
    """Predictions for the loader's dataset, gathered from all ranks: one row per item in dataset order, or, for a
    frame dataset (one with `assemble`), one row per reference row after reassembling windows / centred samples."""
    model.eval()
    indices: list[torch.Tensor] = []
    host_batches: list[torch.Tensor] = []
    for batch in loader:
        with _autocast(context.device, precision):
            raw, _ = split_outputs(model(move_to(batch["features"], context.device), batch["prepared"]))
        # Copied to the host without waiting (into pinned memory from a GPU); one wait after the loop, not one per
        # batch, so the device never idles while the host reads a batch's outputs.
        host_batches.append(transform(raw.float()).to("cpu", non_blocking=True))
        indices.append(batch["index"])
    wait_for_host_copies(context.device)
    outputs = [row for host in host_batches for row in host.numpy()]
    local = (torch.cat(indices).numpy() if indices else np.zeros(0, np.int64), outputs)
    merged_indices, merged_outputs = zip(*gather_objects(context, local), strict=True)
    all_indices = np.concatenate(merged_indices)
    all_outputs = [output for part in merged_outputs for output in part]
    # DistributedSampler pads the last round with repeated items; keep each sample once, in dataset order.
    unique, first = np.unique(all_indices, return_index=True)
    if len(unique) != len(loader.dataset):
        raise RuntimeError(f"gathered {len(unique)} predictions for {len(loader.dataset)} samples")
    ordered = [all_outputs[i] for i in first]
    if hasattr(loader.dataset, "assemble"):
        return loader.dataset.assemble(unique, ordered)
    return np.stack(ordered) if ordered else np.zeros((0, 0), np.float32)


class Trainer:
    """Trains one TrainableModel; `fit` returns the validation history and the best epoch."""

    def __init__(self, model: TrainableModel, settings: FitSettings, context: DistContext, run_dir: Path) -> None:
        self.settings = settings
        self.context = context
        self.run_dir = Path(run_dir)
        self.precision = resolve_precision(settings.precision, context.device)
        if context.device.type == "cuda":
            from abaw_bench.harness.runtime.precision import configure_cuda_fast_paths

            configure_cuda_fast_paths()  # TF32 for what still runs in fp32
        self.model = model.to(context.device)
        self.wrapped: nn.Module = self.model
        if context.active and any(p.requires_grad for p in model.parameters()):  # DDP refuses parameterless models
            # No device_ids: with them DDP would copy every input to the GPU, the encoders' host-side lengths too,
            # and reading those back is a device sync per step. The module is on this rank's GPU all the same.
            self.wrapped = DistributedDataParallel(self.model)
        hyper = settings.hyper
        self.loss_fn = get_loss(hyper.loss, **{name: getattr(hyper, name) for name in LOSS_OPTIONS})
        self.transform = output_transform(settings.hyper.loss)
        groups = [{"params": [p for p in model.head.parameters() if p.requires_grad], "lr": settings.hyper.lr},
                  {"params": [p for p in model.encoders.parameters() if p.requires_grad],
                   "lr": settings.hyper.encoder_lr or settings.hyper.lr}]
        groups = [group for group in groups if group["params"]]
        if not groups and settings.hyper.epochs > 0:
            raise AbawError(f"the model has no trainable parameter but {settings.hyper.epochs} epochs were asked for")
        if groups and settings.hyper.epochs == 0:  # would report the untrained model as the run's result
            raise AbawError("Hyper.epochs 0: expected >= 1 for a model with trainable parameters (0 is for a model "
                            "with nothing to train, e.g. the constant floor)")
        # A model with nothing to train (the constant floor, epochs=0) gets no optimiser: evaluated as built.
        self.optimizer = make_optimizer(groups, settings) if groups else None
        self.scaler = torch.amp.GradScaler(context.device.type, enabled=self.precision == "fp16")

    @property
    def last_path(self) -> Path:
        return self.run_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.run_dir / "best.pt"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "train_log.jsonl"

    def fit(self, train_set: Dataset, collate: Collate, val_set: Dataset | None = None,
            score: Callable[[np.ndarray], MetricResult] | None = None, *, resume: bool = False) -> FitResult:
        """Train for `settings.hyper.epochs` (or until early stopping); validate each epoch when `val_set` is given."""
        s = self.settings
        train_loader, train_sampler = make_loader(train_set, collate, s.rank_batch_size, shuffle=True, seed=s.seed,
                                                  context=self.context, num_workers=s.num_workers,
                                                  epoch_sampling=s.hyper.epoch_sampling)
        val_loader = None
        if val_set is not None:
            val_loader, _ = make_loader(val_set, collate, s.rank_batch_size, shuffle=False, seed=s.seed,
                                        context=self.context, num_workers=s.num_workers)
        result = FitResult(best_epoch=None, best_metric=None)
        if s.hyper.epochs == 0:
            return self._evaluate_as_built(val_loader, score, result)
        steps_per_epoch = len(train_loader)
        epoch_size = {"train_samples": epoch_samples(train_sampler, train_set), "train_steps": steps_per_epoch}
        # A train+val row stops at the reused best epoch but keeps the schedule of the run it reuses (schedule_epochs),
        # as the papers stopped a normal run there: its learning rate at every epoch equals that run's.
        schedule_epochs = s.schedule_epochs or s.hyper.epochs
        per_step = s.hyper.schedule == "cosine"
        scheduler = make_scheduler(self.optimizer, s, steps_per_epoch, schedule_epochs)
        start_epoch, bad_epochs = 1, 0
        if resume and self.last_path.is_file():
            # On the CPU: optimizer.load_state_dict moves the moments to the parameters' device itself, while its
            # step counters must stay on the CPU (on the GPU they cost a host sync per tensor and step); RNG too.
            state = checkpoint.load(self.last_path, map_location="cpu")
            checkpoint.check_resume_precision(state, self.precision, self.last_path)
            try:
                bad_epochs = self._restore(state, scheduler, per_step, result)
            except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as error:
                raise AbawError(f"--resume: {printable(str(self.last_path))} is not a checkpoint of this run "
                                f"({_mismatch(error)}); resume the run directory that wrote it, or start this one "
                                "again with --overwrite") from error
            start_epoch = result.resumed_from_epoch + 1
            if start_epoch - 1 > s.hyper.epochs:
                raise AbawError(f"--resume with {s.hyper.epochs} epochs: {self.last_path} is already after epoch "
                                f"{start_epoch - 1}; give --epochs {start_epoch - 1} or more (a trained epoch cannot "
                                "be taken back), or start another run")
            if self.context.is_main:
                plan = f"; schedule over {schedule_epochs} epochs" if per_step else ""
                print(f"[abaw-bench] resuming after epoch {state['epoch']} from {self.last_path}, training to epoch "
                      f"{s.hyper.epochs}{plan}", file=sys.stderr)
        elif resume and self.context.is_main:
            print(f"[abaw-bench] --resume: no checkpoint at {self.last_path}; starting from epoch 1", file=sys.stderr)

        for epoch in range(start_epoch, s.hyper.epochs + 1):
            if result.stopped_early:
                break
            started = time.perf_counter()
            self._freeze_encoders_at(epoch)
            train_sampler.set_epoch(epoch)
            trained = self._train_epoch(train_loader, scheduler if per_step else None, epoch, result.best_metric)
            entry: dict[str, Any] = {"epoch": epoch, "train_loss": trained["train_loss"],
                                     "lr": [group["lr"] for group in self.optimizer.param_groups], **epoch_size}
            if trained["auxiliary"]:
                entry["auxiliary_losses"] = trained["auxiliary"]
            if trained["empty_batches"]:
                entry["batches_without_valid_target"] = trained["empty_batches"]
            if s.hyper.schedule == "step":  # after the epoch, as the authors' trainer steps it (the entry keeps its lr)
                scheduler.step()
            improved = val_loader is None
            if val_loader is not None and score is not None:
                predictions = predict(self.wrapped, val_loader, self.context, self.precision, self.transform)
                metric = score(predictions) if self.context.is_main else None
                metric = broadcast_object(self.context, metric)
                entry["val"] = metric.to_json()
                if s.hyper.schedule == "plateau":
                    scheduler.step(metric.value)
                improved = result.best_metric is None or _better(metric.value, result.best_metric.value,
                                                                 s.higher_is_better)
                if improved:
                    result.best_metric = metric
            if improved:
                result.best_epoch, bad_epochs = epoch, 0
            else:
                bad_epochs += 1
            entry["best_epoch"] = result.best_epoch
            entry["seconds"] = round(time.perf_counter() - started, 3)
            result.history.append(entry)
            if s.hyper.early_stopping_patience is not None and bad_epochs >= s.hyper.early_stopping_patience:
                result.stopped_early = epoch < s.hyper.epochs
            rng_states = checkpoint.gather_rng_states(self.context)  # a collective: every rank's generators
            if self.context.is_main:
                self._print_epoch(entry)
                self._save(epoch, scheduler, result, bad_epochs, improved, rng_states)
            barrier(self.context)
        return result

    def _freeze_encoders_at(self, epoch: int) -> None:
        """From `encoder_freeze_epoch` on (also when a resumed run starts past it), the encoders stop training.

        Under DDP the model is wrapped anew: the old wrapper's reducer expects a gradient for every parameter that
        required one when it was built, so its hooks are removed first and the new wrapper covers only the head.
        Every rank reaches the same epoch, so the new wrapper's construction (a collective) happens on all of them.
        """
        freeze_at = self.settings.hyper.encoder_freeze_epoch
        if freeze_at is None or epoch < freeze_at or self.model.encoders_frozen or not len(self.model.encoders):
            return
        self.model.freeze_encoders()
        if isinstance(self.wrapped, DistributedDataParallel):
            self.wrapped._remove_autograd_hooks()
            trainable = any(p.requires_grad for p in self.model.parameters())
            self.wrapped = DistributedDataParallel(self.model) if trainable else self.model
        if self.context.is_main and self.settings.progress:
            print(f"[abaw-bench] epoch {epoch}: the fine-tuned encoders are frozen from here on "
                  "(encoder_freeze_epoch)", file=sys.stderr)

    def _evaluate_as_built(self, val_loader: DataLoader | None, score: Callable[[np.ndarray], MetricResult] | None,
                           result: FitResult) -> FitResult:
        """epochs=0: no optimiser step; the model as built is the best (and only) checkpoint, "epoch 0"."""
        entry: dict[str, Any] = {"epoch": 0, "train_loss": None, "lr": []}
        if val_loader is not None and score is not None:
            predictions = predict(self.wrapped, val_loader, self.context, self.precision, self.transform)
            metric = broadcast_object(self.context, score(predictions) if self.context.is_main else None)
            entry["val"] = metric.to_json()
            result.best_metric = metric
        result.best_epoch = 0
        entry["best_epoch"] = 0
        result.history.append(entry)
        if self.context.is_main:
            checkpoint.save(self.best_path, {"format": CHECKPOINT_FORMAT, "model": self.model.state_dict(),
                                             "epoch": 0, "metric": json.dumps(_metric_to_json(result.best_metric))})
            write_text(self.log_path, json.dumps(entry, sort_keys=True) + "\n")
        barrier(self.context)
        return result

    def _train_epoch(self, loader: DataLoader, scheduler: Any | None, epoch: int,
                     best: MetricResult | None) -> dict[str, Any]:
        """One epoch (stepping `scheduler`, a per-step schedule, after every optimiser step); returns the mean loss per
        sample, the auxiliary losses' means and the batches with no valid target. Losses are summed on the device and
        read once at the end: no host synchronisation per step."""
        from abaw_bench.harness.progress import progress

        s = self.settings
        self.wrapped.train()
        device = self.context.device
        total = torch.zeros((), device=device)
        auxiliary_totals: dict[str, torch.Tensor] = {}
        empty_batches = torch.zeros((), device=device, dtype=torch.int64)
        count = 0
        # a terminal gets a bar; a log gets the epoch line below (and one per ~10 s)
        bar = progress(len(loader), f"epoch {epoch}/{s.hyper.epochs}", unit="batch",
                       enabled=s.progress and self.context.is_main, leave=False)
        for batch in bar.wrap(loader):
            targets = batch["targets"].to(device, non_blocking=True)
            with _autocast(device, self.precision):
                raw = self.wrapped(move_to(batch["features"], device), batch["prepared"])
            predictions, auxiliary = split_outputs(raw)
            outputs, targets, valid = as_frames(predictions.float(), targets)
            loss = self.loss_fn(outputs, targets, valid)
            logged = loss.detach()  # this rank's own mean, before the DDP rescaling below
            if self.context.active:
                loss = self._global_mean(loss, valid)
            for name, value in auxiliary.items():
                loss = loss + value.float()
                auxiliary_totals[name] = auxiliary_totals.get(name, torch.zeros((), device=device)) \
                    + value.detach().float() * len(targets)
            empty_batches += (valid.sum() == 0).to(torch.int64)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if s.hyper.grad_clip_value is not None or s.hyper.grad_clip_norm is not None:
                self.scaler.unscale_(self.optimizer)
                parameters = [p for group in self.optimizer.param_groups for p in group["params"]]
                if s.hyper.grad_clip_value is not None:
                    nn.utils.clip_grad_value_(parameters, s.hyper.grad_clip_value)
                if s.hyper.grad_clip_norm is not None:
                    nn.utils.clip_grad_norm_(parameters, s.hyper.grad_clip_norm)
            self.scaler.step(self.optimizer)  # an fp16 overflow makes the scaler skip this step, not raise
            self.scaler.update()
            if scheduler is not None:
                scheduler.step()
            total += logged * len(targets)
            count += len(targets)
            if best is not None:
                bar.set_postfix({f"best val {best.metric}": f"{best.value:.4f}"})
        mean_loss = float(total) / max(count, 1)
        if not math.isfinite(mean_loss) and self.precision != "fp16":
            bad_input = non_finite_input(loader.dataset, "train")
            if bad_input is not None:
                raise AbawError(f"epoch {epoch}: the training loss became {mean_loss} because {bad_input}; the "
                                "features must be finite: fix or re-extract that input (not a divergence: a lower "
                                "--lr would not help)")
            raise AbawError(f"epoch {epoch}: the training loss became {mean_loss} (diverged); try a lower --lr")
        return {"train_loss": mean_loss, "empty_batches": int(empty_batches),
                "auxiliary": {name: float(value) / max(count, 1) for name, value in sorted(auxiliary_totals.items())}}

    def _global_mean(self, loss: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Rescale a rank's mean-type loss so that DDP's gradient average is the mean over every rank's valid elements
        (see harness.train.losses.mean_denominator); the batch-statistic losses are left as they are."""
        import torch.distributed as dist

        local = mean_denominator(self.settings.hyper.loss, valid)
        if local is None:
            return loss
        total = local.detach().clone().to(torch.float64)
        dist.all_reduce(total)
        return loss * (local.to(torch.float64) * self.context.world_size / total.clamp_min(1)).to(loss.dtype)

    def _print_epoch(self, entry: dict[str, Any]) -> None:
        if not self.settings.progress:
            return
        line = f"epoch {entry['epoch']}/{self.settings.hyper.epochs}  loss {entry['train_loss']:.4f}"
        if "val" in entry:
            line += f"  val {entry['val']['metric']} {entry['val']['value']:.4f}"
        line += f"  best epoch {entry['best_epoch']}  ({entry['seconds']:.1f} s)"
        if entry.get("batches_without_valid_target"):
            line += f"  [{entry['batches_without_valid_target']} batches had no valid target]"
        print(line, file=sys.stderr)

    def _save(self, epoch: int, scheduler: Any, result: FitResult, bad_epochs: int, improved: bool,
              rng_states: list[dict[str, Any]]) -> None:
        model_state = self.model.state_dict()
        if improved:
            checkpoint.save(self.best_path, {"format": CHECKPOINT_FORMAT, "model": model_state, "epoch": epoch,
                                             "metric": json.dumps(_metric_to_json(result.best_metric))})
        checkpoint.save(self.last_path, {
            "format": CHECKPOINT_FORMAT,
            "model": model_state,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_states,
            "precision": self.precision,
            "epoch": epoch,
            "best_epoch": result.best_epoch,
            "best_metric": json.dumps(_metric_to_json(result.best_metric)),
            "bad_epochs": bad_epochs,
            "stopped_early": result.stopped_early,
            "history": json.dumps(result.history),
        })
        write_text(self.log_path, "".join(json.dumps(row, sort_keys=True) + "\n" for row in result.history))

    def _restore(self, state: dict[str, Any], scheduler: Any, per_step: bool, result: FitResult) -> int:
        """Put `last.pt`'s `state` into the model, optimizer, scheduler, scaler, this rank's RNG and `result`; returns
        the stored count of epochs without improvement. A checkpoint of another model or a damaged entry raises the
        KeyError, RuntimeError (load_state_dict), TypeError or ValueError the caller turns into a message."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if per_step:  # the stored lr is the stored plan's; a re-planned horizon (--epochs) sets this step's own
            for group, base_lr, factor in zip(self.optimizer.param_groups, scheduler.base_lrs,
                                              scheduler.lr_lambdas, strict=True):
                group["lr"] = base_lr * factor(scheduler.last_epoch)
        self.scaler.load_state_dict(state["scaler"])
        checkpoint.restore_rng_state(state["rng"], self.context, self.last_path)  # this rank's own state
        result.history = json.loads(state["history"])
        result.best_epoch = state["best_epoch"]
        result.best_metric = _metric_from_json(json.loads(state["best_metric"]))
        result.stopped_early = bool(state["stopped_early"])
        result.resumed_from_epoch = int(state["epoch"])
        return int(state["bad_epochs"])

    def load_best(self) -> None:
        """Load best.pt's weights (all ranks; rank 0 wrote it before the last barrier)."""
        state = checkpoint.load(self.best_path, map_location=self.context.device)
        try:  # a resumed run's best.pt may be one it did not write
            self.model.load_state_dict(state["model"])
        except (KeyError, TypeError, RuntimeError) as error:
            raise AbawError(f"{printable(str(self.best_path))} is not a checkpoint of this run ({_mismatch(error)}); "
                            "start the run again with --overwrite") from error

    def store_calibration(self, calibration: dict[str, Any]) -> None:
        """Keep what was fitted on validation after training (the decision threshold) inside best.pt."""
        if self.context.is_main:
            state = checkpoint.load(self.best_path, map_location="cpu")
            checkpoint.save(self.best_path, {**state, "calibration": json.dumps(calibration)})
        barrier(self.context)

    def predict(self, dataset: Dataset, collate: Collate) -> np.ndarray:
        loader, _ = make_loader(dataset, collate, self.settings.rank_batch_size, shuffle=False, seed=self.settings.seed,
                                context=self.context, num_workers=self.settings.num_workers)
        return predict(self.wrapped, loader, self.context, self.precision, self.transform)


def _better(value: float, best: float, higher_is_better: bool) -> bool:
    if math.isnan(value):
        return False
    if math.isnan(best):
        return True
    return value > best if higher_is_better else value < best


def _metric_to_json(metric: MetricResult | None) -> dict[str, Any] | None:
    return None if metric is None else metric.to_json()


def _mismatch(error: Exception) -> str:
    """What a foreign or damaged checkpoint lacks or gets wrong, bounded (load_state_dict lists every key)."""
    if isinstance(error, KeyError):
        return f"it has no entry {str(error)[:80]}"
    return f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"


def _metric_from_json(data: dict[str, Any] | None) -> MetricResult | None:
    return None if data is None else MetricResult(**data)
