"""The one-shot GPU check: everything a first run on a CUDA GPU exercises, with figures, in one JSON report.

Run on a machine with one CUDA GPU (about 8 minutes on an H100/H200):

    python benchmarks/gpu_check.py --out gpu_check.json

Checks, each reported with its figures and pass/fail:
  profile      `profile` of vit-h14 (8 face crops per item) and wav2vec2-vad (4 s clips) at paper size with random
               weights, in fp32, TF32 and bf16, eager and compiled, at batch 8 and 32: samples/s, MFU against the
               measured matmul peak and the GPU's datasheet peak, peak memory, compile time, graph breaks.
  lstm         a packed LSTM(1027, 1027, 2) head under bf16 autocast against fp32: output dtype, gradient agreement
               (the head runs its LSTM in fp32; a bare nn.LSTM's dtype under autocast is shown beside it).
  run_resume   a tiny demo `run --device cuda` (hallmen2024 audio-global, 2 epochs), then the same with `--resume`.
  ddp          a 1-process nccl DistributedDataParallel fine-tuning of the tiny wav2vec2-vad (trainable: layerdrop
               off) with an LSTM head, 8 steps under bf16 autocast.
  extraction   2,000 synthetic 224 px JPEG face crops through `extract` with ViT-H/14 (paper size, random weights)
               in bf16, with 0, 2 and 4 decode workers: images/s and the share of the wall time the device computes.
  wav2vec2_modules  the custom wav2vec2 modules (time-major feature encoder, cached positional convolution)
               against transformers' stock ones on CUDA: largest output difference and time.
  emi_estimate the time to extract EMI's features for every modality on this GPU, from the measured throughput.

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

TARGET_VIT_MFU = 0.45  # bf16, of the datasheet peak, ViT-H/14 at its best batch
TARGET_EMI_MINUTES = 15.0
# EMI, all splits: 8072 + 4588 + 4582 clips, about 33 hours of video. Face crops come at about 6 per second of video
# (the dataset's crop rate as its users describe it; not confirmed by the organisers).
EMI_CLIPS = 8072 + 4588 + 4582
EMI_MEAN_SECONDS = 6.9
EMI_AUDIO_CUT = 12.0  # wav2vec2-vad reads the first 12 s; using the uncut mean below keeps the estimate an upper bound
EMI_FACE_CROPS = 33 * 3600 * 6
WHISPER_TOKENS_PER_CLIP = 48  # a 7 s utterance with timestamps; random weights never stop decoding on their own


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
    workers: tuple[int, ...]
    whisper_batch: int


FULL = Scale("cuda", "paper", ("fp32", "tf32", "bf16"), (8, 32), 8, ("vit-h14", "wav2vec2-vad"), 1027, 300, 2000,
             (0, 2, 4), 16)
SMOKE = Scale("cpu", "tiny", ("fp32",), (2,), 2, ("wav2vec2-vad",), 35, 40, 40, (0, 2), 2)


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

def check_profile(scale: Scale, work: Path) -> dict[str, Any]:
    from abaw_bench.harness.profile import ProfileSettings, profile

    rows = []
    for encoder, size in (("vit-h14", {"frames": scale.frames}), ("wav2vec2-vad", {"seconds": 4.0})):
        for dtype in scale.dtypes:
            for compiled in (False, True):
                if compiled and encoder not in scale.compile_encoders:
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
    return {"passed": not failed and any(row["status"] == "ok" for row in rows), "rows": rows}


def check_lstm(scale: Scale, work: Path) -> dict[str, Any]:
    from abaw_bench.harness.heads import LastValidLSTM

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


def check_run_resume(scale: Scale, work: Path) -> dict[str, Any]:
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
        from abaw_bench.harness.heads import LastValidLSTM

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


def check_ddp(scale: Scale, work: Path) -> dict[str, Any]:
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


def check_extraction(scale: Scale, work: Path) -> dict[str, Any]:
    from abaw_bench.harness.encoders import build_random
    from abaw_bench.harness.features import extract_items

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
    previous = os.environ.get("ABAW_BENCH_CACHE")
    try:
        for workers in scale.workers:
            os.environ["ABAW_BENCH_CACHE"] = str(work / f"cache-{workers}")  # each run starts from an empty cache
            busy.clear()
            began = time.perf_counter()
            store = extract_items(encoder, "synthetic", items, work / "faces", "train", num_workers=workers,
                                  progress=False)
            wall = time.perf_counter() - began
            _synchronize(scale.device)
            runs.append({"workers": workers, "items": store.summary["extracted"], "seconds": round(wall, 2),
                         "images_per_s": scale.images / wall, "device_busy_share": sum(f() for f in busy) / wall})
    finally:
        if previous is None:
            os.environ.pop("ABAW_BENCH_CACHE", None)
        else:
            os.environ["ABAW_BENCH_CACHE"] = previous
    complete = all(run["items"] == len(items) for run in runs)
    return {"passed": complete, "images": scale.images, "runs": runs,
            "best_images_per_s": max(run["images_per_s"] for run in runs)}


def check_wav2vec2_modules(scale: Scale, work: Path) -> dict[str, Any]:
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


def _whisper_clips_per_second(scale: Scale) -> dict[str, Any]:
    """Batched whisper cost per clip of one window: language detection and decoding encoder passes, greedy decoding
    of `WHISPER_TOKENS_PER_CLIP` tokens, and the alignment's decoder pass (random weights: the decoding length is
    fixed instead of left to the model)."""
    import whisper
    from abaw_bench.harness.encoders import build_random
    from whisper.audio import N_FRAMES
    from whisper.tokenizer import get_tokenizer

    encoder = build_random("whisper-large-v3", scale.preset).to(scale.device, "fp16" if scale.device != "cpu"
                                                                  else "fp32")
    model, batch = encoder.model, scale.whisper_batch
    dtype = torch.float16 if scale.device != "cpu" else torch.float32
    mel = torch.randn(batch, model.dims.n_mels, N_FRAMES, device=scale.device, dtype=dtype)
    options = whisper.DecodingOptions(language="en", fp16=dtype == torch.float16, sample_len=WHISPER_TOKENS_PER_CLIP,
                                      suppress_tokens=[-1, get_tokenizer(model.is_multilingual,
                                                                         num_languages=model.num_languages).eot])
    with torch.no_grad():
        features = model.encoder(mel)
        encode = _seconds(scale.device, lambda: model.encoder(mel), repeats=3)
        decode = _seconds(scale.device, lambda: whisper.decode(model, features, options), repeats=2)
        tokens = torch.zeros(1, WHISPER_TOKENS_PER_CLIP + 4, dtype=torch.long, device=scale.device)
        align = _seconds(scale.device, lambda: model.decoder(tokens, features[:1]), repeats=3)
    per_clip = (2 * encode + decode) / batch + align
    return {"batch": batch, "encoder_seconds_per_batch": encode, "decode_seconds_per_batch": decode,
            "alignment_seconds_per_clip": align, "clips_per_s": 1 / per_clip}


def check_emi_estimate(scale: Scale, work: Path, report: dict[str, Any]) -> dict[str, Any]:
    from abaw_bench.harness.profile import ProfileSettings, profile

    low = "bf16" if scale.device != "cpu" else "fp32"
    rows = report["checks"].get("profile", {}).get("rows", [])
    audio_rates = [row["audio_seconds_per_s"] for row in rows
                   if row["encoder"] == "wav2vec2-vad" and row["dtype"] == low and row["status"] == "ok"]
    image_rate = report["checks"].get("extraction", {}).get("best_images_per_s")
    text = profile(ProfileSettings("gte-base", preset=scale.preset, device=scale.device, dtype=low,
                                   batch_sizes=(64,), tokens=64, warmup=1, iters=3))
    whisper_figures = _whisper_clips_per_second(scale)
    if not audio_rates or not image_rate:
        return {"passed": False, "error": "the profile and extraction checks must succeed first"}
    minutes = {
        "audio (wav2vec2-vad)": EMI_CLIPS * EMI_MEAN_SECONDS / max(audio_rates) / 60,
        "vision (vit-h14)": EMI_FACE_CROPS / image_rate / 60,
        "asr (whisper-large-v3)": EMI_CLIPS / whisper_figures["clips_per_s"] / 60,
        "text (gte-base)": EMI_CLIPS / text["rows"][0]["samples_per_s"] / 60,
    }
    total = sum(minutes.values())
    return {"passed": total <= TARGET_EMI_MINUTES, "target_minutes": TARGET_EMI_MINUTES,
            "estimated_minutes": total, "minutes_by_modality": minutes, "whisper": whisper_figures,
            "assumptions": {"clips": EMI_CLIPS, "mean_seconds": EMI_MEAN_SECONDS, "face_crops": EMI_FACE_CROPS,
                            "whisper_tokens_per_clip": WHISPER_TOKENS_PER_CLIP,
                            "audio": f"uncut mean length (the {EMI_AUDIO_CUT:g} s cut only shortens it)"}}


CHECKS: tuple[tuple[str, Callable[..., dict[str, Any]]], ...] = (
    ("lstm", check_lstm), ("wav2vec2_modules", check_wav2vec2_modules), ("ddp", check_ddp),
    ("run_resume", check_run_resume), ("extraction", check_extraction), ("profile", check_profile),
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
    with tempfile.TemporaryDirectory(prefix="abaw-gpu-check-") as scratch:
        for name, check in (*CHECKS, ("emi_estimate", check_emi_estimate)):
            if wanted is not None and name not in wanted:
                continue
            started = time.perf_counter()
            work = Path(scratch) / name
            work.mkdir()
            try:
                result = check(scale, work, report) if name == "emi_estimate" else check(scale, work)
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
