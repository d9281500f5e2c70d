"""Media decoding for the encoders: audio to mono 16 kHz float32, face-crop folders to RGB uint8; a video's frame rate
and frame count from its container header (`video_timing`), without decoding a frame.

Audio is decoded with PyAV (FFmpeg) at the file's native rate, down-mixed by averaging the channels, and resampled
with `torchaudio.functional.resample` (band-limited sinc interpolation, deterministic, the same filter the
transformers feature extractors assume) rather than FFmpeg's swresample, so a clip gives the same samples whichever
container it came in. `max_seconds` cuts the clip *before* resampling (only what is kept is decoded).

Anything wrong with a file — missing, unreadable, corrupt, truncated, without the expected stream — raises
`MediaError` naming the file and what failed. Truncation is detected by comparing what was decoded with the duration
the container header announces (and, for WAV, the RIFF data-chunk size against the bytes on disk), because FFmpeg
happily decodes the first half of a cut file without complaint.

Hostile files are bounded before they cost anything. Only regular files are opened (`require_regular_file`): a FIFO,
socket or device named like a media file would block the reader forever or stream without end. A face crop's header
is read first (PIL opens lazily): more than `MAX_DECLARED_PIXELS` is refused, and a large JPEG is decoded at reduced
scale (`Image.draft`, the DCT's own 1/2–1/8 scaling) and then shrunk to `FACE_CROP_MAX_SIDE`, since every encoder
resizes crops to at most a few hundred pixels anyway; a large image of a format without reduced decoding is refused
above `MAX_DECODED_PIXELS`. This departs from a plain full-size decode only for crops larger than
`FACE_CROP_MAX_SIDE` (real face crops are 112–256 px), and it bounds the memory of a folder of frames, held together
until the encoder's `prepare`, to `FACE_CROP_MAX_SIDE`² × 3 bytes per frame. Frame numbers in crop file names become
array sizes downstream, so the readers bound them (`check_frame_numbers`) by the video's frame count where they know
it, else by `MAX_FRAME_NUMBER`.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from abaw_bench.harness.errors import AbawError

SAMPLE_RATE = 16_000
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
# Decoded audio may fall short of the header's duration by codec delay/padding; more than this means truncation.
_TRUNCATION_TOLERANCE_SECONDS = 0.25
_TRUNCATION_TOLERANCE_FRACTION = 0.02
# PIL's own decompression-bomb threshold (2 × Image.MAX_IMAGE_PIXELS by default), kept here even when another library
# lifts PIL's (MAX_IMAGE_PIXELS = None): a header declaring more is refused before any pixel is decoded.
MAX_DECLARED_PIXELS = 2 * 89_478_485
# Formats without reduced-scale decoding (PNG, BMP) are decoded whole: refuse above 25 megapixels (75 MB as RGB).
MAX_DECODED_PIXELS = 5_000 * 5_000
FACE_CROP_MAX_SIDE = 512  # longest side of a decoded face crop; the encoders resize to 56-448 px
# A frame number beyond the video's frame count (or the label file's length) by more than this is refused; a little
# slack because header frame counts and crop numbering can disagree by a few frames.
FRAME_NUMBER_SLACK = 25
# Where the reader knows no frame count: 24 h at 60 fps. Grids of this size take tens of MB, not gigabytes.
MAX_FRAME_NUMBER = 24 * 3600 * 60
_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


class MediaError(AbawError):
    """A media file that cannot be decoded; the message names the file and the failure."""


def require_regular_file(path: str | os.PathLike[str], what: str = "a media file") -> os.stat_result:
    """The file's stat (symlinks followed); MediaError unless it is a regular file.

    Checked before opening: opening a FIFO blocks until a writer appears, and a device or socket streams without end.
    """
    return _stat_as(path, what, stat.S_ISREG, missing="file not found")


def _stat_as(path: str | os.PathLike[str], what: str, wanted: Callable[[int], bool], *,
             missing: str) -> os.stat_result:
    """The stat of `path` (symlinks followed) when `wanted(mode)` holds; else MediaError naming it and saying what
    was found (`missing` when nothing is there, a dangling symlink as such)."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        found = f"expected {what}, found a dangling symlink" if os.path.islink(path) else missing
        raise MediaError(f"{path}: {found}") from None
    except OSError as error:
        raise MediaError(f"{path}: cannot stat it ({error.strerror or error}); expected {what}") from None
    if not wanted(status.st_mode):
        kinds = ((stat.S_ISREG, "a regular file"), *_FILE_KINDS)
        found = next((kind for test, kind in kinds if test(status.st_mode)), "something else")
        raise MediaError(f"{path}: expected {what}, found {found}")
    return status


def check_frame_numbers(folder: Path, numbers: list[int], names: dict[int, str], frame_count: int | None, *,
                        first: int = 0, counted_in: str = "") -> None:
    """MediaError, naming the crop file (`names`: number → file name), when the largest frame number among
    `folder`'s crops (`numbers`, sorted, starting at `first`) lies beyond the video's frames.

    The bound is `frame_count` (from `counted_in`, e.g. the video container or the label file) plus
    `FRAME_NUMBER_SLACK`, or `MAX_FRAME_NUMBER` when the reader knows no count. A folder whose numbers are within
    `FRAME_NUMBER_SLACK` of its own file count is always accepted (the arrays built from it are as large as the folder).
    """
    if not numbers or not frame_number_suspect(numbers[-1], len(numbers), first=first):
        return
    beyond = frame_number_beyond(numbers[-1], frame_count, first=first, counted_in=counted_in)
    if beyond is not None:
        raise MediaError(f"{folder / names[numbers[-1]]}: face crop number {numbers[-1]} is {beyond}; rename or "
                         "remove that crop")


def frame_number_suspect(largest: int, listed: int, *, first: int = 0) -> bool:
    """Whether the largest of `listed` frame numbers (crop names, label-file rows) is far enough beyond their count to
    be worth checking against the video's frame count (`frame_number_beyond`), which may mean reading a header."""
    return largest - first >= listed + FRAME_NUMBER_SLACK


def frame_number_beyond(number: int, frame_count: int | None, *, first: int = 0, counted_in: str = "") -> str | None:
    """"beyond <the bound and what sets it>: expected numbers below B" when frame `number` lies beyond the video's
    frames (`frame_count`, from `counted_in`, plus `FRAME_NUMBER_SLACK`; `MAX_FRAME_NUMBER` when no count is known),
    else None. Arrays are sized by frame numbers (a grid per video), so an unbounded one is an unbounded allocation."""
    if frame_count is None:
        bound, source = first + MAX_FRAME_NUMBER, f"the cap of {MAX_FRAME_NUMBER} frames (no frame count known)"
    else:
        bound = first + frame_count + FRAME_NUMBER_SLACK
        source = f"the video's {frame_count} frames ({counted_in}) + {FRAME_NUMBER_SLACK} frames of slack"
    return f"beyond {source}: expected numbers below {bound}" if number >= bound else None


def _open_container(path: Path):
    import av

    require_regular_file(path)
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise MediaError(f"{path}: cannot open as a media container ({error})") from error


def media_duration(path: str | os.PathLike[str]) -> float:
    """Duration in seconds from the container header, without decoding (used to bucket items by length)."""
    path = Path(path)
    with _open_container(path) as container:
        if container.duration is not None and container.duration > 0:
            return container.duration / 1_000_000
        for stream in container.streams:
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
    raise MediaError(f"{path}: the container header gives no duration")


@dataclass(frozen=True)
class VideoTiming:
    """A video stream's frame rate and frame count, and where the count came from."""

    fps: float
    frames: int
    counted_from: str  # "header" (the stream's frame count), "duration" (duration × rate) or "packets" (demuxed)


def video_timing(path: str | os.PathLike[str]) -> VideoTiming:
    """Frame rate and frame count of the first video stream, read from the container without decoding a frame.

    The count is the header's frame count where the container has one (MP4 does), else the stream's (or the
    container's) duration times the rate; only a container that states neither is demuxed to count its packets.
    """
    import av

    path = Path(path)
    with _open_container(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path}: no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
        if not rate or rate <= 0:
            raise MediaError(f"{path}: the video stream states no frame rate")
        fps = float(rate)
        if stream.frames and stream.frames > 0:
            return VideoTiming(fps, int(stream.frames), "header")
        seconds = None
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        elif container.duration is not None and container.duration > 0:
            seconds = container.duration / 1_000_000
        if seconds is not None and seconds > 0:
            return VideoTiming(fps, round(seconds * fps), "duration")
        try:
            packets = sum(1 for packet in container.demux(stream) if packet.size)
        except av.FFmpegError as error:
            raise MediaError(f"{path}: cannot read the video stream's packets ({error})") from error
        return VideoTiming(fps, packets, "packets")


def _check_wav_complete(path: Path) -> None:
    """FFmpeg clamps a cut WAV's duration to the bytes present, so compare the RIFF 'data' chunk size instead."""
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return  # not a plain RIFF/WAVE file: FFmpeg will judge it
        while len(chunk := handle.read(8)) == 8:
            chunk_id, declared = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                if declared in (0, 0xFFFFFFFF):  # streamed WAV with unknown length
                    return
                available = path.stat().st_size - handle.tell()
                if available < declared:
                    raise MediaError(f"{path}: truncated WAV file: the header declares {declared} bytes of audio, "
                                     f"the file holds {available}")
                return
            handle.seek(declared + (declared & 1), os.SEEK_CUR)


def load_audio(path: str | os.PathLike[str], *, sample_rate: int = SAMPLE_RATE,
               max_seconds: float | None = None) -> np.ndarray:
    """Decode the first audio stream of `path` (wav/mp3/flac/mp4/...) to mono float32 at `sample_rate`.

    `max_seconds` keeps only the clip's beginning (hallmen2024 cuts EMI audio to its first 12 s).
    """
    import av

    path = Path(path)
    require_regular_file(path)
    if path.suffix.lower() == ".wav":
        _check_wav_complete(path)
    with _open_container(path) as container:
        if not container.streams.audio:
            raise MediaError(f"{path}: no audio stream (streams: {[s.type for s in container.streams] or 'none'})")
        stream = container.streams.audio[0]
        native_rate = stream.sample_rate or stream.codec_context.sample_rate
        if not native_rate:
            raise MediaError(f"{path}: the audio stream declares no sample rate")
        announced = container.duration / 1_000_000 if container.duration else None
        limit = None if max_seconds is None else round(max_seconds * native_rate)
        chunks: list[np.ndarray] = []
        decoded = 0
        try:
            for frame in container.decode(stream):
                samples = frame.to_ndarray().astype(np.float32, copy=False)
                if not frame.format.is_planar:  # packed: (1, samples * channels), interleaved
                    samples = samples.reshape(-1, len(frame.layout.channels)).T
                if frame.format.name.startswith("s16"):
                    samples = samples / 32768.0
                elif frame.format.name.startswith("s32"):
                    samples = samples / 2147483648.0
                elif frame.format.name.startswith("u8"):
                    samples = (samples - 128.0) / 128.0
                chunks.append(samples.mean(axis=0, dtype=np.float32))
                decoded += samples.shape[1]
                if limit is not None and decoded >= limit:
                    break
        except (av.FFmpegError, OSError) as error:
            raise MediaError(f"{path}: corrupt audio after {decoded / native_rate:.2f} s of decoding "
                             f"({error})") from error
    if decoded == 0:
        raise MediaError(f"{path}: the audio stream decodes to no samples")
    wave = np.concatenate(chunks)
    if limit is not None:
        wave = wave[:limit]
    elif announced is not None:
        seconds = decoded / native_rate
        if seconds < announced - max(_TRUNCATION_TOLERANCE_SECONDS, _TRUNCATION_TOLERANCE_FRACTION * announced):
            raise MediaError(f"{path}: truncated audio: the header announces {announced:.2f} s, "
                             f"only {seconds:.2f} s decode")
    if native_rate != sample_rate:
        import torch
        import torchaudio.functional

        wave = torchaudio.functional.resample(torch.from_numpy(np.ascontiguousarray(wave)), native_rate,
                                              sample_rate).numpy()
    if max_seconds is not None:
        wave = wave[: round(max_seconds * sample_rate)]
    return np.ascontiguousarray(wave, dtype=np.float32)


def _natural_key(path: Path) -> list[object]:
    """frame-2.jpg before frame-10.jpg: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def list_frames(folder: str | os.PathLike[str]) -> list[Path]:
    """The image files of a face-crop folder in frame order (natural sort of the file names).

    An image-named entry that is not a regular file (a FIFO, a device, a folder) is an error naming it, not silently
    left out: the crops' count is the item's row count in the feature cache. So is a folder that is not one (a file,
    a dangling symlink) or that cannot be listed (permission denied): MediaError, whose message is the whole story.
    """
    folder = Path(folder)
    _stat_as(folder, "a face-crop folder", stat.S_ISDIR, missing="face-crop folder not found")
    try:  # a folder it may not read, or that fails mid-listing (EIO): one line naming it, also from a worker
        files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    except OSError as error:
        raise MediaError(f"{folder}: cannot list the face-crop folder ({error.strerror or error})") from None
    for file in files:
        require_regular_file(file, "a face-crop image file")
    return sorted(files, key=_natural_key)


def _subsample(count: int, source_fps: float | None, target_fps: float | None) -> list[int]:
    """Indices of the frames to keep so that `count` frames at `source_fps` become `target_fps` (nearest frame)."""
    if target_fps is None or source_fps is None or target_fps >= source_fps:
        return list(range(count))
    duration = count / source_fps
    wanted = int(np.floor(duration * target_fps + 1e-9))
    return sorted({min(count - 1, round(k * source_fps / target_fps)) for k in range(max(wanted, 1))})


def load_face_frames(folder: str | os.PathLike[str], *, max_frames: int | None = None,
                     source_fps: float | None = None, target_fps: float | None = None) -> list[np.ndarray]:
    """The face crops of a folder as RGB uint8 arrays (H×W×3), in frame order.

    `target_fps` (with the folder's `source_fps`) keeps the nearest frame at each tick of the target rate;
    `max_frames` then keeps the first frames (hallmen2025 uses the first 400).
    """
    folder = Path(folder)
    files = list_frames(folder)
    if not files:
        raise MediaError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) in the face-crop folder")
    chosen = [files[i] for i in _subsample(len(files), source_fps, target_fps)]
    if max_frames is not None:
        chosen = chosen[:max_frames]
    return [load_face_crop(file) for file in chosen]


def load_face_crop(file: str | os.PathLike[str]) -> np.ndarray:
    """One face crop as RGB uint8 (H×W×3), its longest side at most `FACE_CROP_MAX_SIDE` (see the module notes)."""
    from PIL import Image, UnidentifiedImageError

    require_regular_file(file, "a face-crop image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own bound follows
            with Image.open(file) as image:
                width, height = image.size
                if width * height > MAX_DECLARED_PIXELS:
                    raise MediaError(f"{file}: the image header declares {width}×{height} pixels, more than the "
                                     f"{MAX_DECLARED_PIXELS} a face crop may have (a decompression bomb?)")
                if max(width, height) > FACE_CROP_MAX_SIDE:
                    image.draft("RGB", (FACE_CROP_MAX_SIDE, FACE_CROP_MAX_SIDE))  # JPEG: decode at 1/2..1/8 scale
                    if image.size[0] * image.size[1] > MAX_DECODED_PIXELS:
                        raise MediaError(f"{file}: a {width}×{height} {image.format or 'image'} face crop cannot be "
                                         f"decoded at reduced size and exceeds {MAX_DECODED_PIXELS} pixels")
                    image.thumbnail((FACE_CROP_MAX_SIDE, FACE_CROP_MAX_SIDE), Image.Resampling.BILINEAR)
                return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except Image.DecompressionBombError as error:
        raise MediaError(f"{file}: refused as a decompression bomb ({error})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise MediaError(f"{file}: cannot decode the face crop ({error})") from error


def count_frames(folder: str | os.PathLike[str]) -> int:
    """Number of face crops in a folder (its 'length' for bucketing, without opening any image)."""
    return len(list_frames(folder))

