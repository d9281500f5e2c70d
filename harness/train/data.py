"""Datasets over a task's items and the collate that builds the model contract's inputs.

Each system input is served by a *source* keyed by item id:
- frozen encoder inputs and the organisers' "provided:*" pickles: a feature source (`get(item_id) -> [T, D]` array,
  `dim`), e.g. a memory-mapped `harness.features.FeatureStore`; rows are read per item, never the whole split;
- unfrozen encoder inputs: a `PreparedSource` that decodes the item's media and runs `encoder.prepare` inside the
  dataset (so DataLoader workers do it), while `encoder.collate`/`forward` run in the training step.

A batch is a dict: "index" (positions in the dataset, for gathering predictions across ranks), "features"
({name: (padded [B, T, D] float32, lengths [B] int64)}), "prepared" ({name: encoder.collate(...) output}) and
"targets" ([B, C] float32 for clip samples, [B, T, C] NaN-padded for frame samples; absent for unlabelled splits).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from abaw_bench.harness.errors import AbawError
from torch.utils.data import DataLoader, Dataset


class FeatureSource(Protocol):
    dim: int

    def get(self, item_id: str) -> np.ndarray: ...


@dataclass
class PreparedSource:
    """Decoded media → `encoder.prepare` output, per item (the unfrozen path)."""

    load_media: Callable[[str], Any]  # item id -> decoded media in the form the encoder's `prepare` expects
    prepare: Callable[[Any], Any]

    def get(self, item_id: str) -> Any:
        return self.prepare(self.load_media(item_id))


@dataclass
class ItemDataset(Dataset):
    """One split's items; `targets` rows align with `ids` (None for an unlabelled split such as test)."""

    ids: Sequence[str]
    features: Mapping[str, FeatureSource]
    prepared: Mapping[str, PreparedSource] = field(default_factory=dict)
    targets: np.ndarray | None = None
    max_rows: Mapping[str, int | None] = field(default_factory=dict)  # per feature input: keep the first N rows

    def __post_init__(self) -> None:
        if self.targets is not None and len(self.targets) != len(self.ids):
            raise ValueError(f"{len(self.targets)} target rows for {len(self.ids)} items")

    def __len__(self) -> int:
        return len(self.ids)

    def item_id(self, index: int) -> str:
        return self.ids[index]

    def __getitem__(self, index: int) -> dict[str, Any]:
        item_id = self.ids[index]
        features = {}
        for name, source in self.features.items():
            rows = source.get(item_id)
            limit = self.max_rows.get(name)
            if limit is not None:
                rows = rows[:limit]
            features[name] = np.asarray(rows, dtype=np.float32)  # a view of the memory map; collate copies it
        sample: dict[str, Any] = {"index": index, "features": features}
        if self.prepared:
            sample["prepared"] = {name: source.get(item_id) for name, source in self.prepared.items()}
        if self.targets is not None:
            sample["target"] = self.targets[index]
        return sample


def non_finite_input(dataset: ItemDataset | Any, split: str) -> str | None:
    """Which input of which item first holds NaN or inf in `dataset` (an ItemDataset or a windows FrameDataset), or
    None when every input value is finite. It reads every sample once: the engine calls it only after the training
    loss stopped being finite, to tell a bad input (a feature pickle or cache entry holding NaN) from a divergence."""
    for index in range(len(dataset)):
        sample = dataset[index]
        if isinstance(sample, _Failure):
            raise sample.error
        for name, values in {**sample["features"], **sample.get("prepared", {})}.items():
            if isinstance(values, torch.Tensor):
                values = values.detach().cpu().numpy()
            if isinstance(values, np.ndarray) and values.dtype.kind == "f" and not np.isfinite(values).all():
                row = int(np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))[0]) \
                    if values.ndim > 1 else 0
                return (f"input {name!r} of item {dataset.item_id(index)!r} ({split} split) holds NaN or inf "
                        f"(row {row} of its sample {index})")
    return None


def pad_sequences(arrays: Sequence[np.ndarray | torch.Tensor],
                  dim: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad [T_i, D] sequences to [B, max T, D] float32 with lengths [B].

    An empty sequence becomes one zero row of length 1: packed LSTMs reject length 0, and a zero row carries no signal.
    Each sequence is copied once, straight into the batch (a NumPy array, read-only memory map views included, with a
    NumPy copy; a tensor on its own device), and only the padding is zeroed: filling the whole batch with zeros first
    and copying a converted intermediate doubled the memory traffic of a windowed batch (benchmarks/bench_windows.py).
    A host batch is allocated by NumPy, which asks Linux for huge pages for large buffers: a 49 MB batch in 4 KiB
    pages spent more time in page faults than in the copy.
    """
    width = dim if dim is not None else next((a.shape[-1] for a in arrays if a.ndim == 2), 0)
    sequences = [a.reshape(-1, width) for a in arrays]
    counts = [sequence.shape[0] for sequence in sequences]
    lengths = torch.tensor([max(count, 1) for count in counts], dtype=torch.int64)
    first = sequences[0]
    device = first.device if isinstance(first, torch.Tensor) else torch.device("cpu")
    shape = (len(sequences), max(max(counts), 1), width)
    host = np.empty(shape, dtype=np.float32) if device.type == "cpu" else None
    padded = torch.from_numpy(host) if host is not None else torch.empty(shape, dtype=torch.float32, device=device)
    for row, (sequence, count) in enumerate(zip(sequences, counts, strict=True)):
        if isinstance(sequence, torch.Tensor):
            padded[row, :count] = sequence
        elif host is not None:
            host[row, :count] = sequence
        else:
            padded[row, :count] = torch.from_numpy(np.ascontiguousarray(sequence))
        if count < padded.shape[1]:
            padded[row, count:] = 0.0
    return padded, lengths


@dataclass(frozen=True)
class Collate:
    """Pads feature inputs and hands prepared media to each unfrozen encoder's `collate` (picklable for workers)."""

    feature_dims: Mapping[str, int]
    encoder_collates: Mapping[str, Callable[[list[Any]], dict[str, Any]]] = field(default_factory=dict)

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        batch: dict[str, Any] = {
            "index": torch.tensor([s["index"] for s in samples], dtype=torch.int64),
            "features": {
                name: pad_sequences([s["features"][name] for s in samples], dim)
                for name, dim in self.feature_dims.items()
            },
            "prepared": {
                name: collate([s["prepared"][name] for s in samples]) for name, collate in self.encoder_collates.items()
            },
        }
        if "target" in samples[0]:
            batch["targets"] = collate_targets([s["target"] for s in samples])
        return batch


def collate_targets(targets: Sequence[np.ndarray]) -> torch.Tensor:
    """Clip targets [C] stack to [B, C]; frame targets [T_i, C] pad to [B, max T, C] with NaN, which the losses read
    as "no valid target" (so padding never becomes a valid frame, unlike a zero pad)."""
    if np.ndim(targets[0]) == 1:
        return torch.from_numpy(np.stack(targets).astype(np.float32))
    length = max(len(target) for target in targets)
    padded = np.full((len(targets), length, np.shape(targets[0])[1]), np.nan, dtype=np.float32)
    for row, target in enumerate(targets):
        padded[row, : len(target)] = target
    return torch.from_numpy(padded)


def shuffled_targets(targets: np.ndarray, seed: int) -> np.ndarray:
    """Label rows permuted across items with a fixed seed: the control that a real signal must beat."""
    return targets[np.random.default_rng(seed).permutation(len(targets))]


def move_to(value: Any, device: torch.device) -> Any:
    """Move tensors nested in dicts/lists/tuples to `device` (encoder batches are arbitrary nests)."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, dict):
        return {key: move_to(inner, device) for key, inner in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(move_to(inner, device) for inner in value)
    return value


@dataclass(frozen=True)
class _Failure:
    """An AbawError a dataset raised, carried as the sample (and the batch) to the main process."""

    error: AbawError


@dataclass(frozen=True)
class PlainErrors(Dataset):
    """`dataset` for a DataLoader whose workers' errors reach the user as they were raised.

    Torch re-creates an exception raised in a worker as the same type whose message is "Caught MediaError in
    DataLoader worker process 0. Original Traceback (most recent call last): ..." - a traceback inside the message.
    Here an AbawError (a MediaError naming an unreadable face folder, say) is returned as the sample instead,
    `PlainErrorsCollate` passes it on as the batch, and `PlainErrorsLoader` raises it unchanged in the main process.
    Anything else stays a programming error and keeps torch's traceback."""

    dataset: Dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset[index]
        except AbawError as error:
            return _Failure(error)

    def __getattr__(self, name: str) -> Any:  # the sampler and the engine read the wrapped dataset's attributes
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)


@dataclass(frozen=True)
class PlainErrorsCollate:
    collate: Callable[[list[Any]], Any]

    def __call__(self, samples: list[Any]) -> Any:
        return next((sample for sample in samples if isinstance(sample, _Failure)), None) or self.collate(samples)


class PlainErrorsLoader(DataLoader):
    """A DataLoader over `PlainErrors(dataset)` with a `PlainErrorsCollate`: a failed batch raises its error."""

    def __iter__(self) -> Any:
        for batch in super().__iter__():
            if isinstance(batch, _Failure):
                raise batch.error
            yield batch
