"""`whisper-large-v3` (modality "asr"): openai-whisper transcription of the whole clip with word timestamps.

The hallmen2025 text branch kept only the first segment of the transcript; here every segment is kept and the words
of all segments are flattened in order. Checkpoints are openai-whisper `.pt` files ({"dims", "model_state_dict"}),
loaded with `whisper.load_model(path)`; the tiny preset is a `whisper.model.Whisper` with tiny `ModelDimensions`
(multilingual vocabulary, so the tokenizer assets shipped in the whisper package apply) saved in the same format.

Batched decoding: `whisper.transcribe` takes one clip at a time, and per 30 s window runs the audio encoder once
per decoding attempt and once more for the word alignment. `forward` runs the same loop for a whole batch of clips:
one batched language-detection pass, then window by window, the clips' current windows decoded together with
`whisper.decode` (grouped by language and prompt) after one batched encoder pass whose output serves every decoding
attempt and the alignment. Every first window starts without a prompt, so a batch of short clips (EMI's average 6.9 s
fits one window) is one batched decode; a long clip goes on window by window, its later windows conditioned on its
own earlier text as in `whisper.transcribe`. Segments, word timings, temperature fallbacks and silence skipping
follow `whisper.transcribe`'s rules (its defaults; word timestamps on); `transcribe_sequentially` is the reference.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import whisper
from abaw_bench.harness import torchfiles
from abaw_bench.harness.atomic import atomic_path
from abaw_bench.harness.encoders import _audio
from abaw_bench.harness.encoders import weights as published
from abaw_bench.harness.encoders._common import (
    RANDOM_WEIGHTS_SOURCE,
    TorchEncoder,
    missing_weights_error,
    seeded,
)
from abaw_bench.harness.encoders.base import EncoderInfo
from whisper.audio import (
    FRAMES_PER_SECOND,
    HOP_LENGTH,
    N_FRAMES,
    N_SAMPLES,
    SAMPLE_RATE,
    log_mel_spectrogram,
    pad_or_trim,
)
from whisper.decoding import DecodingOptions, DecodingResult
from whisper.model import ModelDimensions, Whisper
from whisper.timing import add_word_timestamps
from whisper.tokenizer import Tokenizer, get_tokenizer
from whisper.utils import get_end

PAPER_NAME = "large-v3"
PAPER_DIMS = ModelDimensions(n_mels=128, n_audio_ctx=1500, n_audio_state=1280, n_audio_head=20, n_audio_layer=32,
                             n_vocab=51866, n_text_ctx=448, n_text_state=1280, n_text_head=20, n_text_layer=32)
# n_audio_ctx stays 1500: whisper always pads the log-mel to 30 s (3000 frames → 1500 after the stride-2 conv).
TINY_DIMS = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
                            n_vocab=51865, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=2)
# Random weights produce gibberish whose compression-ratio check would trigger the five temperature fallbacks;
# greedy decoding of at most 16 tokens per 30 s window keeps the tiny preset fast. The paper preset keeps whisper's
# defaults.
DECODE_OPTIONS: dict[str, dict[str, Any]] = {"paper": {}, "tiny": {"temperature": (0.0,), "sample_len": 16}}
# whisper.transcribe's defaults, which the batched path applies the same way.
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
COMPRESSION_RATIO_THRESHOLD = 2.4
LOGPROB_THRESHOLD = -1.0
NO_SPEECH_THRESHOLD = 0.6


class WhisperEncoder(TorchEncoder):
    """Waveform → {"text", "words": [{"word", "start", "end"}], "segments": [...]} for the whole clip."""

    model: Whisper

    def __init__(self, info: EncoderInfo, preset: str, model: Whisper, *, weights_path: Path | None, source: str,
                 language: str | None = None) -> None:
        super().__init__(info, preset, model, weights_path=weights_path, source=source)
        self.language = language

    def cache_params(self) -> dict[str, Any]:
        return {"sample_rate": _audio.SAMPLE_RATE, "word_timestamps": True, "language": self.language,
                "decode": {key: list(value) if isinstance(value, tuple) else value
                           for key, value in DECODE_OPTIONS[self.preset].items()},
                "dims": dataclasses.asdict(self.model.dims)}

    def prepare(self, media: Any) -> torch.Tensor:
        return _audio.as_waveform(media).contiguous()

    def collate(self, prepared: Sequence[torch.Tensor]) -> dict[str, Any]:
        return {"waves": list(prepared)}

    def forward(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        # whisper computes in fp16 only on CUDA; bf16 is not one of its modes, so it maps to fp16 there too.
        fp16 = self.device.startswith("cuda") and self.dtype != "fp32"
        dtype = torch.float16 if fp16 else torch.float32
        mels = [log_mel_spectrogram(wave, self.model.dims.n_mels, padding=N_SAMPLES) for wave in batch["waves"]]
        clips = [_Clip(mel, mel.shape[-1] - N_FRAMES, language,
                       get_tokenizer(self.model.is_multilingual, num_languages=self.model.num_languages,
                                     language=language, task="transcribe"))
                 for mel, language in zip(mels, self._languages(mels, dtype), strict=True)]
        while active := [clip for clip in clips if not clip.done]:
            # Windows decode together when their decoding starts alike: every first window (no prompt yet), and
            # later windows whose prompts happen to be equal.
            groups: dict[tuple[str, tuple[int, ...]], list[_Clip]] = {}
            for clip in active:
                groups.setdefault((clip.language, tuple(clip.prompt)), []).append(clip)
            for (language, prompt), group in groups.items():
                self._next_windows(group, language, list(prompt), fp16, dtype)
        return [_output(clip.tokenizer.decode(clip.tokens), clip.segments) for clip in clips]

    def transcribe_sequentially(self, wave: torch.Tensor) -> dict[str, Any]:
        """`whisper.transcribe` on one clip: what `forward` reproduces for a whole batch (the reference its tests
        and benchmark compare against)."""
        fp16 = self.device.startswith("cuda") and self.dtype != "fp32"
        result = whisper.transcribe(self.model, wave, word_timestamps=True, fp16=fp16, language=self.language,
                                    verbose=None, **DECODE_OPTIONS[self.preset])
        return _output(result["text"], result["segments"])

    def _languages(self, mels: list[torch.Tensor], dtype: torch.dtype) -> list[str]:
        """Each clip's language as `whisper.transcribe` picks it: given, English-only model, or detected on the
        first 30 s of the silence-padded log-mel (one batched pass)."""
        if self.language is not None:
            return [self.language] * len(mels)
        if not self.model.is_multilingual:
            return ["en"] * len(mels)
        windows = torch.stack([pad_or_trim(mel, N_FRAMES) for mel in mels]).to(self.model.device).to(dtype)
        _, probabilities = self.model.detect_language(windows)
        return [max(probs, key=probs.get) for probs in probabilities]

    def _next_windows(self, clips: list[_Clip], language: str, prompt: list[int], fp16: bool,
                      dtype: torch.dtype) -> None:
        """Decode each clip's next window in one batch: one encoder pass serves every decoding attempt and the
        word alignment (`whisper.transcribe` encodes a window once per attempt and once more to align)."""
        windows = [clip.window() for clip in clips]
        segments = torch.stack([segment for segment, _ in windows]).to(self.model.device).to(dtype)
        features = self.model.encoder(segments)
        results = self._decode(features, language, prompt, fp16)
        for row, (clip, (_, size), result) in enumerate(zip(clips, windows, results, strict=True)):
            clip.advance(result, size, segments[row], _EncodedClip(self.model, features[row]))

    def _decode(self, features: torch.Tensor, language: str, prompt: list[int], fp16: bool) -> list[DecodingResult]:
        """`whisper.transcribe`'s decode-with-fallback, batched: the rows that fail at one temperature are decoded
        again together at the next."""
        options = dict(DECODE_OPTIONS[self.preset])
        temperature = options.pop("temperature", TEMPERATURES)
        temperatures = (temperature,) if isinstance(temperature, (int, float)) else tuple(temperature)
        results: list[DecodingResult | None] = [None] * features.shape[0]
        pending = list(range(features.shape[0]))
        for value in temperatures:
            kwargs = {**options, "language": language, "fp16": fp16, "prompt": prompt}
            if value > 0:
                kwargs.pop("beam_size", None)
                kwargs.pop("patience", None)
            else:
                kwargs.pop("best_of", None)
            rows = features if len(pending) == features.shape[0] else features[pending]
            decoded = whisper.decode(self.model, rows, DecodingOptions(**kwargs, temperature=value))
            for row, result in zip(pending, decoded, strict=True):
                results[row] = result
            pending = [row for row, result in zip(pending, decoded, strict=True) if _needs_fallback(result)]
            if not pending:
                break
        return [result for result in results if result is not None]


class _EncodedClip:
    """The Whisper model as `whisper.timing.find_alignment` calls it, with the window's encoder output already
    computed: the alignment then runs only the decoder."""

    def __init__(self, model: Whisper, features: torch.Tensor) -> None:
        self._model = model
        self._features = features

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def __call__(self, mel: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self._model.decoder(tokens, self._features[None])


def _needs_fallback(result: DecodingResult) -> bool:
    """`whisper.transcribe`'s rule: too repetitive or too improbable, unless it is silence."""
    if result.no_speech_prob > NO_SPEECH_THRESHOLD and result.avg_logprob < LOGPROB_THRESHOLD:
        return False
    return result.compression_ratio > COMPRESSION_RATIO_THRESHOLD or result.avg_logprob < LOGPROB_THRESHOLD


@dataclasses.dataclass
class _Clip:
    """One clip's transcription state, kept and advanced by `whisper.transcribe`'s rules (seek in mel frames,
    the tokens and segments so far, where the prompt starts, the end of the last word)."""

    mel: torch.Tensor  # the whole clip's log-mel, followed by 30 s of silence
    frames: int  # content frames
    language: str
    tokenizer: Tokenizer
    seek: int = 0
    tokens: list[int] = dataclasses.field(default_factory=list)
    segments: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    prompt_from: int = 0
    last_speech: float = 0.0

    @property
    def done(self) -> bool:
        return self.seek >= self.frames

    @property
    def prompt(self) -> list[int]:
        return self.tokens[self.prompt_from:]

    def window(self) -> tuple[torch.Tensor, int]:
        size = min(N_FRAMES, self.frames - self.seek)
        return pad_or_trim(self.mel[:, self.seek:self.seek + size], N_FRAMES), size

    def advance(self, result: DecodingResult, size: int, mel_segment: torch.Tensor, model: Any) -> None:
        """One pass of `whisper.transcribe`'s window loop (word timestamps on, no hallucination skipping)."""
        tokenizer = self.tokenizer
        if result.no_speech_prob > NO_SPEECH_THRESHOLD and not result.avg_logprob > LOGPROB_THRESHOLD:
            self.seek += size  # a silent window
            return
        window_start = self.seek
        time_offset = float(window_start * HOP_LENGTH / SAMPLE_RATE)
        input_stride = N_FRAMES // model.dims.n_audio_ctx  # mel frames per output token: 2
        time_precision = input_stride * HOP_LENGTH / SAMPLE_RATE  # seconds per output token: 0.02
        tokens = torch.tensor(result.tokens)

        def new_segment(start: float, end: float, piece: torch.Tensor) -> dict[str, Any]:
            text_tokens = [token for token in piece.tolist() if token < tokenizer.eot]
            return {"seek": window_start, "start": start, "end": end, "text": tokenizer.decode(text_tokens),
                    "tokens": piece.tolist()}

        current: list[dict[str, Any]] = []
        timestamp_tokens = tokens.ge(tokenizer.timestamp_begin)
        single_timestamp_ending = timestamp_tokens[-2:].tolist() == [False, True]
        consecutive = (torch.where(timestamp_tokens[:-1] & timestamp_tokens[1:])[0] + 1).tolist()
        if consecutive:
            last_slice = 0
            for current_slice in consecutive + ([len(tokens)] if single_timestamp_ending else []):
                piece = tokens[last_slice:current_slice]
                start = time_offset + (piece[0].item() - tokenizer.timestamp_begin) * time_precision
                end = time_offset + (piece[-1].item() - tokenizer.timestamp_begin) * time_precision
                current.append(new_segment(start, end, piece))
                last_slice = current_slice
            if single_timestamp_ending:
                self.seek += size  # nothing is said after the last timestamp
            else:  # the last segment is unfinished: go on from its start
                self.seek += (tokens[last_slice - 1].item() - tokenizer.timestamp_begin) * input_stride
        else:
            duration = size * HOP_LENGTH / SAMPLE_RATE
            timestamps = tokens[timestamp_tokens.nonzero().flatten()]
            if len(timestamps) > 0 and timestamps[-1].item() != tokenizer.timestamp_begin:
                duration = (timestamps[-1].item() - tokenizer.timestamp_begin) * time_precision
            current.append(new_segment(time_offset, time_offset + duration, tokens))
            self.seek += size
        add_word_timestamps(segments=current, model=model, tokenizer=tokenizer, mel=mel_segment, num_frames=size,
                            last_speech_timestamp=self.last_speech)
        if not single_timestamp_ending:
            last_word_end = get_end(current)
            if last_word_end is not None and last_word_end > time_offset:
                self.seek = round(last_word_end * FRAMES_PER_SECOND)
        last_word_end = get_end(current)
        if last_word_end is not None:
            self.last_speech = last_word_end
        for segment in current:  # instantaneous or empty segments are cleared
            if segment["start"] == segment["end"] or segment["text"].strip() == "":
                segment.update(text="", tokens=[], words=[])
        self.segments.extend(current)
        self.tokens.extend(token for segment in current for token in segment["tokens"])
        if result.temperature > 0.5:  # a high-temperature window does not prompt the next one
            self.prompt_from = len(self.tokens)


def _output(text: str, segments: list[dict[str, Any]]) -> dict[str, Any]:
    """The cached transcript: text, segments (start, end, text) and the words of all segments in order."""
    return {"text": text.strip(),
            "words": [{"word": word["word"], "start": float(word["start"]), "end": float(word["end"])}
                      for segment in segments for word in segment.get("words", [])],
            "segments": [{"start": float(segment["start"]), "end": float(segment["end"]), "text": segment["text"]}
                         for segment in segments]}


def _random_model(preset: str, device: str) -> Whisper:
    # Whisper's constructor builds a sparse buffer, which the meta device cannot hold: build real tensors instead.
    with seeded(), torch.device("cpu" if device == "meta" else device):
        model = Whisper(PAPER_DIMS if preset == "paper" else TINY_DIMS)
        # The decoder's positional embedding is allocated with torch.empty (whisper expects a checkpoint to fill it):
        # left uninitialised, the random model, its fingerprint and its transcripts would differ between processes.
        torch.nn.init.normal_(model.decoder.positional_embedding, std=0.01)
    return model


def build_random(info: EncoderInfo, preset: str, *, device: str = "cpu", **options: Any) -> WhisperEncoder:
    return WhisperEncoder(info, preset, _random_model(preset, device), weights_path=None,
                          source=RANDOM_WEIGHTS_SOURCE, **options)


def load(info: EncoderInfo, preset: str, weights: str | Path | None, *, trust_remote_code: bool,
         download_root: str | Path | None, **options: Any) -> WhisperEncoder:
    """A whisper .pt file (`weights`), or for the paper preset `large-v3.pt` in `download_root`, downloaded there
    first when missing and downloads are on (harness/encoders/weights.py)."""
    if preset == "tiny" and weights is None:
        return build_random(info, preset, **options)
    (checkpoint,) = published.sources(info.name)
    root = Path(download_root).expanduser() if download_root is not None else published.default_whisper_root()
    path = Path(weights).expanduser() if weights is not None else root / checkpoint.filename
    if weights is None and not path.is_file() and not published.is_offline():
        path = published.fetch_whisper(checkpoint, root)
    if not path.is_file():
        raise missing_weights_error(
            info, str(path),
            f"Download {checkpoint.url} on a machine with internet (`abaw-bench weights --system S --task T "
            f"--download`) and copy it to {root / checkpoint.filename} (or pass --download-root DIR holding "
            f"{checkpoint.filename}, or --weights FILE.pt), or unset HF_HUB_OFFLINE here to download on first use.")
    with torchfiles.reading(path, "whisper checkpoint"):  # whisper.load_model is torch.load(weights_only=True)
        model = whisper.load_model(str(path), device="cpu")
    if preset == "paper":
        # Loading from a path skips whisper's per-model alignment heads; large-v3's are needed for good word timing.
        model.set_alignment_heads(whisper._ALIGNMENT_HEADS[PAPER_NAME])
    return WhisperEncoder(info, preset, model, weights_path=path, source=f"checkpoint {path}", **options)


def save(encoder: WhisperEncoder, destination: Path) -> Path:
    """A whisper checkpoint file; `destination` may be a directory (→ DIR/whisper-<preset>.pt) or a .pt path."""
    path = destination / f"whisper-{encoder.preset}.pt" if destination.suffix != ".pt" else destination
    state = {name: tensor.detach().cpu() for name, tensor in encoder.model.state_dict().items()}
    with atomic_path(path) as temporary:
        torch.save({"dims": dataclasses.asdict(encoder.model.dims), "model_state_dict": state}, temporary)
    return path
