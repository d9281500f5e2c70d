"""Frame-level samples: each video's label-frame grid, windows or centred samples over it, and reassembly.

A frame task (BAH, Aff-Wild2) labels every frame of a video. The engine puts each video on its *grid*: positions
0..N−1, one per label frame (row ids parsed by the task's `parse_frame_id`), targets [N, C] float32 with NaN where a
frame has no usable label (the task's invalid marker, an unlabelled position, or no face crop when the variant reads
face features). A system's `Hyper.sampling` turns grids into samples:

- "windows": windows of L frames starting every `stride` frames (training) or `inference_stride` frames (inference).
  Starts are 0, S, 2S, ... up to N − L, plus one more start when the last window ends before N, so the tail is kept
  (a window that runs past the video's end is padded and masked), and a video shorter than L is one padded window.
- "centred": one sample per grid frame t (every `frame_step`-th frame), each input's window centred on t.

Each modality keeps its native rate in the feature cache; alignment to the grid happens here, per window, reading
only the rows the window needs from the memory-mapped array (no per-sample copy on disk, memory flat in the number of
windows):
- image features (one row per face crop on disk): grid frame → the row of its face crop; a frame without a crop
  takes the nearest crop's row and is masked in the loss (counted in the run's log);
- audio features (wav2vec2 / WavLM, one row per 20 ms): "windows" interpolates them linearly onto the grid over the
  whole video (centre-aligned, `torch.nn.functional.interpolate(mode="linear", align_corners=False)`'s formula);
  "centred" reads the span of `AUDIO_FEATURE_RATE` rows per second around the frame's time;
- rows without timing (an encoder whose `frame_alignment` is "spread": BERT wordpieces of a whole transcript) are
  spread over the video's N grid frames under "windows", as the BAH dataset authors align them
  (`align_word_embedding_new`): the frames are cut into as many contiguous blocks as there are rows, the first
  N mod T blocks one frame longer than the others (`more_itertools.divide`'s rule), block j taking row j; rows
  beyond the N-th are dropped (`spread_rows`);
- a text input under "centred" is served by a source with `window(item_id, frame) -> [1, D]`
  (harness/features/text_windows.py), which encodes the words around the frame; a fine-tuned one by the token ids of
  those words (a prepared input, encoded in the training step);
- a fine-tuned audio input under "centred" reads the span of waveform samples around the frame's time from its
  video's decoded track (`WaveformWindows`), and the encoder runs on it in the training step.

Reassembly (`FrameDataset.assemble`) averages overlapping windows per frame, gives a centred sample's decision to
the frames between samples (the nearest sampled frame, ties to the earlier), and returns one row per reference row in
the reference order, so every labelled frame is predicted exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Protocol

import numpy as np
from abaw_bench.harness.encoders._audio import MIN_SAMPLES
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.train.data import FeatureSource
from torch.utils.data import Dataset

AUDIO_FEATURE_RATE = 50.0  # rows per second of the wav2vec2-family encoders (one per 20 ms)


class WindowSource(Protocol):
    """A centred input computed per sample (the text around a frame): [rows, D] for grid frame `frame`."""

    dim: int

    def window(self, item_id: str, frame: int) -> np.ndarray: ...


@dataclass(frozen=True)
class FrameGrid:
    """One video on its label-frame grid."""

    item_id: str
    n_frames: int
    targets: np.ndarray | None  # [N, C] float32, NaN = no usable label; None for an unlabelled split
    face_rows: np.ndarray | None = None  # [N] int64: the face-crop row each grid frame reads (nearest crop)
    has_face: np.ndarray | None = None  # [N] bool: a face crop exists for the frame


@dataclass(frozen=True)
class GridSplit:
    """A split's grids plus where each reference row sits on them (for reassembly in reference order)."""

    grids: list[FrameGrid]
    row_ids: list[str]
    row_grid: np.ndarray  # [R] int64: grid index of each reference row
    row_position: np.ndarray  # [R] int64: position on that grid

    @property
    def labelled_frames(self) -> int:
        return sum(int(np.isfinite(grid.targets).any(axis=1).sum()) for grid in self.grids if grid.targets is not None)


def build_grids(task: Any, item_ids: Sequence[str], row_ids: Sequence[str], labels: np.ndarray | None,
                face_positions: Mapping[str, Sequence[int]] | None = None) -> GridSplit:
    """Grids for `item_ids` from the split's reference rows (and their labels, [R, C], when the split has them).

    `face_positions` (item id → grid positions that have a face crop, sorted) enables image alignment: every grid
    frame gets the row of the nearest crop, and frames without one lose their label (NaN) so the loss skips them.
    """
    index_of = {item_id: i for i, item_id in enumerate(item_ids)}
    row_grid = np.empty(len(row_ids), dtype=np.int64)
    row_position = np.empty(len(row_ids), dtype=np.int64)
    for r, row_id in enumerate(row_ids):
        try:
            video, position = task.parse_frame_id(row_id)
        except ValueError as error:
            raise AbawError(f"reference row {r + 1}: {error}") from error
        if video not in index_of:
            raise AbawError(f"reference row {r + 1} ({row_id[:120]!r}) belongs to video {video[:120]!r}, which is not "
                            "an item of the split")
        row_grid[r], row_position[r] = index_of[video], position
    grids = []
    for i, item_id in enumerate(item_ids):
        mine = row_grid == i
        positions = row_position[mine]
        faces = None if face_positions is None else np.asarray(face_positions.get(item_id, ()), dtype=np.int64)
        n_frames = max(int(positions.max()) + 1 if positions.size else 0, int(faces.max()) + 1 if faces is not None
                       and faces.size else 0)
        targets = None
        if labels is not None:
            targets = np.full((n_frames, labels.shape[1]), np.nan, dtype=np.float32)
            values = labels[mine].astype(np.float32)
            if task.invalid_label is not None:
                values[values == task.invalid_label] = np.nan
            targets[positions] = values
        face_rows = has_face = None
        if faces is not None:
            if faces.size == 0:
                raise AbawError(f"video {item_id[:120]!r} has no face crops, but the variant reads face features")
            face_rows, has_face = _nearest_rows(faces, n_frames)
            if targets is not None:
                targets[~has_face] = np.nan
        grids.append(FrameGrid(item_id, n_frames, targets, face_rows, has_face))
    return GridSplit(grids, list(row_ids), row_grid, row_position)


def _nearest_rows(positions: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """For each grid frame: the index (into `positions`) of the nearest face crop (ties to the earlier), and whether
    the frame has its own crop."""
    frames = np.arange(n_frames)
    after = np.clip(np.searchsorted(positions, frames), 0, len(positions) - 1)
    before = np.clip(after - 1, 0, len(positions) - 1)
    take_before = np.abs(frames - positions[before]) <= np.abs(positions[after] - frames)
    rows = np.where(take_before, before, after)
    return rows.astype(np.int64), positions[rows] == frames


def window_starts(n_frames: int, length: int, stride: int) -> list[int]:
    """Window starts covering every frame of a video of `n_frames` (see the module docstring)."""
    if n_frames <= length:
        return [0]
    starts = list(range(0, n_frames - length + 1, stride))
    if starts[-1] + length < n_frames:
        starts.append(starts[-1] + stride)
    return starts


def centred_frames(grid: FrameGrid, step: int, *, labelled_only: bool) -> list[int]:
    """The frames a centred sampler visits: every `step`-th frame (training: only those with a label)."""
    frames = np.arange(0, grid.n_frames, step)
    if labelled_only and grid.targets is not None:
        frames = frames[np.isfinite(grid.targets[frames]).any(axis=1)]
    return frames.tolist()


def spread_rows(n_rows: int, n_frames: int, frames: np.ndarray) -> np.ndarray:
    """The row each of grid `frames` takes when `n_rows` untimed rows are spread over an `n_frames` grid (module
    docstring): with n = min(n_rows, n_frames) blocks, the first n_frames mod n of them ⌈n_frames / n⌉ frames long, the
    rest ⌊n_frames / n⌋."""
    if n_rows < 1 or n_frames < 1:
        raise AbawError(f"cannot spread {n_rows} feature rows over {n_frames} frames (both must be at least 1)")
    blocks = min(n_rows, n_frames)
    size, longer = divmod(n_frames, blocks)
    boundary = longer * (size + 1)  # the frames of the longer blocks
    frames = np.asarray(frames, dtype=np.int64)
    return np.where(frames < boundary, frames // (size + 1), longer + (frames - boundary) // size)


ALIGNMENTS = ("image", "audio", "window", "spread")


@dataclass(frozen=True)
class InputAlignment:
    """How one input's native rows map onto the grid, one of ALIGNMENTS: "image" (face-crop rows), "audio"
    (AUDIO_FEATURE_RATE rows per second), "window" (a WindowSource computes the sample's rows) or "spread" (untimed
    rows cut the video's frames into near-equal blocks, `spread_rows`)."""

    kind: str
    span_seconds: float | None = None  # centred: window length
    rows: int | None = None  # centred: resample the span to this many equidistant rows

    def __post_init__(self) -> None:
        if self.kind not in ALIGNMENTS:
            raise ValueError(f"InputAlignment.kind {self.kind!r}: expected one of {', '.join(ALIGNMENTS)}")


@dataclass
class FrameDataset(Dataset):
    """Windows or centred samples over a split's grids; `assemble` turns per-sample outputs into reference rows.

    Samples are (grid index, start) pairs: a window's first frame, or a centred sample's frame. `prepared` serves
    unfrozen encoders: `load(item_id, rows)` returns the encoder's prepared input, `rows` being the face-crop rows of
    the sample's grid frames for an image input and the sample's grid frames otherwise (a fine-tuned text encoder's
    token window, or a fine-tuned audio encoder's waveform window, around the centre frame).
    """

    split: GridSplit
    sampling: str  # "windows" | "centred"
    samples: list[tuple[int, int]]
    features: Mapping[str, FeatureSource | WindowSource]  # a WindowSource for alignment kind "window"
    alignment: Mapping[str, InputAlignment]
    window: int = 1  # "windows": L
    # "centred": item id -> grid frames per second, for every item (datasets.video_timings; a video without a file
    # gets its task's `fps`)
    frame_rates: Mapping[str, float] = field(default_factory=dict)
    prepared: Mapping[str, Callable[[str, np.ndarray], Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.samples)

    def sample_frames(self, index: int) -> tuple[FrameGrid, np.ndarray]:
        """The grid and the grid frames a sample covers (a window's in-video frames; a centred sample's frame)."""
        grid_index, start = self.samples[index]
        grid = self.split.grids[grid_index]
        if self.sampling == "windows":
            return grid, np.arange(start, min(start + self.window, grid.n_frames))
        return grid, np.array([start])

    def item_id(self, index: int) -> str:
        return self.split.grids[self.samples[index][0]].item_id

    def __getitem__(self, index: int) -> dict[str, Any]:
        grid, frames = self.sample_frames(index)
        features = {name: self._rows(name, grid, frames) for name in self.features}
        sample: dict[str, Any] = {"index": index, "features": features}
        if self.prepared:
            sample["prepared"] = {name: load(grid.item_id, self._image_rows(grid, frames)
                                             if self.alignment[name].kind == "image" else frames)
                                  for name, load in self.prepared.items()}
        if grid.targets is not None:
            sample["target"] = grid.targets[frames]
        return sample

    # -- alignment ------------------------------------------------------------------------------------------------
    def _rows(self, name: str, grid: FrameGrid, frames: np.ndarray) -> np.ndarray:
        alignment, source = self.alignment[name], self.features[name]
        if alignment.kind == "window":
            return np.asarray(source.window(grid.item_id, int(frames[0])), dtype=np.float32)
        array = source.get(grid.item_id)
        if alignment.kind == "spread":  # "windows" only (harness/train/datasets.py)
            return np.asarray(array[spread_rows(len(array), grid.n_frames, frames)], dtype=np.float32)
        if self.sampling == "windows":
            if alignment.kind == "image":
                return _take(array, self._image_rows(grid, frames), grid.item_id, name)
            return interpolate_rows(array, grid.n_frames, frames)
        centre = int(frames[0])
        fps = self.frame_rates[grid.item_id]
        if alignment.kind == "image":
            span = centred_span(centre, alignment.span_seconds * fps, grid.n_frames, alignment.rows)
            return _take(array, self._image_rows(grid, span), grid.item_id, name)
        rate = AUDIO_FEATURE_RATE
        centre_row = centre / fps * rate
        span = centred_span(centre_row, alignment.span_seconds * rate, len(array), alignment.rows)
        return np.asarray(array[span], dtype=np.float32)

    @staticmethod
    def _image_rows(grid: FrameGrid, frames: np.ndarray) -> np.ndarray:
        if grid.face_rows is None:
            raise AbawError(f"video {grid.item_id[:120]!r}: no face-crop positions for an image input")
        return grid.face_rows[frames]

    # -- reassembly -----------------------------------------------------------------------------------------------
    def assemble(self, sample_indices: np.ndarray, outputs: Sequence[np.ndarray]) -> np.ndarray:
        """Per-sample outputs (windows: [L_b, K] each, padded to their batch; centred: [K]) → [R, K] in reference-row
        order."""
        width = np.shape(outputs[0])[-1]
        totals = [np.zeros((grid.n_frames, width), dtype=np.float64) for grid in self.split.grids]
        counts = [np.zeros(grid.n_frames, dtype=np.int64) for grid in self.split.grids]
        for index, output in zip(sample_indices.tolist(), outputs, strict=True):
            grid, frames = self.sample_frames(index)
            grid_index = self.samples[index][0]
            rows = output[: len(frames)] if self.sampling == "windows" else output[None, :]
            totals[grid_index][frames] += rows
            counts[grid_index][frames] += 1
        per_grid = []
        for grid, total, count in zip(self.split.grids, totals, counts, strict=True):
            seen = np.flatnonzero(count)
            if seen.size == 0:
                raise AbawError(f"video {grid.item_id[:120]!r}: no sample covered any of its frames")
            averaged = total[seen] / count[seen][:, None]
            nearest = _nearest_rows(seen, grid.n_frames)[0]  # unsampled frames take the nearest sampled decision
            per_grid.append(averaged[nearest])
        return np.stack([per_grid[g][p] for g, p in zip(self.split.row_grid, self.split.row_position, strict=True)]) \
            if len(self.split.row_ids) else np.zeros((0, width))

    def sample_classes(self) -> np.ndarray:
        """Binary tasks: each sample's class (its centre frame's label, or a window's majority label) for balancing."""
        classes = np.empty(len(self.samples), dtype=np.int64)
        for index in range(len(self.samples)):
            grid, frames = self.sample_frames(index)
            labels = grid.targets[frames, 0] if grid.targets is not None else np.array([np.nan])
            labels = labels[np.isfinite(labels)]
            classes[index] = int(labels.mean() >= 0.5) if labels.size else 0
        return classes


    def sample_segments(self) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """Centred training samples grouped into label-constant segments, for the "balanced-segments" epoch.

        A segment is a maximal run of a video's samples (in frame order) with one class: (sample indices, their
        frames, the class) per segment. Frames without a usable label (no face crop) are not samples, so they neither
        end a segment nor are drawn; a label change ends it. With `frame_step` > 1 only every k-th frame is a sample,
        so a segment shorter than the step may hold none and is then never drawn.
        """
        if self.sampling != "centred":
            raise AbawError(f"label segments are drawn from centred samples, not from {self.sampling!r} ones")
        classes = self.sample_classes()
        grids = np.array([grid for grid, _ in self.samples], dtype=np.int64)
        frames = np.array([frame for _, frame in self.samples], dtype=np.int64)
        starts = np.flatnonzero(np.concatenate([[True], (grids[1:] != grids[:-1]) | (classes[1:] != classes[:-1])
                                                | (frames[1:] <= frames[:-1])])) if len(frames) else np.zeros(0, int)
        bounds = np.append(starts, len(frames))
        members = [np.arange(first, stop) for first, stop in pairwise(bounds.tolist())]
        return members, [frames[member] for member in members], classes[starts]


def _take(array: np.ndarray, rows: np.ndarray, item_id: str, name: str) -> np.ndarray:
    if rows.size and int(rows.max()) >= len(array):
        raise AbawError(f"video {item_id[:120]!r}: input {name!r} has {len(array)} feature rows but the face crops on "
                        f"disk need row {int(rows.max())}; the feature cache does not match the face folder "
                        "(re-extract it)")
    if rows.size > 1 and rows[-1] - rows[0] == rows.size - 1 and bool((np.diff(rows) == 1).all()):
        # Consecutive crops (the common case): a view of the memory map, copied once, into the batch, by the collate.
        return array[rows[0]:rows[-1] + 1]
    return np.asarray(array[rows], dtype=np.float32)


def interpolate_rows(array: np.ndarray, n_frames: int, frames: np.ndarray) -> np.ndarray:
    """Rows of `array` [T, D] linearly interpolated onto grid `frames` of an `n_frames` grid (centre-aligned).

    Position of frame f in the source: x = (f + 0.5)·T/N − 0.5, clamped to [0, T − 1]; only the two neighbouring
    rows of each frame are read.
    """
    length = len(array)
    if length == 0:
        raise AbawError("an input has no feature rows to align")
    x = np.clip((frames + 0.5) * length / n_frames - 0.5, 0, length - 1)
    low = np.floor(x).astype(np.int64)
    high = np.minimum(low + 1, length - 1)
    weight = (x - low).astype(np.float32)[:, None]
    return (np.asarray(array[low], dtype=np.float32) * (1 - weight)
            + np.asarray(array[high], dtype=np.float32) * weight)


def centred_span(centre: float, width: float, length: int, rows: int | None) -> np.ndarray:
    """Indices of a window of `width` source rows centred on `centre`, inside [0, length).

    Without `rows`: every index in [centre − width/2, centre + width/2). With `rows`: that many equidistant positions
    across the span (nearest index each). Positions outside the source are dropped, so a window at a video's edge stays
    centred and is shorter (the engine pads and masks it), never shifted or widened.
    """
    if rows is None:
        return np.arange(*centred_bounds(centre, width, length))
    indices = np.rint(centre - width / 2 + (np.arange(rows) + 0.5) * width / rows).astype(np.int64)
    return indices[(indices >= 0) & (indices < length)]


def centred_bounds(centre: float, width: float, length: int) -> tuple[int, int]:
    """(start, stop) of the `max(round(width), 1)` consecutive indices from ⌈centre − width/2⌉, cut to [0, length)
    (start == stop when nothing of the window lies inside): `centred_span` without `rows`, as slice bounds."""
    first = int(np.ceil(centre - width / 2))
    start = min(max(first, 0), length)
    return start, max(min(first + max(round(width), 1), length), start)


@dataclass(frozen=True)
class WaveformWindows:
    """A fine-tuned audio input under centred sampling, in the engine's prepared-input form (picklable for DataLoader
    workers): `(item_id, frames)` → `prepare` (the encoder's per-clip normalisation) of the waveform window centred on
    grid frame `frames[0]`, read from the item's memory-mapped track (`harness.features.waveforms`).

    The window of frame f of a video at `fps` frames per second is the `span_seconds` of samples around
    c = f / fps · 16 000 (`centred_bounds`, the rule the cached path's feature rows follow), cut to the track: near a
    video's edges it keeps its centre and is shorter, the part outside the track absent, as in hallmen2025's code
    (their slice `audio[max(i − w/2, 0) : min(i + w/2, len)]`); the batch pads it on the right with zeros under an
    attention mask (`harness.encoders._audio.pad_batch`). A window holding less audio than one encoder frame (a track
    that ends before its video) is that audio followed by zeros up to `MIN_SAMPLES`: one frame of silence, as the
    cached path gives such a window one zero row.
    """

    store: Any  # harness.features.waveforms.WaveformStore: item id -> memory-mapped float32 [N] track
    frame_rates: Mapping[str, float]  # item id -> its video's frames per second
    span_seconds: float
    prepare: Callable[[np.ndarray], Any]

    def window(self, item_id: str, frame: int) -> np.ndarray:
        """The raw samples of the window centred on `frame` (a copy, at least MIN_SAMPLES long)."""
        from abaw_bench.harness.media import SAMPLE_RATE

        track = self.store.get(item_id)
        start, stop = centred_bounds(frame / self.frame_rates[item_id] * SAMPLE_RATE, self.span_seconds * SAMPLE_RATE,
                                     len(track))
        samples = np.array(track[start:stop], dtype=np.float32)
        if samples.size < MIN_SAMPLES:
            samples = np.concatenate([samples, np.zeros(MIN_SAMPLES - samples.size, dtype=np.float32)])
        return samples

    def __call__(self, item_id: str, frames: np.ndarray) -> Any:
        return self.prepare(self.window(item_id, int(frames[0])))
