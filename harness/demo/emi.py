"""A small EMI dataset in the official layout with a planted, documented signal in every modality.

Why it looks like this: systems must be able to learn on it in minutes on 2 CPU cores, a shuffled-label control must
not, and the modalities must rank as on the real data (hallmen2025, Table 1, measured val Pearson text .52 > audio .38 >
vision .14). The demo's signals are deliberately stronger than the real ones (80 val clips make r ≈ .14
indistinguishable from chance) but keep that order.

Clips: the ids of `harness/splits/emi-demo-v1.json` (160 train from 00000, 80 val from 08072, 80 test from 12660),
durations 1–8 s, skewed short (1 + 7·Beta(1.1, 5) s, mean ≈ 2.3 s).

Labels: three latent factors z ~ N(0, I) mixed into six emotion latents L = z·MIXING + 0.7·ε (standardised), the
labels y = clip(0.32·max(L − 0.3 + 0.25·ε', 0), 0, 1) rounded to 4 decimals — about 60 % exact zeros per emotion,
like the real annotator fractions that are mostly near zero.

Each modality sees its own noisy copy L + σ·ε of the latent (σ in `NOISE`) and renders it:
- text (`transcripts/<id>.json`, standing in for Whisper output; the real release has no transcripts): ~3 words
  per second; the share of emotion words (`EMOTION_WORDS`) rises with the total positive intensity and is split
  over the emotions ∝ intensity² (expected counts, stochastically rounded); the rest filler. Word timestamps
  spread over the clip.
- audio (`audio/<id>.mp3`, 16 kHz mono, 32 kbit/s): a sequence of 0.25 s syllable slots, each either a buzzy
  "voice" (sawtooth) or one emotion's sine tone (`TONE_HZ`); the share of tone slots follows the intensity like the
  transcript's emotion-word share; light white noise; peak-normalised. Time-multiplexing the tones (instead of mixing
  all of them into every frame) keeps the cue linear in a random-weight encoder's mean frame.
- vision (`face_images/<id>/NNNNN.jpg`, 48×48 JPEG at 6 fps): a drawn face with a random skin tone and background
  (identity nuisance); each emotion tints one face region in its own colour with strength ∝ intensity; per-frame
  pixel noise (σ = 24 grey levels), flicker and ±1 px jitter.
- provided features: `vit/<id>.pkl` (one row per face frame, T×384 float32) and `wav2vec2/<id>.pkl` (T×768 float32,
  5 rows per second — the real features are denser; the demo keeps files small) are a fixed random projection of
  L + σ·ε plus per-row noise, scaled to values of about ±1, pickled numpy arrays as the organisers ship them.
Test clips get the same media under `test_data/` (including `vit/` and `wav2vec2/`, so feature baselines can write
a test submission) and no labels. The demo omits `raw/<id>.mp4`: no system here reads raw video, and a video
encode per clip would add to a generation time already dominated by the mp3 encoder.

Measured strength (seed 0; `generate` recomputes it and stores it in the demo marker): mean over emotions of the val
Pearson r of a ridge probe (alpha = 10), trained on the train clips, on simple per-clip statistics — text:
emotion-word rates; audio: log power at each tone frequency relative to the total; vision: mean colour of each face
region; pickles: the mean-pooled rows:
    text .70, audio .47, vision .43, wav2vec2 pickle .57, vit pickle .38;
the same probes trained on shuffled train labels stay within ±.13.
Through the harness's encoders (mean-pooled outputs, same ridge probe, best alpha): real all-MiniLM-L6-v2 on the
transcript text .57; tiny random-weight wav2vec2-vad on the mp3 .40; tiny random-weight ViT on the face crops .34
(the ViT figure from demo v1). Trained tiny heads (tests/systems, seed 0, lr 5e-3): hallmen2025 text .62,
audio .27, vision .29 — random-weight audio and vision features come out level, as with the probes.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.media import SAMPLE_RATE
from abaw_bench.harness.tasks.emi import DEMO_MANIFEST, EMOTIONS, LABEL_FILES, LABEL_HEADER, resolve_manifest

FACE_FPS = 6
FACE_SIZE = 48
WAV2VEC2_ROWS_PER_SECOND = 5
VIT_DIM, WAV2VEC2_DIM = 384, 768
MP3_BIT_RATE = 32_000
WORDS_PER_SECOND = 3.0

# Rows: latent factors (pleasant calm, playful arousal, effortful distress); columns: EMOTIONS.
MIXING = np.array([
    [0.9, 0.2, 0.1, -0.2, 0.2, 0.8],
    [0.1, 0.9, 0.3, -0.3, 0.9, 0.6],
    [0.2, -0.3, 0.9, 0.8, 0.1, -0.3],
])
# Observation noise σ of each rendering's copy of the latent (text < audio < vision: the paper's order).
NOISE = {"text": 0.3, "audio": 0.8, "vision": 1.8, "vit": 1.6, "wav2vec2": 0.9}
FEATURE_ROW_NOISE = 2.0  # per-row noise of the provided feature pickles, relative to the unit projection
# Overall scale of the pickles' values, so rows spread about ±1 like real encoder outputs. Unscaled (±5) they
# saturated the baselines' tanh and the LSTM gates from the first step; a scale leaves the probes unchanged.
FEATURE_SCALE = 0.2

EMOTION_WORDS = {
    "Admiration": ("amazing", "impressive", "brilliant", "admire", "respect", "incredible"),
    "Amusement": ("hilarious", "funny", "haha", "laughing", "silly", "ridiculous"),
    "Determination": ("determined", "focused", "persevere", "fight", "committed", "unstoppable"),
    "Empathic Pain": ("sorry", "hurts", "painful", "sad", "awful", "suffering"),
    "Excitement": ("thrilled", "excited", "wow", "pumped", "awesome", "exhilarating"),
    "Joy": ("joy", "happy", "wonderful", "delighted", "lovely", "glad"),
}
FILLER_WORDS = (
    "so", "I", "think", "this", "is", "the", "and", "really", "just", "like", "you", "know", "it", "was", "we",
    "then", "that", "okay", "well", "um", "there", "a", "to", "of", "my", "they", "what", "right", "yeah", "here",
)
TONE_HZ = (330.0, 523.0, 784.0, 1175.0, 1760.0, 2637.0)  # one per emotion, apart enough for mp3 and a probe
TONE_AMPLITUDE = 0.5
VOICE_AMPLITUDE = 0.3
NOISE_AMPLITUDE = 0.03
AUDIO_SLOT_SECONDS = 0.25  # a syllable
# Face regions (row slice, column slice) tinted per emotion, and each emotion's tint direction in RGB.
REGIONS = (
    (slice(8, 16), slice(14, 34)),   # forehead
    (slice(24, 32), slice(10, 19)),  # left cheek
    (slice(24, 32), slice(29, 38)),  # right cheek
    (slice(32, 38), slice(17, 31)),  # mouth
    (slice(17, 23), slice(13, 35)),  # eyes
    (slice(38, 44), slice(18, 30)),  # chin
)
TINTS = np.array([[1.0, 0.8, 0.1], [0.2, 1.0, 0.3], [0.9, 0.1, 0.1], [0.1, 0.3, 1.0], [1.0, 0.2, 0.9], [1.0, 1.0, 0.6]])
TINT_STRENGTH = 34.0
PIXEL_NOISE = 24.0


def generate(out: Path, seed: int) -> dict[str, Any]:
    """Write the demo into `out` and return its description (noise levels, measured probe strengths).

    Files are written in place, not one by one atomically: callers (`ensure_demo`, `abaw-bench demo`) generate
    into a staging directory and rename the finished dataset into place.
    """
    out = Path(out)
    manifest = resolve_manifest(DEMO_MANIFEST)
    splits = {split: list(ids) for split, ids in manifest.splits.items()}
    ids = [clip for split in ("train", "val", "test") for clip in splits[split]]
    n = len(ids)
    rng = np.random.default_rng([seed, 0])

    latent = rng.standard_normal((n, MIXING.shape[0])) @ MIXING + 0.7 * rng.standard_normal((n, len(EMOTIONS)))
    latent = (latent - latent.mean(0)) / latent.std(0)
    labels = np.round(np.clip(0.32 * np.maximum(latent - 0.3 + 0.25 * rng.standard_normal(latent.shape), 0), 0, 1), 4)
    durations = np.round(1.0 + 7.0 * rng.beta(1.1, 5.0, n), 2)
    observed = {kind: latent + sigma * rng.standard_normal(latent.shape) for kind, sigma in NOISE.items()}
    vit_projection = rng.standard_normal((len(EMOTIONS), VIT_DIM)).astype(np.float32)
    wav2vec2_projection = rng.standard_normal((len(EMOTIONS), WAV2VEC2_DIM)).astype(np.float32)

    stats: dict[str, list[np.ndarray]] = {kind: [] for kind in ("text", "audio", "vision", "vit", "wav2vec2")}
    for i, clip in enumerate(ids):
        base = out / "test_data" if i >= n - len(splits["test"]) else out
        clip_rng = np.random.default_rng([seed, 1, i])
        stats["text"].append(_write_transcript(base / "transcripts" / f"{clip}.json", observed["text"][i],
                                               float(durations[i]), clip_rng))
        stats["audio"].append(_write_audio(base / "audio" / f"{clip}.mp3", observed["audio"][i],
                                           float(durations[i]), clip_rng))
        frames = max(1, round(FACE_FPS * float(durations[i])))
        stats["vision"].append(_write_faces(base / "face_images" / clip, observed["vision"][i], frames, clip_rng))
        stats["vit"].append(_write_features(base / "vit" / f"{clip}.pkl", observed["vit"][i], vit_projection,
                                            frames, clip_rng))
        rows = max(1, round(WAV2VEC2_ROWS_PER_SECOND * float(durations[i])))
        stats["wav2vec2"].append(_write_features(base / "wav2vec2" / f"{clip}.pkl", observed["wav2vec2"][i],
                                                 wav2vec2_projection, rows, clip_rng))

    position = {clip: i for i, clip in enumerate(ids)}
    for split, filename in LABEL_FILES.items():
        lines = [",".join(LABEL_HEADER)]
        lines += [clip + "," + ",".join(f"{v:.4f}" for v in labels[position[clip]]) for clip in splits[split]]
        (out / filename).write_text("\n".join(lines) + "\n", encoding="utf-8")

    train = np.array([position[c] for c in splits["train"]])
    val = np.array([position[c] for c in splits["val"]])
    probe = {kind: _probe(np.stack(rows), labels, train, val, np.random.default_rng([seed, 2])) for kind, rows in
             stats.items()}
    return {
        "task": "emi",
        "manifest": {"version": manifest.version, "sha256": manifest.sha256(),
                     "clips": {split: len(clip_ids) for split, clip_ids in splits.items()}},
        "media": ["audio/<id>.mp3 (16 kHz mono)", "face_images/<id>/NNNNN.jpg (48x48, 6 fps)",
                  "vit/<id>.pkl (T x 384 float32, one row per face frame)",
                  "wav2vec2/<id>.pkl (T x 768 float32, 5 rows per second)",
                  "transcripts/<id>.json (Whisper-like text + word timestamps; not part of the real release)",
                  "test media under test_data/, no test labels"],
        "omitted": ["raw/<id>.mp4: no system here reads raw video"],
        "observation_noise_sigma": NOISE,
        "label_zero_fraction": round(float((labels == 0).mean()), 4),
        "probe_val_mean_pearson": {kind: result["real"] for kind, result in probe.items()},
        "probe_val_mean_pearson_shuffled_labels": {kind: result["shuffled"] for kind, result in probe.items()},
        "probe": "ridge on per-clip statistics (text: emotion-word rates; audio: log tone power; vision: region "
                 "colours; pickles: mean-pooled rows), fit on train, mean Pearson over emotions on val",
        "note": "DEMO data: synthetic signals, stronger than the real ones but ordered like them (text > audio > "
                "vision); figures on it say nothing about the real benchmark.",
    }


def _write_transcript(path: Path, intensity: np.ndarray, duration: float, rng: np.random.Generator) -> np.ndarray:
    """Whisper-shaped JSON; returns the emotion-word rate per emotion (the text probe's statistic)."""
    positive = np.maximum(intensity, 0.0)
    n_words = max(3, round(duration * WORDS_PER_SECOND + rng.normal(0.0, 0.7)))
    emotion_probability = 0.8 * (1.0 - np.exp(-1.2 * positive.sum()))
    share = positive**2 / (positive**2).sum() if positive.sum() > 0 else np.full(len(EMOTIONS), 1 / len(EMOTIONS))
    # Stochastic rounding of the expected counts: the rate tracks the intensity without multinomial noise on top.
    counts = np.floor(n_words * emotion_probability * share + rng.random(len(EMOTIONS))).astype(int)
    emotion_slots = np.repeat(np.arange(len(EMOTIONS)), counts)[:n_words]
    vocabularies = [EMOTION_WORDS[EMOTIONS[e]] for e in emotion_slots] + [FILLER_WORDS] * (n_words - emotion_slots.size)
    words = [vocabularies[k][int(rng.integers(len(vocabularies[k])))] for k in rng.permutation(n_words)]
    slot = (duration - 0.2) / n_words
    timed = []
    for k, word in enumerate(words):
        start = 0.1 + k * slot + rng.uniform(0.0, 0.15 * slot)
        timed.append({"word": word, "start": round(start, 2), "end": round(start + 0.75 * slot, 2)})
    text = " ".join(words)
    transcript = {"text": text[0].upper() + text[1:] + ".", "words": timed}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(transcript, indent=1) + "\n", encoding="utf-8")
    return np.bincount(emotion_slots, minlength=len(EMOTIONS)) / n_words


def _write_audio(path: Path, intensity: np.ndarray, duration: float, rng: np.random.Generator) -> np.ndarray:
    """A 16 kHz mono mp3; returns the log power at each tone frequency relative to the total (the audio probe).

    The clip is a sequence of syllable slots (`AUDIO_SLOT_SECONDS`, resolved by any encoder's 20 ms frames); each
    slot carries either the buzzy "voice" or one emotion's tone, and the share of tone slots per emotion follows the
    intensity like the emotion-word share of the transcript. Time-multiplexing (rather than mixing every tone into
    every frame) makes each slot's frames switch between a few very different sounds, so the clip's mean frame of
    even a random-weight convolutional encoder is close to linear in the emotion shares.
    """
    t = np.arange(round(duration * SAMPLE_RATE), dtype=np.float32) / SAMPLE_RATE
    n_slots = max(2, round(duration / AUDIO_SLOT_SECONDS))
    kinds = _emotion_slots(intensity, n_slots, rng)
    buzz = 2.0 * ((rng.uniform(100.0, 220.0) * t) % 1.0) - 1.0  # a sawtooth: a voice-like harmonic series
    signal = NOISE_AMPLITUDE * rng.standard_normal(t.size, dtype=np.float32)
    edges = np.linspace(0, t.size, n_slots + 1).astype(int)
    for kind, start, stop in zip(kinds, edges[:-1], edges[1:], strict=True):
        envelope = np.sqrt(np.sin(np.pi * np.arange(stop - start) / (stop - start)))  # no clicks at slot edges
        if kind < 0:
            signal[start:stop] += VOICE_AMPLITUDE * envelope * buzz[start:stop]
        else:
            phase = rng.uniform(0, 2 * np.pi)
            signal[start:stop] += TONE_AMPLITUDE * envelope * np.sin(2 * np.pi * TONE_HZ[kind] * t[start:stop] + phase)
    signal = 0.6 * signal / np.abs(signal).max()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_encode_mp3(signal))
    spectrum = np.abs(np.fft.rfft(signal)) ** 2
    frequencies = np.fft.rfftfreq(signal.size, 1.0 / SAMPLE_RATE)
    band = [spectrum[np.abs(frequencies - f) < 15.0].sum() for f in TONE_HZ]
    return np.log(np.asarray(band) + 1e-9) - np.log(spectrum.sum())


def _emotion_slots(intensity: np.ndarray, n_slots: int, rng: np.random.Generator) -> np.ndarray:
    """Per slot, the emotion index it expresses or -1 (neutral), in random order; the share of emotional slots
    rises with the total positive intensity and is split over the emotions ∝ intensity² (expected counts,
    stochastically rounded, as for the transcript's emotion words)."""
    positive = np.maximum(intensity, 0.0)
    emotional = 0.8 * (1.0 - np.exp(-1.2 * positive.sum()))
    share = positive**2 / (positive**2).sum() if positive.sum() > 0 else np.full(len(EMOTIONS), 1 / len(EMOTIONS))
    counts = np.floor(n_slots * emotional * share + rng.random(len(EMOTIONS))).astype(int)
    slots = np.repeat(np.arange(len(EMOTIONS)), counts)[:n_slots]
    return np.concatenate([slots, np.full(n_slots - slots.size, -1)])[rng.permutation(n_slots)]


def _encode_mp3(signal: np.ndarray) -> bytes:
    """MP3 via PyAV's libmp3lame. Without the ID3 tag (which names the FFmpeg version) the bytes depend only on the
    samples and the encoder settings, so generation is byte-for-byte deterministic."""
    import av  # deferred: only demo generation encodes audio

    samples = signal.astype(np.float32)[None]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp3", options={"id3v2_version": "0"}) as container:
        # compression_level 9 is LAME's fastest mode: 2.5× faster here than the default, at the same size.
        stream = container.add_stream("libmp3lame", rate=SAMPLE_RATE, layout="mono",
                                      options={"compression_level": "9"})
        stream.bit_rate = MP3_BIT_RATE
        for start in range(0, samples.shape[1], 1152):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 1152]), format="fltp",
                                               layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def _write_faces(folder: Path, intensity: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    """48×48 JPEG face crops; returns the mean colour of each tinted region over the frames (the vision probe)."""
    from PIL import Image  # deferred: only demo generation draws images

    y, x = np.mgrid[0:FACE_SIZE, 0:FACE_SIZE]
    face = ((y - 26) / 19.0) ** 2 + ((x - 24) / 15.0) ** 2 <= 1.0
    image = np.empty((FACE_SIZE, FACE_SIZE, 3))
    image[:] = rng.uniform(50.0, 130.0)
    image[face] = np.array([200.0, 150.0, 125.0]) * rng.uniform(0.65, 1.1)
    image[18:22, 16:21] = image[18:22, 27:32] = 40.0
    image[34:36, 19:29] = 70.0
    for region, tint, value in zip(REGIONS, TINTS, intensity, strict=True):
        image[region] += TINT_STRENGTH * value * tint
    shifted = np.stack([np.roll(image, tuple(shift), axis=(0, 1)) for shift in rng.integers(-1, 2, size=(frames, 2))])
    flicker = rng.uniform(0.9, 1.1, size=(frames, 1, 1, 1))
    noise = PIXEL_NOISE * rng.standard_normal(shifted.shape, dtype=np.float32)
    pixels = np.clip(shifted * flicker + noise, 0, 255).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(frames):
        Image.fromarray(pixels[k]).save(folder / f"{k:05d}.jpg", format="JPEG", quality=90)
    return np.concatenate([pixels[:, rows, cols].mean(axis=(0, 1, 2)) for rows, cols in REGIONS])


def _write_features(path: Path, intensity: np.ndarray, projection: np.ndarray, rows: int,
                    rng: np.random.Generator) -> np.ndarray:
    """A pickled (rows × D) float32 array like the organisers' features; returns its mean row (the pickle probe)."""
    noise = FEATURE_ROW_NOISE * rng.standard_normal((rows, projection.shape[1]), dtype=np.float32)
    features = np.float32(FEATURE_SCALE) * (intensity.astype(np.float32) @ projection + noise)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(features, protocol=4))
    return features.mean(0)


def _probe(features: np.ndarray, labels: np.ndarray, train: np.ndarray, val: np.ndarray,
           rng: np.random.Generator, alpha: float = 10.0) -> dict[str, float]:
    """Val mean Pearson of a ridge probe fit on train, with true and with shuffled train labels."""
    mean, std = features[train].mean(0), features[train].std(0) + 1e-9
    x_train, x_val = (features[train] - mean) / std, (features[val] - mean) / std
    results = {}
    for name, targets in (("real", labels[train]), ("shuffled", labels[train][rng.permutation(len(train))])):
        centred = targets - targets.mean(0)
        # the dual form solves an N×N system, cheaper than D×D for the wide feature pickles
        dual = np.linalg.solve(x_train @ x_train.T + alpha * np.eye(len(train)), centred)
        results[name] = round(_mean_pearson(x_val @ (x_train.T @ dual), labels[val]), 3)
    return results


def _mean_pearson(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Mean over columns of Pearson's r; a constant column counts as r = 0."""
    p = predictions - predictions.mean(0)
    t = targets - targets.mean(0)
    denominator = np.sqrt((p**2).sum(0) * (t**2).sum(0))
    r = np.divide((p * t).sum(0), denominator, out=np.zeros(p.shape[1]), where=denominator > 0)
    return float(r.mean())
