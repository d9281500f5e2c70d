"""The one-shot GPU check: everything a first run on a CUDA GPU exercises, with figures, in one JSON report.

Run on a machine with one CUDA GPU (under 8 minutes on an H100/H200: nothing starts after 6.5 minutes):

    python benchmarks/gpu_check.py --out gpu_check.json [--emi-root /data/hume-vidmimic2]

For an EMI estimate from measured figures only, prefetch the paper weights first
(`abaw-bench weights --system hallmen2025 --task emi --download`) and give the EMI release with --emi-root.

Checks, each reported with its figures and pass/fail:
  profile      `profile` of vit-h14 (8 face crops per item) and wav2vec2-vad (4 s clips) at paper size with random
               weights, in fp32, TF32 and bf16 eager and bf16 compiled (the dtype extraction and training use; one
               compile per encoder keeps the check inside its time budget), at batch 8 and 32: samples/s, MFU against
               the measured matmul peak and the GPU's datasheet peak, peak memory, compile time, graph breaks.
  lstm         a packed LSTM(1027, 1027, 2) head under bf16 autocast against fp32: output dtype, gradient agreement
               (the head runs its LSTM in fp32; a bare nn.LSTM's dtype under autocast is shown beside it).
  run_resume   a tiny demo `run --device cuda` (hallmen2024 audio-global, 2 epochs), then the same with `--resume`.
  ddp          a 1-process nccl DistributedDataParallel fine-tuning of the tiny wav2vec2-vad (trainable: layerdrop
               off) with an LSTM head, 8 steps under bf16 autocast.
  extraction   2,000 synthetic 224 px JPEG face crops through `extract`'s pipeline with ViT-H/14 (paper size, random
               weights) in bf16 at `extract`'s default images per forward pass, with 0, 2 and the default number of
               decode workers: images/s (JPEG decoding included) and the share of the wall time the device computes.
  wav2vec2_modules  the custom wav2vec2 modules (time-major feature encoder, cached positional convolution)
               against transformers' stock ones on CUDA: largest output difference and time.
  emi_estimate the time to extract EMI's features for every modality on this GPU. Each rate is measured through
               `extract`'s own pipeline at its default batch sizes and decode workers, decoding included: face crops
               from the extraction check; wav2vec2-vad, whisper-large-v3 and gte-base on a sample of EMI clips (the
               release given by --emi-root, else the EMI demo: mp3 audio and transcripts in the release's layout).
               The report says, per modality, whether the weights were the published ones (used when found on this
               machine; nothing is downloaded during the check) or random, and which totals were measured (clip counts
               from --emi-root's manifest, per-clip audio length and crop count from the sample) or taken from the
               release's published sizes. Whisper with random weights never ends a transcript by itself: its
               decoding is then greedy for a fixed number of tokens, stated in the report.

Targets (also in the README's benchmark section): bf16 MFU >= 0.45 of the datasheet peak for ViT-H/14 at its best
batch; EMI feature extraction for all modalities in <= 15 minutes on one H100.

On a machine without CUDA it prints one line and exits 0, the report saying "skipped: no CUDA device". `--smoke`
runs every check on the CPU with tiny presets and small sizes, to test this script itself (its figures mean nothing).
The exit code is 0 when every check passed, 1 otherwise; a check that fails records its error and the rest still run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

TARGET_VIT_MFU = 0.45  # bf16, of the datasheet peak, ViT-H/14 at its best batch
TARGET_EMI_MINUTES = 15.0
# No check or profile configuration starts after this (each is skipped and recorded); the 90 s left before 8 minutes
# are for the last one started to end (a guess: no GPU was at hand to time the longest piece, a ViT-H/14 compile).
TIME_BUDGET_SECONDS = 6.5 * 60
# The EMI release's published sizes (used without --emi-root): 8072 + 4588 + 4582 clips of about 15 + 9 + 9 hours.
# Face crops come at about 6 per second of video (the dataset's crop rate as its users describe it; not confirmed by
# the organisers).
EMI_CLIPS = 8072 + 4588 + 4582
EMI_SECONDS = (15 + 9 + 9) * 3600
EMI_FACE_RATE = 6.0
WHISPER_TOKENS_PER_CLIP = 48  # random weights only: greedy tokens per clip (a 7 s utterance with timestamps)


@dataclass(frozen=True)
class Scale:
    """Sizes of the checks: `full` on a GPU, `smoke` on the CPU to test the script."""

    device: str
    preset: str
    dtypes: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    frames: int
    compile_encoders: tuple[str, ...]
    lstm_width: int
    lstm_steps: int
    images: int
    workers: tuple[int | None, ...]  # None: extract's default for the device
    emi_sample: int  # EMI clips extracted per modality for the estimate
    compile_dtype: str


FULL = Scale("cuda", "paper", ("fp32", "tf32", "bf16"), (8, 32), 8, ("vit-h14", "wav2vec2-vad"), 1027, 300, 2000,
             (0, 2, None), 64, "bf16")
SMOKE = Scale("cpu", "tiny", ("fp32",), (2,), 2, ("wav2vec2-vad",), 35, 40, 40, (0, None), 4, "fp32")


@dataclass
class Run:
    """What the checks share: the report so far, the EMI release (or None: the demo) and the time budget."""

    report: dict[str, Any]
    emi_root: Path | None
    deadline: float  # time.perf_counter() after which no new work starts

    def out_of_time(self) -> bool:
        return time.perf_counter() > self.deadline


def _log(message: str) -> None:
    print(f"[gpu_check] {message}", file=sys.stderr, flush=True)


def environment() -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    return {"torch": torch.__version__, "cuda": torch.version.cuda, "cuda_available": cuda,
            "device_name": torch.cuda.get_device_name(0) if cuda else platform.processor() or "cpu",
            "gpu_count": torch.cuda.device_count() if cuda else 0, "python": platform.python_version(),
            "platform": platform.platform(), "cpu_count": os.cpu_count()}


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _seconds(device: str, step: Callable[[], Any], repeats: int = 5) -> float:
    """Median seconds of `step` after one untimed call."""
    step()
    times = []
    for _ in range(repeats):
        _synchronize(device)
        began = time.perf_counter()
        step()
        _synchronize(device)
        times.append(time.perf_counter() - began)
    return float(np.median(times))


# ----------------------------------------------------------------------------------------------------------- checks

def check_profile(scale: Scale, work: Path, run: Run) -> dict[str, Any]:
    from abaw_bench.harness.profile import ProfileSettings, profile

    rows: list[dict[str, Any]] = []
    skipped: list[str] = []  # configurations that would have started after the time budget
    for encoder, size in (("vit-h14", {"frames": scale.frames}), ("wav2vec2-vad", {"seconds": 4.0})):
        for dtype in scale.dtypes:
            for compiled in (False, True):
                if compiled and (encoder not in scale.compile_encoders or dtype != scale.compile_dtype):
                    continue
                if run.out_of_time():
                    skipped.append(f"{encoder} {dtype} {'compiled' if compiled else 'eager'}")
                    continue
                _log(f"profile {encoder} {dtype} {'compiled' if compiled else 'eager'}")
                report = profile(ProfileSettings(encoder, preset=scale.preset, device=scale.device, dtype=dtype,
                                                 batch_sizes=scale.batch_sizes, compile=compiled, warmup=1, iters=5,
                                                 **size))
                for row in report["rows"]:
                    rows.append({key: row.get(key) for key in (
                        "encoder", "dtype", "compiled", "batch_size", "status", "samples_per_s",
                        "audio_seconds_per_s", "frames_per_s", "achieved_tflops", "mfu", "mfu_datasheet",
                        "peak_memory_mb", "compile_seconds", "graph_breaks")}
                                | {"peak_tflops_measured": report["peak"]["tflops"],
                                   "peak_tflops_datasheet": (report["datasheet_peak"] or {}).get("tflops")})
    failed = [row for row in rows if row["status"] not in ("ok", "oom")]
    return {"passed": not failed and any(row["status"] == "ok" for row in rows), "rows": rows,
            "skipped_for_time": skipped}


def check_lstm(scale: Scale, work: Path, run: Run) -> dict[str, Any]:
    from abaw_bench.systems._heads import LastValidLSTM

    device, width = scale.device, scale.lstm_width
    low = torch.bfloat16
    torch.manual_seed(0)
    head = LastValidLSTM(width, width, 2).to(device)
    inputs = torch.randn(16, scale.lstm_steps, width, device=device)
    lengths = torch.randint(scale.lstm_steps // 4, scale.lstm_steps + 1, (16,))
    lengths[0] = scale.lstm_steps
    target = torch.randn(16, width, device=device)

    def gradients(autocast: bool) -> tuple[torch.dtype, torch.Tensor]:
        head.zero_grad(set_to_none=True)
        # Under autocast an encoder's outputs arrive in bf16; the fp32 reference gets the same values in fp32.
        values = inputs.to(low) if autocast else inputs.to(low).float()
        with torch.autocast(device_type=torch.device(device).type, dtype=low, enabled=autocast):
            output = head(values, lengths)
            loss = ((output.float() - target) ** 2).mean()
        loss.backward()
        return output.dtype, torch.cat([p.grad.flatten() for p in head.parameters()])

    dtype, mixed = gradients(True)
    _, reference = gradients(False)
    cosine = float(torch.nn.functional.cosine_similarity(mixed, reference, dim=0))
    relative = float((mixed - reference).norm() / reference.norm())
    with torch.no_grad(), torch.autocast(device_type=torch.device(device).type, dtype=low):
        bare = head.lstm(inputs.to(low))[0].dtype
    return {"passed": dtype == torch.float32 and cosine >= 0.999, "head_output_dtype": str(dtype),
            "bare_lstm_output_dtype_under_bf16_autocast": str(bare), "gradient_cosine": cosine,
            "gradient_relative_error": relative}


def check_run_resume(scale: Scale, work: Path, run: Run) -> dict[str, Any]:
    env = {**os.environ, "ABAW_BENCH_CACHE": str(work / "cache")}
    command = [sys.executable, "-m", "abaw_bench.harness", "run", "--system", "hallmen2024", "--task", "emi",
               "--variant", "audio-global", "--preset", "tiny", "--device", scale.device, "--epochs", "2",
               "--out", str(work / "runs"), "--quiet"]
    figures: dict[str, Any] = {}
    for name, extra in (("first", []), ("resumed", ["--resume"])):
        began = time.perf_counter()
        done = subprocess.run([*command, *extra], env=env, capture_output=True, text=True, timeout=900)
        figures[f"{name}_seconds"] = round(time.perf_counter() - began, 1)
        figures[f"{name}_exit_code"] = done.returncode
        if done.returncode != 0:
            figures[f"{name}_stderr_tail"] = done.stderr[-2000:]
            return {"passed": False, **figures}
        if name == "resumed":  # the engine's note that it loaded last.pt (on the GPU) and went on from there
            figures["resumed_note"] = next((line for line in done.stderr.splitlines()
                                            if re.search(r"resuming after epoch \d+", line)), None)
    results = work / "runs" / "hallmen2024" / "emi" / "audio-global" / "seed0" / "results.json"
    figures["results_json"] = results.is_file()
    return {"passed": results.is_file() and figures["resumed_note"] is not None, **figures}


class _FineTune(torch.nn.Module):
    """A trainable wav2vec2-vad with an LSTM head: what the hallmen2024 unfrozen rows train."""

    def __init__(self, encoder: Any) -> None:
        super().__init__()
        from abaw_bench.systems._heads import LastValidLSTM

        self.encoder = encoder.model
        width = encoder.output_dim
        self.lstm = LastValidLSTM(width, width, 2)
        self.out = torch.nn.Linear(width, 6)

    def forward(self, values: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        frames = self.encoder(values, attention_mask=mask)
        return self.out(self.lstm(frames, self.encoder.frame_lengths(lengths)))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def check_ddp(scale: Scale, work: Path, run: Run) -> dict[str, Any]:
    import torch.distributed as dist
    from abaw_bench.harness.encoders import _audio, load_encoder
    from torch.nn.parallel import DistributedDataParallel

    cuda = scale.device.startswith("cuda")
    device = torch.device("cuda", 0) if cuda else torch.device("cpu")
    options: dict[str, Any] = {"device_id": device} if cuda else {}
    dist.init_process_group("nccl" if cuda else "gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0,
                            world_size=1, **options)
    try:
        torch.manual_seed(0)
        encoder = load_encoder("wav2vec2-vad", "tiny", trainable=True)
        model = DistributedDataParallel(_FineTune(encoder).to(device).train(), device_ids=[0] if cuda else None)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        rng = np.random.default_rng(0)
        losses = []
        for _ in range(8):
            batch = _audio.pad_batch([torch.from_numpy((0.1 * rng.standard_normal(int(16000 * s))).astype(np.float32))
                                      for s in rng.uniform(1.0, 3.0, 4)])
            target = torch.rand(4, 6, device=device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cuda):
                output = model(batch["input_values"].to(device), batch["attention_mask"].to(device),
                               batch["lengths"])
            loss = torch.nn.functional.mse_loss(output.float(), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    finally:
        dist.destroy_process_group()
    return {"passed": all(np.isfinite(losses)), "backend": "nccl" if cuda else "gloo", "steps": len(losses),
            "losses": losses, "layerdrop": encoder.model.config.layerdrop}


def _write_jpegs(root: Path, images: int, per_item: int) -> list[Any]:
    from abaw_bench.harness.tasks.base import Item
    from PIL import Image

    rng = np.random.default_rng(0)
    items = []
    for index in range(images // per_item):
        folder = root / f"{index:04d}"
        folder.mkdir(parents=True)
        for frame in range(per_item):
            # Smooth gradients plus noise: JPEG sizes and decode times like real face crops, not like white noise.
            base = np.linspace(0, 255, 224, dtype=np.float32)[None, :, None] * rng.uniform(0.3, 1.0, 3)
            pixels = np.clip(base + rng.normal(0, 12, (224, 224, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{frame:05d}.jpg", quality=90)
        items.append(Item(f"{index:04d}", "train", {"faces": folder}))
    return items


def extraction_settings() -> dict[str, Any]:
    """What `abaw-bench extract` runs with unless told otherwise: its --batch-size (clips per forward pass) and
    --images-per-batch defaults, and the device's default number of decode workers (--num-workers unset)."""
    from abaw_bench.harness.cli import build_parser
    from abaw_bench.harness.features.pipeline import DEFAULT_IMAGES_PER_BATCH

    (subparsers,) = [action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)]
    extract = subparsers.choices["extract"]
    return {"batch_size": extract.get_default("batch_size"),
            "images_per_batch": extract.get_default("images_per_batch") or DEFAULT_IMAGES_PER_BATCH,
            "num_workers": extract.get_default("num_workers")}


@contextmanager
def _cache_at(folder: Path) -> Iterator[None]:
    """The feature cache at `folder` (each timed extraction starts from an empty cache), restored afterwards."""
    previous = os.environ.get("ABAW_BENCH_CACHE")
    os.environ["ABAW_BENCH_CACHE"] = str(folder)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("ABAW_BENCH_CACHE", None)
        else:
            os.environ["ABAW_BENCH_CACHE"] = previous


def check_extraction(scale: Scale, work: Path, run: Run) -> dict[str, Any]:
    from abaw_bench.harness.encoders import build_random
    from abaw_bench.harness.features import FeatureRequest, extract_items
    from abaw_bench.harness.features.loading import default_workers

    settings = extraction_settings()
    items = _write_jpegs(work / "faces", scale.images, 20)
    encoder = build_random("vit-h14", scale.preset).to(scale.device, "bf16" if scale.device != "cpu" else "fp32")
    forward = encoder.forward
    busy: list[Callable[[], float]] = []

    def timed_forward(batch: dict[str, Any]) -> list[Any]:
        if not scale.device.startswith("cuda"):
            began = time.perf_counter()
            outputs = forward(batch)
            elapsed = time.perf_counter() - began
            busy.append(lambda: elapsed)
            return outputs
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        outputs = forward(batch)
        end.record()
        busy.append(lambda: start.elapsed_time(end) / 1000)
        return outputs

    encoder.forward = timed_forward  # type: ignore[method-assign]
    runs = []
    for workers in scale.workers:
        with _cache_at(work / f"cache-{workers}"):
            busy.clear()
            began = time.perf_counter()
            request = FeatureRequest.for_encoder(encoder, "synthetic", work / "faces", num_workers=workers,
                                                 images_per_batch=settings["images_per_batch"], progress=False)
            store = extract_items(encoder, request, items, "train")
            _synchronize(scale.device)
            wall = time.perf_counter() - began
        runs.append({"workers": default_workers(scale.device) if workers is None else workers,
                     "default_workers": workers is None, "items": store.summary["extracted"],
                     "seconds": round(wall, 2), "images_per_s": scale.images / wall,
                     "device_busy_share": sum(f() for f in busy) / wall})
    complete = all(run["items"] == len(items) for run in runs)
    default = next(run for run in runs if run["default_workers"])
    return {"passed": complete, "images": scale.images, "images_per_batch": settings["images_per_batch"],
            "runs": runs, "default_images_per_s": default["images_per_s"],
            "best_images_per_s": max(run["images_per_s"] for run in runs)}


def check_wav2vec2_modules(scale: Scale, work: Path, run: Run) -> dict[str, Any]:
    from abaw_bench.harness.encoders import build_random
    from abaw_bench.harness.profile import matmul_precision
    from transformers.models.wav2vec2.modeling_wav2vec2 import (
        Wav2Vec2FeatureEncoder,
        Wav2Vec2PositionalConvEmbedding,
    )

    device = scale.device
    model = build_random("wav2vec2-vad", scale.preset).model.to(device).eval()
    config = model.config
    custom_features, custom_position = model.wav2vec2.feature_extractor, model.wav2vec2.encoder.pos_conv_embed
    stock_features = Wav2Vec2FeatureEncoder(config).to(device).eval()
    stock_features.load_state_dict(custom_features.state_dict())
    stock_position = Wav2Vec2PositionalConvEmbedding(config).to(device).eval()
    stock_position.load_state_dict(custom_position.state_dict())
    waves = torch.randn(4, 4 * 16000, device=device)
    figures: dict[str, Any] = {}
    with torch.no_grad(), matmul_precision("fp32"):
        for name, custom, stock, inputs in (
                ("feature_encoder", custom_features, stock_features, waves),
                ("positional_conv", custom_position, stock_position,
                 torch.randn(4, 200, config.hidden_size, device=device))):
            ours, theirs = custom(inputs), stock(inputs)
            figures[name] = {
                "max_abs_difference": float((ours - theirs).abs().max()),
                "relative_difference": float((ours - theirs).norm() / theirs.norm()),
                "custom_ms": 1000 * _seconds(device, lambda m=custom, x=inputs: m(x)),
                "stock_ms": 1000 * _seconds(device, lambda m=stock, x=inputs: m(x)),
            }
    passed = all(part["relative_difference"] <= 1e-4 for part in figures.values())
    return {"passed": passed, **figures}


def _emi_sample(scale: Scale, emi_root: Path | None) -> tuple[Path, list[Any], dict[str, Any]]:
    """(root, a random sample of EMI clips, the totals to scale to): the release at `emi_root` (clip counts from its
    manifest, `measured`) or the EMI demo in the release's layout (totals: the release's published sizes)."""
    from abaw_bench.harness.demo import ensure_demo
    from abaw_bench.harness.tasks import get_task

    root = emi_root if emi_root is not None else ensure_demo("emi")
    reader = get_task("emi").reader(root)
    by_split = {split: reader.items(split) for split in reader.manifest().splits}
    pool = [item for item in by_split.get("train") or next(iter(by_split.values()))]
    rng = np.random.default_rng(0)
    sample = [pool[index] for index in sorted(rng.choice(len(pool), min(scale.emi_sample, len(pool)), replace=False))]
    if emi_root is None:
        totals = {"source": "the EMI release's published sizes (no --emi-root)", "clips": EMI_CLIPS,
                  "seconds": EMI_SECONDS, "face_crops": EMI_SECONDS * EMI_FACE_RATE}
    else:
        totals = {"source": f"clip counts from {emi_root}'s manifest; per-clip audio seconds and face crops from the "
                            f"sample of {len(sample)}", "clips": sum(len(items) for items in by_split.values())}
    return root, sample, totals


def _sample_media(items: list[Any], cut_seconds: float | None) -> dict[str, float]:
    """Audio seconds (before and after the encoder's cut) and face crops of the sampled clips, read from the files."""
    from abaw_bench.harness.media import count_frames, media_duration

    seconds = [media_duration(item.media.get("audio") or item.media["video"]) for item in items]
    crops = [count_frames(item.media["faces"]) for item in items if "faces" in item.media]
    return {"seconds": float(sum(seconds)),
            "cut_seconds": float(sum(min(value, cut_seconds or value) for value in seconds)),
            "face_crops_per_clip": float(np.mean(crops)) if crops else float("nan")}


def _estimate_encoder(name: str, scale: Scale) -> tuple[Any, str]:
    """The encoder for the estimate and what its weights are: the published ones when all their files are on this
    machine (nothing is downloaded inside the check's time budget), else random weights of the same size."""
    from abaw_bench.harness.encoders import build_random, load_encoder
    from abaw_bench.harness.encoders import weights as published

    dtype = "bf16" if scale.device != "cpu" else "fp32"
    if scale.preset == "paper" and all(published.locate(part) is not None for part in published.sources(name)):
        return load_encoder(name, "paper", device=scale.device, dtype=dtype, trust_remote_code=True), "published"
    return build_random(name, scale.preset).to(scale.device, dtype), "random"


@contextmanager
def _whisper_decoding_for_random_weights(encoder: Any, tokens: int) -> Iterator[None]:
    """Greedy decoding of exactly `tokens` tokens (end of text suppressed) for random whisper weights, which would
    otherwise decode to the length limit at every one of whisper's fallback temperatures."""
    from abaw_bench.harness.encoders import _whisper as family
    from whisper.tokenizer import get_tokenizer

    preset, model = encoder.preset, encoder.model
    saved = family.DECODE_OPTIONS[preset]
    end_of_text = get_tokenizer(model.is_multilingual, num_languages=model.num_languages).eot
    family.DECODE_OPTIONS[preset] = {"temperature": (0.0,), "sample_len": tokens,
                                     "suppress_tokens": [-1, end_of_text]}
    try:
        yield
    finally:
        family.DECODE_OPTIONS[preset] = saved


def _timed_extraction(encoder: Any, root: Path, items: list[Any], work: Path, settings: dict[str, Any],
                      asr_store: Any = None) -> tuple[float, Any]:
    """Wall seconds of `extract`'s pipeline on `items` at its default batch size and decode workers (decoding
    included), after an untimed warm-up on the first two items into another cache (kernels, cuDNN autotuning)."""
    from abaw_bench.harness.features import FeatureRequest, extract_items

    request = FeatureRequest.for_encoder(encoder, "emi", root, batch_size=settings["batch_size"],
                                         num_workers=settings["num_workers"], progress=False)
    with _cache_at(work / f"warmup-{encoder.info.name}"):
        extract_items(encoder, request, items[:2], "train", asr_store=asr_store)
    with _cache_at(work / f"timed-{encoder.info.name}"):
        began = time.perf_counter()
        store = extract_items(encoder, request, items, "train", asr_store=asr_store)
        _synchronize(str(getattr(encoder, "device", "cpu")))
        return time.perf_counter() - began, store


def check_emi_estimate(scale: Scale, work: Path, run: Run) -> dict[str, Any]:
    report, emi_root = run.report, run.emi_root
    image_rate = report["checks"].get("extraction", {}).get("default_images_per_s")
    if not image_rate:
        return {"passed": False, "error": "the extraction check must succeed first (it measures the face crops)"}
    settings = extraction_settings()
    root, sample, totals = _emi_sample(scale, emi_root)
    rates: dict[str, dict[str, Any]] = {}
    asr_store = None
    for name in ("wav2vec2-vad", "whisper-large-v3", "gte-base"):
        _log(f"emi_estimate {name}")
        encoder, weights_kind = _estimate_encoder(name, scale)
        media = _sample_media(sample, encoder.cache_params().get("max_seconds"))
        decoding = None
        if name == "whisper-large-v3" and weights_kind == "random":
            decoding = f"random weights: greedy, {WHISPER_TOKENS_PER_CLIP} tokens per clip (assumed)"
            with _whisper_decoding_for_random_weights(encoder, WHISPER_TOKENS_PER_CLIP):
                seconds, store = _timed_extraction(encoder, root, sample, work, settings)
        else:
            seconds, store = _timed_extraction(encoder, root, sample, work, settings,
                                               asr_store if name == "gte-base" else None)
        if name == "whisper-large-v3":
            asr_store = store
        rates[name] = {"weights": weights_kind, "clips": len(sample), "seconds": round(seconds, 2),
                       "clips_per_s": len(sample) / seconds, "extracted": store.summary["extracted"],
                       **({"decoding": decoding} if decoding else {})}
        if encoder.info.modality in ("audio", "asr"):  # what it decoded: the clips up to the encoder's own cut
            rates[name] |= {"audio_seconds": media["cut_seconds"],
                            "audio_seconds_per_s": media["cut_seconds"] / seconds}
        del encoder, store
        if scale.device.startswith("cuda"):
            torch.cuda.empty_cache()
    measured_root = emi_root is not None
    media = _sample_media(sample, None)
    clips = totals["clips"]
    audio = rates["wav2vec2-vad"]
    # Without the release, its published hours, uncut: an upper bound for what wav2vec2-vad's cut decodes.
    audio_seconds = clips * audio["audio_seconds"] / len(sample) if measured_root else totals["seconds"]
    crops = clips * media["face_crops_per_clip"] if measured_root else totals["face_crops"]
    minutes = {
        "audio (wav2vec2-vad)": audio_seconds / audio["audio_seconds_per_s"] / 60,
        "vision (vit-h14)": crops / image_rate / 60,
        "asr (whisper-large-v3)": clips / rates["whisper-large-v3"]["clips_per_s"] / 60,
        "text (gte-base)": clips / rates["gte-base"]["clips_per_s"] / 60,
    }
    total = sum(minutes.values())
    complete = all(rate["extracted"] == len(sample) for rate in rates.values())
    return {"passed": complete and total <= TARGET_EMI_MINUTES, "target_minutes": TARGET_EMI_MINUTES,
            "estimated_minutes": total, "minutes_by_modality": minutes, "rates": rates,
            "vision_images_per_s": image_rate, "extraction_settings": settings,
            "sample": {"root": str(root), "clips": len(sample), **media},
            "totals": {**totals, "audio_seconds": audio_seconds, "face_crops": crops}}


# The profile comes last: it is the longest (two compiles) and stops starting configurations at the time budget.
CHECKS: tuple[tuple[str, Callable[[Scale, Path, Run], dict[str, Any]]], ...] = (
    ("lstm", check_lstm), ("wav2vec2_modules", check_wav2vec2_modules), ("ddp", check_ddp),
    ("run_resume", check_run_resume), ("extraction", check_extraction), ("emi_estimate", check_emi_estimate),
    ("profile", check_profile),
)


def _targets(report: dict[str, Any]) -> dict[str, Any]:
    rows = report["checks"].get("profile", {}).get("rows", [])
    vit = [row["mfu_datasheet"] for row in rows if row["encoder"] == "vit-h14" and row["dtype"] == "bf16"
           and row.get("mfu_datasheet") is not None]
    estimate = report["checks"].get("emi_estimate", {})
    return {
        "vit_h14_bf16_mfu_datasheet": {"target": TARGET_VIT_MFU, "best": max(vit) if vit else None,
                                       "met": bool(vit) and max(vit) >= TARGET_VIT_MFU},
        "emi_extraction_minutes": {"target": TARGET_EMI_MINUTES, "estimated": estimate.get("estimated_minutes"),
                                   "met": bool(estimate.get("passed"))},
    }


def _write(path: Path, report: dict[str, Any]) -> None:
    from abaw_bench.harness.atomic import write_text

    write_text(path, json.dumps(report, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON report")
    parser.add_argument("--smoke", action="store_true", help="run the checks on the CPU, tiny and small (tests the "
                                                             "script; figures meaningless)")
    parser.add_argument("--only", default=None, help="comma-separated names of the checks to run")
    parser.add_argument("--emi-root", type=Path, default=None,
                        help="the EMI release (official layout) to sample for the extraction estimate (default: the "
                             "EMI demo, with the release's published sizes)")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"environment": environment(), "checks": {}}
    if not torch.cuda.is_available() and not args.smoke:
        report["status"] = "skipped: no CUDA device"
        _write(args.out, report)
        print(f"gpu_check: skipped: no CUDA device (torch {torch.__version__}); report in {args.out}")
        return 0
    scale = SMOKE if args.smoke else FULL
    wanted = set(re.split(r"\s*,\s*", args.only)) if args.only else None
    report["scale"] = "smoke (CPU, tiny; figures meaningless)" if args.smoke else "full"
    began = time.perf_counter()
    run = Run(report, args.emi_root, began + TIME_BUDGET_SECONDS)
    with tempfile.TemporaryDirectory(prefix="abaw-gpu-check-") as scratch:
        for name, check in CHECKS:
            if wanted is not None and name not in wanted:
                continue
            started = time.perf_counter()
            work = Path(scratch) / name
            work.mkdir()
            try:
                result = ({"passed": False, "error": f"skipped: the {TIME_BUDGET_SECONDS:.0f} s time budget was "
                                                     "spent"} if run.out_of_time() else check(scale, work, run))
            except Exception as error:  # recorded in the report; the remaining checks still run
                result = {"passed": False, "error": f"{type(error).__name__}: {str(error)[:2000]}"}
            result["seconds"] = round(time.perf_counter() - started, 1)
            report["checks"][name] = result
            print(f"gpu_check: {name}: {'pass' if result['passed'] else 'FAIL'} ({result['seconds']:.0f} s)",
                  flush=True)
            _write(args.out, report)  # a crash later still leaves the checks so far
    report["targets"] = _targets(report)
    report["seconds"] = round(time.perf_counter() - began, 1)
    passed = all(check["passed"] for check in report["checks"].values())
    report["status"] = "passed" if passed else "failed"
    _write(args.out, report)
    targets = report["targets"]
    print(f"gpu_check: {report['status']} in {report['seconds']:.0f} s; ViT-H/14 bf16 MFU (datasheet) "
          f"{targets['vit_h14_bf16_mfu_datasheet']['best']} (target {TARGET_VIT_MFU}); EMI extraction estimate "
          f"{targets['emi_extraction_minutes']['estimated']} min (target {TARGET_EMI_MINUTES:g}); report in {args.out}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
