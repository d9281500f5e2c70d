"""Centred text windows (hallmen2025 BAH): the words around a frame, encoded at a marker token placed at its time.

For a label frame t (seconds: frame / fps) and a span S (hallmen2025: 20 s):
1. Word timestamps. From the dataset's transcript when it has word or chunk timestamps ("words", "segments" or
   "chunks"; format in `words_from_transcript`); else from an asr encoder's words (Whisper, `word_timestamps=True`,
   cached by `harness.features`). A chunk (the Hugging Face ASR pipeline's `{"timestamp": [start, end], "text"}`) has
   no word times: its words are spread over the chunk in proportion to their character length (`spread_chunk`), so a
   long word takes longer than a short one. A word's time is the midpoint of its interval.
2. The window: the words whose times fall within [t − S/2, t + S/2], both ends inclusive and both cut by timestamp,
   with the special token `[ATTENTION]` inserted between the last word at or before t and the first word after it.
   The authors' code cut the end of a chunk wrongly: it computed the fraction of the chunk lying *after* the window's
   end and kept that many words (`words[:int(n * fraction_outside)]`), i.e. the complementary fraction — a chunk 75 %
   inside the window kept its first 25 % of words. Here every word is kept or dropped by its own timestamp.
3. At most 128 tokens (the encoder's specials and the marker included): a longer window loses words from both ends,
   the word farther in time from t first, so the marker always stays inside.
4. The vector is the encoder's last hidden state at the marker token. The token is added to the tokenizer and the
   input embedding matrix is resized when it has no free row; the marker's row starts at the mean of the vocabulary's
   embeddings, a deterministic, neutral starting point (the authors' `resize_token_embeddings` drew it at random; in
   current transformers from a normal around that same mean).

Two ways to serve the windows, one selection of words:
- frozen (`build_text_windows`, a row's `-frozen` variant): every distinct window is encoded once and its vector
  cached, so the marker's row is never learned;
- fine-tuned (`build_token_windows` + `MarkerTextEncoder`, the authors' setting): a sample carries its window's token
  ids and the marker's position, and the encoder (the marker's embedding row included) runs and trains with the head
  inside the training step (harness.train.engine.TrainableModel).

Encodings are cached by window content (the words before and after the marker): the same content encodes once per
build (frames inside one silence or one word share it), and on disk under `cache_home()/features/<task>/
<encoder>-<preset>-attention-windows-<config>/`, keyed by a hash of the content and the encoder's recipe (fingerprint,
compute dtype), in shards written atomically, so a second run (or a resumed one) encodes nothing it has already
encoded. The encoders compute in the run's precision (bf16 autocast on CUDA by default, like every extraction), and
under torchrun the ranks split the shards to encode between them and read each other's from the cache.

    request = FeatureRequest("bah", "minilm", "tiny", data_root)
    windows = build_text_windows(request, items, DATASET_TRANSCRIPT, 25.0, 20.0, frames_by_item)
    windows.window(item.id, 120)    # [1, D] float32: the text vector for frame 120 (t = 4.8 s)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.atomic import atomic_path, write_json
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.features.request import FeatureRequest
from abaw_bench.harness.jsonio import BadJson, read_json
from abaw_bench.harness.media import require_regular_file
from abaw_bench.harness.systems import DATASET_TRANSCRIPT
from abaw_bench.harness.tasks.base import Item

ATTENTION_TOKEN = "[ATTENTION]"
MAX_TOKENS = 128
SHARD_WINDOWS = 2048  # encodings per cache shard: the granularity of a resumed build
WINDOW_BATCH_SIZE = 64  # windows per forward pass of the frozen text encoder (a request's batch_size None)
RECIPE_VERSION = 1


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float

    @property
    def time(self) -> float:
        return 0.5 * (self.start + self.end)


# --------------------------------------------------------------------------------------------------- word timestamps

def spread_chunk(text: str, start: float, end: float) -> list[Word]:
    """The chunk's words with [start, end] split between them in proportion to their character length."""
    words = text.replace(ATTENTION_TOKEN, " ").split()  # a literal marker in a transcript must not become one
    if not words:
        return []
    lengths = np.array([len(word) for word in words])
    bounds = np.concatenate([[0], np.cumsum(lengths)]) / lengths.sum()
    times = start + (end - start) * bounds
    return [Word(word, float(times[i]), float(times[i + 1])) for i, word in enumerate(words)]


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value < 0:
        raise AbawError(f"{where}: expected a time in seconds (a number >= 0), found {str(value)[:60]!r}")
    return float(value)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise AbawError(f"{where}: expected a string, found {type(value).__name__}")
    return value


def _timed_list(entries: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise AbawError(f"{where}: expected a list of objects")
    return entries


def _spread_chunks(chunks: Sequence[tuple[float, float | None, str]], where: str) -> list[Word]:
    """Words of (start, end, text) chunks; repairs the two quirks of Whisper pipeline output.

    A chunk may end with no time (the pipeline's last chunk when the audio stops mid-word): it ends where the next
    chunk starts, or for the last chunk after 0.4 s per word (2.5 words/s, ordinary speech). Long-form output may
    restart its clock at 0 every 30 s: a chunk after the first that starts at 0, or before its predecessor started,
    begins a new clock, shifted (with every later chunk) to start where the previous chunk ended (the authors repaired
    the same quirk for chunks restarting at exactly 0).
    """
    words: list[Word] = []
    offset, previous_start, previous_end = 0.0, 0.0, 0.0
    for index, (start, end, text) in enumerate(chunks):
        if index > 0 and (start == 0.0 or start < previous_start):
            offset = previous_end - start
        previous_start = start
        if end is None:
            following = chunks[index + 1][0] if index + 1 < len(chunks) else None
            end = following if following is not None and following >= start else start + 0.4 * len(text.split())
        if end < start:
            raise AbawError(f"{where}[{index}]: the chunk ends ({end}) before it starts ({start})")
        words += spread_chunk(text, start + offset, end + offset)
        previous_end = end + offset
    return words


def words_from_transcript(transcript: Any, where: str) -> list[Word] | None:
    """Timed words of a transcript object, or None when it carries no timestamps (only "text").

    Accepted, first match wins: `{"words": [{"word" | "text", "start", "end"}]}` (word level; the asr encoder's
    output), `{"segments": [{"start", "end", "text"[, "words"]}]}` (Whisper segments; their words when present, else
    the segment spread as a chunk), `{"chunks": [{"timestamp": [start, end], "text"}]}` (chunks, spread).
    """
    if not isinstance(transcript, dict):
        raise AbawError(f"{where}: expected a JSON object, found {type(transcript).__name__}")
    if transcript.get("words"):
        words = []
        for index, entry in enumerate(_timed_list(transcript["words"], f"{where}: 'words'")):
            field_where = f"{where}: words[{index}]"
            text = _text(entry.get("word", entry.get("text")), f"{field_where}.word")
            start, end = _seconds(entry.get("start"), f"{field_where}.start"), _seconds(entry.get("end"),
                                                                                      f"{field_where}.end")
            words += [Word(part, start, max(start, end)) for part in text.replace(ATTENTION_TOKEN, " ").split()]
        return words
    if "segments" in transcript:
        segments = _timed_list(transcript["segments"], f"{where}: 'segments'")
        if segments and all(segment.get("words") for segment in segments):
            return words_from_transcript({"words": [word for segment in segments for word in segment["words"]]},
                                         where)
        return _spread_chunks([(_seconds(s.get("start"), f"{where}: segments[{i}].start"),
                                None if s.get("end") is None else _seconds(s["end"], f"{where}: segments[{i}].end"),
                                _text(s.get("text"), f"{where}: segments[{i}].text"))
                               for i, s in enumerate(segments)], f"{where}: segments")
    if "chunks" in transcript:
        chunks = []
        for index, chunk in enumerate(_timed_list(transcript["chunks"], f"{where}: 'chunks'")):
            stamp = chunk.get("timestamp")
            if not isinstance(stamp, list | tuple) or len(stamp) != 2:
                raise AbawError(f"{where}: chunks[{index}].timestamp: expected [start, end] in seconds, found "
                                f"{str(stamp)[:60]!r}")
            end = None if stamp[1] is None else _seconds(stamp[1], f"{where}: chunks[{index}].timestamp[1]")
            chunks.append((_seconds(stamp[0], f"{where}: chunks[{index}].timestamp[0]"), end,
                           _text(chunk.get("text"), f"{where}: chunks[{index}].text")))
        return _spread_chunks(chunks, f"{where}: chunks")
    return None


def read_transcript_words(path: Path) -> list[Word] | None:
    """`words_from_transcript` of a JSON file (the dataset's transcript media)."""
    require_regular_file(path, "a transcript JSON file")
    try:
        transcript = read_json(path)
    except BadJson as error:
        raise AbawError(f"{path}: cannot read the transcript JSON ({error.reason})") from None
    return words_from_transcript(transcript, str(path))


# --------------------------------------------------------------------------------------------------- windows

@dataclass(frozen=True)
class WindowBounds:
    """Word indices of one window: words[first:marker] go before the token, words[marker:stop] after it."""

    first: int
    marker: int
    stop: int


def select_windows(times: np.ndarray, centres: np.ndarray, span: float) -> list[WindowBounds]:
    """For each centre, the words (sorted midpoint `times`) within [centre − span/2, centre + span/2], both ends
    inclusive, and the token's place: after every word whose time is at or before the centre."""
    first = np.searchsorted(times, centres - span / 2, side="left")
    marker = np.searchsorted(times, centres, side="right")
    stop = np.searchsorted(times, centres + span / 2, side="right")
    return [WindowBounds(*bounds) for bounds in zip(first.tolist(), marker.tolist(), stop.tolist(), strict=True)]


def trim_window(bounds: WindowBounds, times: np.ndarray, token_counts: np.ndarray, centre: float,
                budget: int) -> WindowBounds:
    """Drop end words, the one farther in time from `centre` first (the later on a tie), until the words' tokens
    fit in `budget`; the token keeps its place between the same two words."""
    first, stop = bounds.first, bounds.stop
    total = int(token_counts[first:stop].sum())
    while total > budget and first < stop:
        if first < bounds.marker and (stop == bounds.marker or centre - times[first] > times[stop - 1] - centre):
            total -= int(token_counts[first])
            first += 1
        else:
            stop -= 1
            total -= int(token_counts[stop])
    return WindowBounds(first, bounds.marker, stop)


# --------------------------------------------------------------------------------------------------- the encoder

def add_marker(model: Any, tokenizer: Any) -> int:
    """Add the marker token to `tokenizer` and give it an embedding row of `model` (resized when the matrix has no
    free row) set to the mean of the vocabulary's rows; returns its id. The caller's RNG is left untouched."""
    import torch
    from abaw_bench.harness.encoders._common import seeded

    tokenizer.add_tokens([ATTENTION_TOKEN], special_tokens=True)
    token_id = int(tokenizer.convert_tokens_to_ids(ATTENTION_TOKEN))
    with torch.no_grad(), seeded():  # resizing draws (then discards) a random row
        if model.get_input_embeddings().weight.shape[0] <= token_id:
            model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        embeddings = model.get_input_embeddings().weight
        embeddings[token_id] = embeddings[:token_id].mean(dim=0)
    return token_id


def marker_rows_added(vocabulary_rows: int, tokenizer: Any) -> int:
    """How many embedding rows `add_marker` adds to a matrix of `vocabulary_rows` rows (0 when a free row exists)."""
    known = tokenizer.convert_tokens_to_ids(ATTENTION_TOKEN) if ATTENTION_TOKEN in tokenizer.get_vocab() else None
    token_id = known if known is not None else len(tokenizer)
    return max(0, token_id + 1 - vocabulary_rows)


def tokenize_windows(tokenizer: Any, token_id: int, texts: Sequence[str]) -> tuple[list[list[int]], list[int]]:
    """(token ids with the encoder's specials, the marker's position in them) per window text."""
    ids = tokenizer(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
    positions = []
    for text, row in zip(texts, ids, strict=True):
        found = [i for i, token in enumerate(row) if token == token_id]
        if len(found) != 1 or len(row) > MAX_TOKENS:
            raise RuntimeError(f"window {text[:80]!r}: {len(found)} marker tokens in {len(row)} tokens")
        positions.append(found[0])
    return ids, positions


@dataclass
class _MarkerEncoder:
    """A frozen text encoder's transformer and tokenizer with the marker token added."""

    name: str
    preset: str
    model: Any  # a transformers PreTrainedModel returning last_hidden_state
    tokenizer: Any
    token_id: int
    recipe: dict[str, Any]
    weights_source: str
    is_random: bool
    device: str
    autocast: Any  # the encoder's autocast context (bf16 / fp16 compute with fp32 weights; a no-op in fp32)

    @property
    def dim(self) -> int:
        return int(self.model.get_input_embeddings().weight.shape[1])

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.recipe, sort_keys=True).encode()).hexdigest()


_LOADED: dict[tuple[Any, ...], _MarkerEncoder] = {}  # the last encoder built, reused by the next build in this process


def _check_text_encoder(name: str) -> None:
    from abaw_bench.harness.encoders import encoder_info

    if encoder_info(name).modality != "text":
        raise AbawError(f"encoder {name!r} is not a text encoder; centred text windows need one")


def _marker_encoder(name: str, preset: str, *, weights: str | os.PathLike[str] | None, device: str, dtype: str,
                    trust_remote_code: bool) -> _MarkerEncoder:
    key = (name, preset, str(weights), device, dtype, trust_remote_code)
    if key in _LOADED:
        return _LOADED[key]
    from abaw_bench.harness.encoders import load_encoder
    from abaw_bench.harness.encoders._text import transformer_of

    _check_text_encoder(name)
    encoder = load_encoder(name, preset, weights=weights, device=device, dtype=dtype,
                           trust_remote_code=trust_remote_code)
    fingerprint = encoder.fingerprint()  # of the published weights, before the marker row is added
    model = transformer_of(encoder.model)
    tokenizer = encoder.tokenizer
    token_id = add_marker(model, tokenizer)
    model.eval().to(device)
    recipe = {"version": RECIPE_VERSION, "encoder": name, "preset": preset, "fingerprint": fingerprint,
              "token": ATTENTION_TOKEN, "token_embedding": "mean of the vocabulary embeddings",
              "max_tokens": MAX_TOKENS, "vector": "last_hidden_state at the token", "dtype": dtype}
    _LOADED.clear()
    _LOADED[key] = _MarkerEncoder(name, preset, model, tokenizer, token_id, recipe, encoder.weights_source,
                                  encoder.is_random, device, encoder.autocast)
    return _LOADED[key]


class MarkerTextEncoder:
    """A text encoder fine-tuned with the head on centred windows (hallmen2025 BAH as the authors trained it).

    Built fresh for each run (never shared with the frozen path's cache): `model` is the transformer with the marker
    token added, every parameter trainable, the marker's embedding row included; `collate` pads the samples' token ids
    (`TokenWindows`), `forward` returns each sample's last hidden state at its marker, [1, D] in fp32. Under a
    bf16/fp16 run the trainer's autocast covers the encoder (weights stay fp32).
    """

    def __init__(self, name: str, preset: str, *, weights: str | os.PathLike[str] | None, device: str,
                 trust_remote_code: bool, download_root: str | os.PathLike[str] | None = None) -> None:
        from abaw_bench.harness.encoders import load_encoder
        from abaw_bench.harness.encoders._text import transformer_of

        _check_text_encoder(name)
        # trainable: every parameter requires grad and the unread pooler is gone (TextEncoder.make_trainable)
        encoder = load_encoder(name, preset, weights=weights, device=device, trust_remote_code=trust_remote_code,
                               download_root=download_root, trainable=True)
        self.info = encoder.info
        self.fingerprint_value = encoder.fingerprint()  # of the published weights, before the marker row is added
        self.weights_source, self.is_random, self.device = encoder.weights_source, encoder.is_random, encoder.device
        self.model = transformer_of(encoder.model)
        self.tokenizer = encoder.tokenizer
        self.token_id = add_marker(self.model, self.tokenizer)
        self.model.to(device).requires_grad_(True)
        self.pad_id = int(self.tokenizer.pad_token_id)

    @property
    def output_dim(self) -> int:
        return int(self.model.get_input_embeddings().weight.shape[1])

    def fingerprint(self) -> str:
        return self.fingerprint_value

    def marker_embedding(self) -> Any:
        """The marker token's current input embedding row (a view of the trained matrix)."""
        return self.model.get_input_embeddings().weight[self.token_id]

    def collate(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        length = max(len(sample["input_ids"]) for sample in samples)
        input_ids = torch.full((len(samples), length), self.pad_id, dtype=torch.int64)
        attention_mask = torch.zeros((len(samples), length), dtype=torch.int64)
        for row, sample in enumerate(samples):
            count = len(sample["input_ids"])
            input_ids[row, :count] = torch.as_tensor(sample["input_ids"], dtype=torch.int64)
            attention_mask[row, :count] = 1
        markers = torch.tensor([sample["marker"] for sample in samples], dtype=torch.int64)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "marker": markers}

    def forward(self, batch: dict[str, Any]) -> list[Any]:
        import torch

        hidden = self.model(input_ids=batch["input_ids"].to(self.device, non_blocking=True),
                            attention_mask=batch["attention_mask"].to(self.device, non_blocking=True)
                            ).last_hidden_state
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        at = hidden[rows, batch["marker"].to(hidden.device, non_blocking=True)].float()
        return list(at[:, None, :])


def _encode(encoder: _MarkerEncoder, texts: Sequence[str], batch_size: int, bar: Any) -> np.ndarray:
    """[len(texts), D] hidden states at the marker, in `texts` order (batched by token length)."""
    import torch

    ids, positions = tokenize_windows(encoder.tokenizer, encoder.token_id, texts)
    out = np.empty((len(texts), encoder.dim), dtype=np.float32)
    order = np.argsort([len(row) for row in ids], kind="stable")
    with torch.inference_mode(), encoder.autocast():
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            batch = encoder.tokenizer.pad({"input_ids": [ids[i] for i in chosen]}, return_tensors="pt")
            hidden = encoder.model(input_ids=batch["input_ids"].to(encoder.device),
                                   attention_mask=batch["attention_mask"].to(encoder.device)).last_hidden_state
            at = torch.as_tensor([positions[i] for i in chosen], device=hidden.device)
            out[chosen] = hidden[torch.arange(len(chosen), device=hidden.device), at].float().cpu().numpy()
            bar.update(len(chosen))
    return out


# --------------------------------------------------------------------------------------------------- the disk cache

def default_cache_dir(task: str, encoder: _MarkerEncoder) -> Path:
    from abaw_bench.harness.paths import cache_home

    return cache_home() / "features" / task / f"{encoder.name}-{encoder.preset}-attention-windows-{encoder.digest[:12]}"


def _content_key(recipe_digest: str, content: tuple[tuple[str, ...], tuple[str, ...]]) -> bytes:
    payload = json.dumps([recipe_digest, content[0], content[1]], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest().encode("ascii")


def _read_shards(directory: Path, wanted: set[bytes]) -> dict[bytes, np.ndarray]:
    found: dict[bytes, np.ndarray] = {}
    for shard in sorted(directory.glob("shard-*.npz")):
        try:
            with np.load(shard, allow_pickle=False) as data:
                keys, vectors = data["keys"], data["vectors"]
        except (OSError, ValueError, KeyError) as error:
            raise AbawError(f"{shard}: unreadable text-window cache shard ({error}); delete it to re-encode") from error
        for key, vector in zip(keys.tolist(), vectors, strict=True):
            if key in wanted:
                found[key] = vector
    return found


def _write_shard(directory: Path, keys: list[bytes], vectors: np.ndarray) -> None:
    name = hashlib.sha256(b"".join(keys)).hexdigest()[:16]
    with atomic_path(directory / f"shard-{name}.npz") as temporary, open(temporary, "wb") as handle:
        np.savez(handle, keys=np.array(keys, dtype="S64"), vectors=np.ascontiguousarray(vectors, dtype=np.float32))


# --------------------------------------------------------------------------------------------------- the source

@dataclass
class _WindowRows:
    """Which window each requested frame reads: `rows[item id][frame]` indexes the per-content arrays."""

    texts: list[str]  # [M] the window text with the marker, one per distinct window content
    rows: dict[str, np.ndarray]  # item id -> [max requested frame + 1] int64 row, -1 = not requested
    # item id -> why it has no words: its media gave no asr transcript (skip_bad); its windows hold no words, and
    # a run leaves the item out (harness/train/datasets.py)
    skipped: dict[str, str] = field(default_factory=dict)

    def _row(self, item_id: str, frame: int) -> int:
        rows = self.rows.get(item_id)
        if rows is None:
            raise AbawError(f"no text windows were built for item {item_id[:120]!r}")
        row = int(rows[frame]) if 0 <= frame < len(rows) else -1
        if row < 0:
            raise AbawError(f"no text window was built for frame {frame} of item {item_id[:120]!r}")
        return row

    def window_text(self, item_id: str, frame: int) -> str:
        return self.texts[self._row(item_id, frame)]


@dataclass
class TextWindows(_WindowRows):
    """The frozen text input of centred sampling: `window(item_id, frame)` → [1, D], precomputed for the requested
    frames."""

    dim: int = 0
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))  # [M, D] float32
    fingerprint: str = ""  # of the encoder recipe (weights, marker token, limits)
    weights_source: str = ""
    is_random: bool = False
    stats: dict[str, Any] = field(default_factory=dict)

    def window(self, item_id: str, frame: int) -> np.ndarray:
        row = self._row(item_id, frame)
        return self.vectors[row:row + 1]


@dataclass
class TokenWindows(_WindowRows):
    """The fine-tuned text input of centred sampling, in the engine's prepared-input form (picklable for DataLoader
    workers): `(item_id, frames)` → the token ids of the window centred on `frames[0]` and the marker's position in
    them, which `MarkerTextEncoder.collate` batches."""

    input_ids: list[np.ndarray] = field(default_factory=list)  # [M] int32 token ids, the encoder's specials included
    markers: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # [M] the marker's position
    stats: dict[str, Any] = field(default_factory=dict)

    def __call__(self, item_id: str, frames: np.ndarray) -> dict[str, Any]:
        row = self._row(item_id, int(frames[0]))
        return {"input_ids": self.input_ids[row], "marker": int(self.markers[row])}


def _item_words(request: FeatureRequest, items: Sequence[Item],
                transcript_source: str) -> tuple[dict[str, list[Word]], dict[str, int], dict[str, str]]:
    """(timed words per item, how many came from where, the skipped items → reason): the dataset's transcript where
    it has timestamps, else the asr encoder's words.

    The asr transcripts (encoder `transcript_source`, weights `request.asr_weights`, media under
    `request.data_root`) are those `extract` cached for the split in any dtype (`find_cached_store`), else extracted
    now in the request's dtype with its `num_workers` decode workers, each torchrun rank its shard (call this on
    every rank). An item whose media give no transcript stops with its MediaError, or with `skip_bad` is skipped (no
    words)."""
    words: dict[str, list[Word]] = {}
    skipped: dict[str, str] = {}
    for item in items:
        path = item.media.get("transcript")
        found = read_transcript_words(path) if path is not None else None
        if found is not None:
            words[item.id] = found
    missing = [item for item in items if item.id not in words]
    if missing and transcript_source == DATASET_TRANSCRIPT:
        raise AbawError(f"{len(missing)} of {len(items)} items have no transcript with word or chunk timestamps "
                        f"(first: {missing[0].id[:120]!r}, transcript: {missing[0].media.get('transcript')}); this "
                        "preset reads the dataset's transcripts only")
    if missing:
        from abaw_bench.harness.features.lookup import find_cached_store
        from abaw_bench.harness.features.pipeline import extract_items, load_requested
        from abaw_bench.harness.runtime import distributed

        context = distributed.setup(request.device)
        # the asr's own request: whole clips (no cut) in the extraction's default batches
        asr_request = replace(request.with_encoder(transcript_source, request.asr_weights), max_seconds=None,
                              batch_size=None)
        asr = None
        for split in sorted({item.split for item in missing}):
            group = [item for item in missing if item.split == split]
            # Rank 0 alone looks and tells the others, so that every rank takes the same branch (extract_items is a
            # collective).
            store = find_cached_store(asr_request, split)[0] if context.is_main else None
            store = distributed.broadcast_object(context, store)
            if store is None:
                asr = asr or load_requested(asr_request, request.device, request.dtype)
                store = extract_items(asr, asr_request, group, split)
            for item in group:
                if item.id in store.skipped:
                    skipped[item.id], words[item.id] = store.skipped[item.id], []
                    continue
                words[item.id] = words_from_transcript(store.transcript(item.id), str(store.path(item.id))) or []
    return words, {"dataset": len(items) - len(missing), "asr": len(missing) - len(skipped)}, skipped


@dataclass
class _Selection:
    """The distinct window contents of a build and which one every requested frame reads."""

    contents: list[tuple[tuple[str, ...], tuple[str, ...]]]  # (words before the marker, words after it)
    rows: dict[str, np.ndarray]
    stats: dict[str, Any]
    skipped: dict[str, str]  # item id -> why it has no words (skip_bad)

    @property
    def texts(self) -> list[str]:
        return [" ".join([*before, ATTENTION_TOKEN, *after]) for before, after in self.contents]


def _select(request: FeatureRequest, tokenizer: Any, items: Sequence[Item], transcript_source: str,
            fps: float | Mapping[str, float], span_seconds: float,
            frames_by_item: Mapping[str, Sequence[int]]) -> _Selection:
    """The words of every requested frame's window, cut to MAX_TOKENS with `tokenizer` (module docstring, 1-3)."""
    rates = fps if isinstance(fps, Mapping) else dict.fromkeys(frames_by_item, fps)
    for item_id in frames_by_item:
        rate = rates.get(item_id)
        if rate is None or not rate > 0 or not span_seconds > 0:
            raise AbawError(f"text windows need fps > 0 and a span > 0 s, found fps {rate} for item "
                            f"{item_id[:120]!r}, span {span_seconds}")
    by_id = {item.id: item for item in items}
    unknown = [item_id for item_id in frames_by_item if item_id not in by_id]
    if unknown:
        raise AbawError(f"frames were requested for {len(unknown)} item(s) not given (first: {unknown[0][:120]!r})")
    wanted_items = [by_id[item_id] for item_id in frames_by_item]
    words_by_item, sources, skipped = _item_words(request, wanted_items, transcript_source)
    budget = MAX_TOKENS - tokenizer.num_special_tokens_to_add() - 1  # the marker takes one
    contents: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}  # window content -> its row
    rows: dict[str, np.ndarray] = {}
    requested = trimmed = 0
    for item in wanted_items:
        item_words = sorted(words_by_item[item.id], key=lambda word: word.time)
        item_texts = [word.text for word in item_words]
        times = np.array([word.time for word in item_words], dtype=np.float64)
        token_ids = tokenizer(item_texts, add_special_tokens=False)["input_ids"] if item_texts else []
        counts = np.array([len(ids) for ids in token_ids], dtype=np.int64)
        frames = np.unique(np.asarray(frames_by_item[item.id], dtype=np.int64))
        if len(frames) and frames[0] < 0:
            raise AbawError(f"item {item.id[:120]!r}: frame {int(frames[0])} requested; frames are 0-based")
        item_rows = np.full(int(frames[-1]) + 1 if len(frames) else 0, -1, dtype=np.int64)
        centres = frames / rates[item.id]
        seen: dict[WindowBounds, int] = {}  # consecutive frames mostly share their words: look each bounds up once
        for frame, centre, bounds in zip(frames.tolist(), centres.tolist(), select_windows(times, centres,
                                                                                          span_seconds), strict=True):
            if bounds in seen:
                item_rows[frame] = seen[bounds]
                continue
            fitted = trim_window(bounds, times, counts, centre, budget)  # trimming depends on the centre: not shared
            content = (tuple(item_texts[fitted.first:fitted.marker]), tuple(item_texts[fitted.marker:fitted.stop]))
            item_rows[frame] = contents.setdefault(content, len(contents))
            if fitted == bounds:
                seen[bounds] = int(item_rows[frame])
            else:
                trimmed += 1
        requested += len(frames)
        rows[item.id] = item_rows
    stats = {"items": len(wanted_items), "frames": requested, "distinct_windows": len(contents),
             "trimmed_to_max_tokens": trimmed, "words_from": sources}
    return _Selection(list(contents), rows, stats, skipped)


def build_token_windows(encoder: MarkerTextEncoder, request: FeatureRequest, items: Sequence[Item],
                        transcript_source: str, fps: float | Mapping[str, float], span_seconds: float,
                        frames_by_item: Mapping[str, Sequence[int]]) -> TokenWindows:
    """The fine-tuned path's windows: the same words as `build_text_windows`, tokenised for `encoder` (its tokenizer
    carries the marker) and held as token ids, one entry per distinct window content. Nothing is encoded here; the
    arguments are `build_text_windows`'s, the request's `dtype` the asr's compute precision when words must be
    transcribed (on the encoder's device)."""
    from abaw_bench.harness.runtime.precision import resolve_dtype

    request = replace(request, device=encoder.device, dtype=resolve_dtype(request.dtype, encoder.device))
    selection = _select(request, encoder.tokenizer, items, transcript_source, fps, span_seconds, frames_by_item)
    texts = selection.texts
    ids, positions = tokenize_windows(encoder.tokenizer, encoder.token_id, texts) if texts else ([], [])
    return TokenWindows(texts, selection.rows, selection.skipped,
                        input_ids=[np.asarray(row, dtype=np.int32) for row in ids],
                        markers=np.asarray(positions, dtype=np.int64), stats=selection.stats)


def build_text_windows(request: FeatureRequest, items: Sequence[Item], transcript_source: str,
                       fps: float | Mapping[str, float], span_seconds: float,
                       frames_by_item: Mapping[str, Sequence[int]], *,
                       cache_dir: str | os.PathLike[str] | None = None) -> TextWindows:
    """Encode, with the request's text encoder, the centred text window of every frame in `frames_by_item` (item id
    → 0-based label frames); frame f of an item lies at f / fps seconds, `fps` one rate for every item or a rate per
    item id (its video's own).

    `transcript_source` is DATASET_TRANSCRIPT (the dataset's transcripts only) or an asr encoder name (the dataset's
    transcripts where they have timestamps, that encoder's words for the other items; the request's `data_root`,
    `asr_weights` and `download_root` locate its media and weights). `cache_dir` None = the feature cache (module
    docstring).

    The request's `dtype` is the compute precision of the text and asr encoders ("auto": bf16 on CUDA, fp32 on the
    CPU, as for every extraction; it is part of the cache key), `batch_size` the windows per forward pass (None:
    64), `num_workers` the asr's decode workers. Under torchrun call this on every rank: each encodes its share of
    the missing windows' shards and reads the others' from the cache, so every rank returns the same windows. An
    item whose media give no asr transcript stops with its MediaError, or with `skip_bad` gets windows without words
    and is listed in `skipped`.
    """
    from abaw_bench.harness.progress import progress as reporter
    from abaw_bench.harness.runtime import distributed
    from abaw_bench.harness.runtime.precision import resolve_dtype

    context = distributed.setup(request.device)
    request = replace(request, dtype=resolve_dtype(request.dtype, request.device))
    task, device, dtype, progress = request.task, request.device, request.dtype, request.progress
    encoder = _marker_encoder(request.encoder, request.preset, weights=request.weights, device=device, dtype=dtype,
                              trust_remote_code=request.trust_remote_code)
    selection = _select(request, encoder.tokenizer, items, transcript_source, fps, span_seconds, frames_by_item)
    content_list = selection.contents
    keys = [_content_key(encoder.digest, content) for content in content_list]
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir(task, encoder)
    if context.is_main and not (directory / "cache.json").is_file():
        write_json(directory / "cache.json", {**encoder.recipe, "weights": encoder.weights_source})
    cached = _read_shards(directory, set(keys))
    distributed.barrier(context)  # every rank has read the cache before any rank adds to it: the same `todo` on all
    vectors = np.empty((len(keys), encoder.dim), dtype=np.float32)
    todo = []
    for index, key in enumerate(keys):
        if key in cached:
            vectors[index] = cached[key]
        else:
            todo.append(index)
    texts = selection.texts
    shards = [todo[start:start + SHARD_WINDOWS] for start in range(0, len(todo), SHARD_WINDOWS)]
    mine = shards[context.rank::context.world_size]
    with reporter(sum(map(len, mine)), f"text windows {request.encoder}/{request.preset} {task}", unit="window",
                  enabled=progress and context.is_main and bool(todo)) as bar:
        for chosen in mine:
            vectors[chosen] = _encode(encoder, [texts[i] for i in chosen], request.batch_size or WINDOW_BATCH_SIZE, bar)
            _write_shard(directory, [keys[i] for i in chosen], vectors[chosen])
    if context.world_size > 1 and todo:
        distributed.barrier(context)  # every rank's shards are on disk
        others = [index for position, shard in enumerate(shards) if position % context.world_size != context.rank
                  for index in shard]
        found = _read_shards(directory, {keys[index] for index in others})
        lost = [index for index in others if keys[index] not in found]
        if lost:
            raise AbawError(f"{directory}: {len(lost)} text windows another rank encoded are not in the cache (first: "
                            f"{texts[lost[0]][:80]!r}); is the cache directory shared by every rank?")
        for index in others:
            vectors[index] = found[keys[index]]
    stats = {**selection.stats, "from_cache": len(keys) - len(todo), "encoded": len(todo),
             "encoded_by_this_rank": sum(map(len, mine)), "dtype": dtype, "cache_dir": str(directory)}
    return TextWindows(texts, selection.rows, selection.skipped, dim=encoder.dim, vectors=vectors,
                       fingerprint=encoder.digest[:16], weights_source=encoder.weights_source,
                       is_random=encoder.is_random, stats=stats)
