"""A run's three datasets (train, val, test) in the shape the system's sampling declares.

"clip" sampling keeps one sample per item (`ItemDataset`, labels re-indexed by item id). "windows" and "centred"
put each video on its label-frame grid and sample windows or centre frames over it (`harness.train.windows`); their
datasets reassemble predictions into the split's reference rows, in the reference order the submission needs.

Under --skip-bad an item whose media gave no features (`InputBuilder.skipped`) is left out of its split: a clip
row, or every reference row of a video, is dropped with its label, so training and validation scoring both go on
without it, and the split's notes name how many and which. The test split's dropped rows are the pipeline's to fill
(harness/train/pipeline.py: the submission must cover every test row).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import compress
from typing import Any

import numpy as np
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.systems import Hyper
from abaw_bench.harness.tasks.base import Item, Table, Task
from abaw_bench.harness.train.data import ItemDataset, shuffled_targets
from abaw_bench.harness.train.inputs import InputBuilder
from abaw_bench.harness.train.windows import (
    FrameDataset,
    GridSplit,
    InputAlignment,
    build_grids,
    centred_frames,
    window_starts,
)


@dataclass
class SplitData:
    """One split as the engine consumes it, plus the labels its predictions are scored against."""

    dataset: Any  # ItemDataset | FrameDataset
    row_ids: list[str]  # the rows predictions come back as (items for clip tasks, reference rows for frame tasks)
    labels: Table | None  # aligned with row_ids; None for an unlabelled split
    groups: list[str] | None = None  # the video of each row (frame tasks)
    notes: list[str] = field(default_factory=list)  # what the run's log should say about this split
    skipped: dict[str, str] = field(default_factory=dict)  # item id → why it has no features (left out: --skip-bad)


SHOWN_SKIPPED = 10  # item ids a note names before "and N more" (results.json keeps more: harness.train.pipeline)


def skipped_note(name: str, skipped: dict[str, str], total: int, unit: str) -> str:
    """What the log says about the items of split `name` left out for lack of features (a bounded list of ids)."""
    shown = ", ".join(item_id[:120] for item_id in list(skipped)[:SHOWN_SKIPPED])
    more = f" and {len(skipped) - SHOWN_SKIPPED} more" if len(skipped) > SHOWN_SKIPPED else ""
    first_id, first_reason = next(iter(skipped.items()))
    return (f"{name}: {len(skipped)} of {total} {unit} have no features, their media are unreadable, so the model "
            f"does not see them (--skip-bad): {shown}{more} (first: {first_id[:120]}: {first_reason[:300]})")


def _kept(builder: InputBuilder, splits: tuple[str, ...], items: list[Item],
          unit: str) -> tuple[list[Item], dict[str, str], list[str]]:
    """(the items that have features, the skipped ones → reason, the note) — after the split's sources are built."""
    known = builder.skipped_in(splits)
    skipped = {item.id: known[item.id] for item in items if item.id in known}
    if not skipped:
        return items, {}, []
    name = "+".join(splits)
    if len(skipped) == len(items):
        raise AbawError(f"{name}: all {len(items)} {unit} were skipped as unreadable (--skip-bad; first: "
                        f"{next(iter(skipped.values()))[:300]}): nothing is left to run on")
    kept = [item for item in items if item.id not in skipped]
    return kept, skipped, [skipped_note(name, skipped, len(items), unit)]


def clip_split(builder: InputBuilder, reader: Any, task: Task, splits: tuple[str, ...], items: list[Item], *,
               labelled: bool, shuffle_seed: int | None, merged_sources: Callable[[], tuple] | None = None,
               max_rows: dict[str, int | None]) -> tuple[SplitData, dict[str, int]]:
    """An ItemDataset over `items` (of `splits`) that have features; labels re-indexed by item id."""
    if merged_sources is not None:
        features, prepared, dims = merged_sources()
    else:
        features, prepared, dims = builder.sources(splits[0], items)
    items, skipped, notes = _kept(builder, splits, items, "items")
    ids = [item.id for item in items]
    labels = None
    targets = None
    if labelled:
        values = np.concatenate([reader.labels(split).reindex([i.id for i in items if i.split == split]).values
                                 for split in splits])
        labels = Table(ids, values.astype(np.float64), task.columns)
        targets = values.astype(np.float32)
        if shuffle_seed is not None:
            targets = shuffled_targets(targets, shuffle_seed)
    return SplitData(ItemDataset(ids, features, prepared, targets, max_rows), ids, labels, notes=notes,
                     skipped=skipped), dims


def frame_split(builder: InputBuilder, reader: Any, task: Task, hyper: Hyper, splits: tuple[str, ...],
                items: list[Item], *, labelled: bool, training: bool, shuffle_seed: int | None,
                sources: tuple[dict, dict, dict]) -> SplitData:
    """A FrameDataset over the videos `items` of `splits` that have features (their sources are built): grids from
    the reference rows, samples per the sampling."""
    given = items
    items, skipped, skip_notes = _kept(builder, splits, items, "videos")
    row_ids: list[str] = []
    label_blocks = []
    for split in splits:
        if labelled:
            table = reader.labels(split)
            kept = _rows_kept(task, table.ids, skipped)
            row_ids += compress(table.ids, kept)
            label_blocks.append(np.asarray(table.values, dtype=np.float64)[kept])
        else:
            rows = reader.reference_rows(split)
            row_ids += compress(rows, _rows_kept(task, rows, skipped))
    values = np.concatenate(label_blocks) if label_blocks else None
    labels = Table(row_ids, values, task.columns) if values is not None else None
    train_values = values
    if values is not None and shuffle_seed is not None:
        train_values = shuffled_targets(values, shuffle_seed)
    features, prepared_sources, _ = sources
    image_inputs = [name for name in builder.variant.inputs if builder.modality(name) == "image"]
    face_positions = None
    if image_inputs:
        face_positions = {item.id: [number - task.frame_base for number in reader.frames_on_disk(item.id)]
                          for item in items}
    grid_split = build_grids(task, [item.id for item in items], row_ids, train_values, face_positions)
    alignment = {name: _alignment(builder, hyper, name) for name in builder.variant.inputs}
    frame_rates, timing_notes = video_timings(task, items, grid_split, "+".join(splits)) \
        if hyper.sampling == "centred" else ({}, [])
    prepared = {name: builder.frame_loader(name, items, frame_rates) for name in prepared_sources}
    for name in builder.variant.inputs:
        if alignment[name].kind == "window" and name in builder.encoders:  # fine-tuned: token ids per sample
            prepared[name] = builder.token_windows(name, items, grid_split, hyper, frame_rates)
        elif alignment[name].kind == "window":  # frozen: the cached vector per sample
            features = {**features, name: builder.window_source(name, items, grid_split, hyper, frame_rates)}
    if builder.skipped_in(splits).keys() & {item.id for item in items}:
        # A window build found videos without asr words (--skip-bad): the split again, without them (its windows and
        # transcripts now come from the caches).
        return frame_split(builder, reader, task, hyper, splits, given, labelled=labelled, training=training,
                           shuffle_seed=shuffle_seed, sources=sources)
    samples = _samples(grid_split, hyper, training=training)
    if not samples:
        raise AbawError(f"the {'+'.join(splits)} split yields no {hyper.sampling} samples (no labelled frames?)")
    dataset = FrameDataset(grid_split, hyper.sampling, samples, features, alignment,
                           window=hyper.window or 1, frame_rates=frame_rates, prepared=prepared)
    groups = [task.parse_frame_id(row_id)[0] for row_id in row_ids]
    return SplitData(dataset, row_ids, labels, groups,
                     skip_notes + _notes(grid_split, "+".join(splits), len(samples)) + timing_notes, skipped)


def _rows_kept(task: Task, row_ids: list[str], skipped: dict[str, str]) -> np.ndarray:
    """Which reference rows belong to a video that is not skipped (every row when none is)."""
    if not skipped:
        return np.ones(len(row_ids), dtype=bool)
    return np.array([task.parse_frame_id(row_id)[0] not in skipped for row_id in row_ids], dtype=bool)


def video_timings(task: Task, items: list[Item], split: GridSplit, name: str) -> tuple[dict[str, float], list[str]]:
    """Each video's frames per second, read from its container (header only, `harness.media.video_timing`), for
    placing centred windows at frame / fps; the task's `fps` for an item without a video file (an error when the task
    states none). Notes name the videos whose label frames number more than one off the container's frame count, and
    the assumed rates."""
    from abaw_bench.harness.media import video_timing

    fallback = task.fps
    label_frames = {grid.item_id: grid.n_frames for grid in split.grids}
    rates: dict[str, float] = {}
    notes: list[str] = []
    assumed = []
    for item in items:
        path = item.media.get("video")
        if path is None:
            if fallback is None:
                raise AbawError(f"{name}: video {item.id[:120]} has no video file to read its frame rate from, and "
                                f"task {task.name!r} states no frame rate to assume (Task.fps)")
            rates[item.id] = fallback
            assumed.append(item.id)
            continue
        timing = video_timing(path)
        rates[item.id] = timing.fps
        count = label_frames.get(item.id)
        if count is not None and abs(timing.frames - count) > 1:
            notes.append(f"{name}: video {item.id[:120]}: {count} label frames, but {path} has {timing.frames} frames "
                         f"at {timing.fps:g} fps (from its {timing.counted_from}); windows are placed at frame / fps, "
                         "so its labels and media may disagree in time")
    if assumed:
        notes.append(f"{name}: {len(assumed)} video(s) have no video file to read a frame rate from (first: "
                     f"{assumed[0][:120]}); their windows assume {fallback:g} fps")
    return rates, notes


def _alignment(builder: InputBuilder, hyper: Hyper, name: str) -> InputAlignment:
    modality = builder.modality(name)
    span = hyper.centred_seconds.get(name)
    rows = hyper.centred_rows.get(name)
    if builder.frame_alignment(name) == "spread":
        if hyper.sampling != "windows":
            raise AbawError(f"input {name!r} ({builder.encoder_name(name)}) has rows without timing: they are spread "
                            f"over each video's frames under 'windows' sampling only, not {hyper.sampling!r}")
        return InputAlignment("spread")
    if hyper.sampling == "centred" and span is None:
        raise AbawError(f"centred sampling needs Hyper.centred_seconds[{name!r}] (the window's span in seconds)")
    if modality == "text":
        if hyper.sampling != "centred":
            raise AbawError(f"input {name!r} is text: frame-level text is served as centred word windows only")
        return InputAlignment("window", span, rows)
    if modality not in ("image", "audio"):
        raise AbawError(f"input {name!r} ({modality}) cannot be aligned to a label-frame grid")
    return InputAlignment(modality, span, rows)


def _samples(split: GridSplit, hyper: Hyper, *, training: bool) -> list[tuple[int, int]]:
    samples = []
    for index, grid in enumerate(split.grids):
        if hyper.sampling == "windows":
            stride = (hyper.stride or hyper.window) if training else (hyper.inference_stride or hyper.window)
            for start in window_starts(grid.n_frames, hyper.window, stride):
                if training and not np.isfinite(grid.targets[start:start + hyper.window]).any():
                    continue  # a training window without any usable label teaches nothing
                samples.append((index, start))
        else:
            samples += [(index, frame) for frame in centred_frames(grid, hyper.frame_step, labelled_only=training)]
    return samples


def _notes(split: GridSplit, name: str, n_samples: int) -> list[str]:
    frames = sum(grid.n_frames for grid in split.grids)
    notes = [f"{name}: {len(split.grids)} videos, {frames} grid frames, {n_samples} samples"]
    missing = sum(int((~grid.has_face).sum()) for grid in split.grids if grid.has_face is not None)
    if missing:
        notes.append(f"{name}: {missing} frame(s) have no face crop: they read the nearest crop's features and are "
                     "left out of the loss")
    return notes

