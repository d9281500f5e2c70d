"""Encoder throughput profiling: the real architecture with random weights, timed forward passes, counted FLOPs, MFU.

MFU = achieved FLOP/s ÷ peak FLOP/s, against two peaks: one measured in the same run by a large matmul of the same
dtype on the same device (or given by the user), which is comparable across machines and honest about contention,
and the datasheet peak of the detected GPU (dense, without sparsity), which is how MFU is usually quoted.
FLOPs are counted with `torch.utils.flop_counter.FlopCounterMode` on the eager model, under `torch.no_grad()`
(transformers' Wav2Vec2Model fails inside FlopCounterMode under `inference_mode`).

Timing rules: with `compile`, each batch size is compiled for its static shapes (`dynamic=False`) in an untimed pass
(its seconds and graph breaks are reported) before the warm-up; the peak-memory counter is reset after the counting
and compiling passes; on CUDA the batch's host tensors are pinned before timing, so the step's host-to-device copy is
an asynchronous DMA, as the extraction DataLoader's pinned batches make it. dtype "tf32" is fp32 weights and inputs
with TF32 tensor-core matmuls (CUDA only).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from abaw_bench.harness.encoders import build_random, encoder_info
from abaw_bench.harness.encoders._common import check_device, retain_freed_memory, torch_dtype
from abaw_bench.harness.encoders.base import Encoder
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.runtime.distributed import claim_device
from torch.utils.flop_counter import FlopCounterMode

DEFAULT_SECONDS = 4.0
DEFAULT_FRAMES = 8
DEFAULT_TOKENS = 128
DTYPES = ("fp32", "tf32", "bf16", "fp16")
# Dense (no sparsity) peak TFLOP/s from NVIDIA's datasheets, by the name torch reports; fp32 is the CUDA-core rate.
DATASHEET_TFLOPS: tuple[tuple[str, str, dict[str, float]], ...] = (
    (r"H100.*(SXM|HBM3)|GH200", "H100 SXM5 / GH200", {"fp32": 66.9, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4}),
    (r"H100 PCIe", "H100 PCIe", {"fp32": 51.2, "tf32": 378.0, "bf16": 756.0, "fp16": 756.0}),
    (r"H200(?!.*NVL)", "H200 SXM", {"fp32": 66.9, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4}),
    (r"A100", "A100", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0}),
    (r"L40S", "L40S", {"fp32": 91.6, "tf32": 183.0, "bf16": 362.0, "fp16": 362.0}),
    (r"\bL4\b", "L4", {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp16": 121.0}),
    (r"\bA10\b", "A10", {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0, "fp16": 125.0}),
)
RANDOM_WEIGHTS_NOTE = ("random weights: the real architecture at the chosen preset, randomly initialised (no "
                       "download); throughput and FLOPs do not depend on the weights' values, except for whisper, "
                       "whose decoding length does")


@dataclass(frozen=True)
class ProfileSettings:
    encoder: str
    preset: str = "paper"
    device: str = "cpu"
    dtype: str = "fp32"
    batch_sizes: tuple[int, ...] = (1, 2, 4, 8)
    seconds: float | None = None
    frames: int | None = None
    tokens: int | None = None
    compile: bool = False
    warmup: int = 1
    iters: int = 5
    peak_tflops: float | None = None
    datasheet_tflops: float | None = None  # instead of the table's figure (e.g. for a GPU it does not list)


def _log(message: str) -> None:
    print(f"[profile] {message}", file=sys.stderr, flush=True)


def _cpu_flash_attention_flops(query_shape: Sequence[int], key_shape: Sequence[int], value_shape: Sequence[int],
                               *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    """QKᵀ and AV of the CPU SDPA kernel, which FlopCounterMode's registry does not cover (the GPU kernels are)."""
    batch, heads, queries, depth = query_shape
    keys, value_depth = key_shape[2], value_shape[3]
    return 2 * batch * heads * queries * keys * (depth + value_depth)


def flop_counter() -> FlopCounterMode:
    extra: dict[Any, Any] = {}
    cpu_flash = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if cpu_flash is not None:
        extra[cpu_flash] = _cpu_flash_attention_flops  # the registry is keyed by overload packet
    return FlopCounterMode(display=False, custom_mapping=extra)


# ----- inputs -------------------------------------------------------------------------------------------------------

def synthetic_item(encoder: Encoder, settings: ProfileSettings) -> tuple[Any, dict[str, float]]:
    """One item of the requested size, and its size by unit (seconds / frames / tokens)."""
    generator = np.random.default_rng(0)
    modality = encoder.info.modality
    if modality in ("audio", "asr"):
        seconds = settings.seconds if settings.seconds is not None else DEFAULT_SECONDS
        return (0.1 * generator.standard_normal(round(seconds * 16000))).astype(np.float32), {"seconds": seconds}
    if modality == "image":
        frames = settings.frames if settings.frames is not None else DEFAULT_FRAMES
        return [generator.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(frames)], {"frames": frames}
    tokens = settings.tokens if settings.tokens is not None else DEFAULT_TOKENS
    # "the" is one WordPiece token; the tokenizer adds [CLS]/[SEP] and truncates at the encoder's max length.
    return " ".join(["the"] * max(tokens - 2, 1)), {"tokens": tokens}


def _describe_size(size: dict[str, float]) -> str:
    unit, value = next(iter(size.items()))
    return {"seconds": f"{value:g} s audio", "frames": f"{value:g} frames", "tokens": f"{value:g} tokens"}[unit]


# ----- measurement --------------------------------------------------------------------------------------------------

def datasheet_peak(device_name: str, dtype: str) -> dict[str, Any] | None:
    """{"tflops", "gpu", "source"} for a GPU in `DATASHEET_TFLOPS`; None for anything else (CPUs included)."""
    for pattern, gpu, peaks in DATASHEET_TFLOPS:
        if re.search(pattern, device_name):
            return {"tflops": peaks[dtype], "gpu": gpu, "dtype": dtype, "source": "datasheet (dense)"}
    return None


@contextlib.contextmanager
def matmul_precision(dtype: str) -> Iterator[None]:
    """fp32 matmuls and convolutions on TF32 tensor cores for dtype "tf32", full fp32 for the others; restored after."""
    previous = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("high" if dtype == "tf32" else "highest")
    torch.backends.cudnn.allow_tf32 = dtype == "tf32"
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous[0])
        torch.backends.cudnn.allow_tf32 = previous[1]


def compute_dtype(dtype: str) -> str:
    """The encoder dtype behind a profile dtype: "tf32" computes in fp32 (with TF32 matmuls)."""
    return "fp32" if dtype == "tf32" else dtype


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def _timed(device: str, step: Callable[[], Any]) -> float:
    """Seconds for one call: CUDA events on GPU (device time, after sync), perf_counter on CPU.

    The events are recorded on `device`'s own stream: recorded on another GPU's, they would time nothing of the step.
    """
    if device.startswith("cuda"):
        stream = torch.cuda.current_stream(torch.device(device))
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record(stream)
        step()
        end.record(stream)
        torch.cuda.synchronize(device)
        return start.elapsed_time(end) / 1000.0
    begin = time.perf_counter()
    step()
    return time.perf_counter() - begin


def measure_peak_flops(device: str, dtype: str, budget_seconds: float = 0.3) -> dict[str, Any]:
    """Best FLOP/s of an n×n×n matmul in `dtype` on `device`; n grows until one matmul takes `budget_seconds`.

    Call it under `matmul_precision(dtype)` so that "tf32" measures TF32 matmuls."""
    torch_type = torch_dtype(compute_dtype(dtype))
    largest = 8192 if device.startswith("cuda") else 4096
    n, elapsed = 256, 0.0
    while True:
        a = torch.randn(n, n, device=device).to(torch_type)
        b = torch.randn(n, n, device=device).to(torch_type)
        torch.matmul(a, b)
        _synchronize(device)
        elapsed = min(_timed(device, lambda a=a, b=b: torch.matmul(a, b)) for _ in range(3))
        if elapsed >= budget_seconds or n >= largest:
            break
        n *= 2
    return {"matmul_n": n, "dtype": dtype, "tflops": 2 * n**3 / elapsed / 1e12, "source": "measured"}


def peak_memory_bytes(device: str) -> tuple[int, str]:
    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_allocated(device)), "cuda max_memory_allocated"
    # ru_maxrss is KiB on Linux, bytes on macOS; it is the process's peak so far (monotonic across rows).
    scale = 1 if sys.platform == "darwin" else 1024
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale, "process peak RSS"


def _process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _is_oom(error: BaseException) -> bool:
    if isinstance(error, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def environment(device: str) -> dict[str, Any]:
    return {
        "torch": torch.__version__, "cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
        "device": device, "device_name": _device_name(device), "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(), "cpu_count": os.cpu_count(),
        "python": platform.python_version(), "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()),
    }


def _pinned(value: Any) -> Any:
    """The batch with every CPU tensor in page-locked memory, so that `.to(device, non_blocking=True)` is an
    asynchronous DMA instead of a synchronous copy through a staging buffer (which the timing would include)."""
    if isinstance(value, torch.Tensor):
        return value.pin_memory() if value.device.type == "cpu" else value
    if isinstance(value, dict):
        return {key: _pinned(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_pinned(item) for item in value)
    return value


def _graph_breaks() -> int:
    from torch._dynamo.utils import counters

    return int(sum(counters["graph_break"].values()))


def _profile_batch(encoder: Encoder, settings: ProfileSettings, item: Any, size: dict[str, float],
                   batch_size: int, forward: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    batch = encoder.collate([encoder.prepare(item) for _ in range(batch_size)])
    cuda = settings.device.startswith("cuda")
    if cuda:
        batch = _pinned(batch)
    row: dict[str, Any] = {}
    with torch.no_grad():
        # The counting pass runs the eager model (compiled kernels are invisible to the counter).
        with flop_counter() as counter:
            encoder.forward(batch)
        flops = counter.get_total_flops()
        if settings.compile:  # compiles for this batch size's shapes; never timed
            from torch._dynamo.utils import counters

            counters.clear()
            began = time.perf_counter()
            forward(batch)
            _synchronize(settings.device)
            row.update(compile_seconds=time.perf_counter() - began, graph_breaks=_graph_breaks())
        if cuda:  # the peak of the timed steps, not of the counting or compiling passes
            torch.cuda.reset_peak_memory_stats(settings.device)
        for _ in range(settings.warmup):
            forward(batch)
        _synchronize(settings.device)
        cpu_before = _process_cpu_seconds()
        steps = [_timed(settings.device, lambda: forward(batch)) for _ in range(settings.iters)]
        cpu_seconds = _process_cpu_seconds() - cpu_before
    median = float(np.median(steps))
    memory, memory_kind = peak_memory_bytes(settings.device)
    row.update({
        "status": "ok", "samples_per_s": batch_size / median, "median_ms": 1000 * median,
        "p90_ms": 1000 * float(np.percentile(steps, 90)), "step_ms": [1000 * s for s in steps],
        "flops_per_sample": flops / batch_size, "achieved_tflops": flops / median / 1e12,
        "peak_memory_mb": memory / 2**20, "memory_kind": memory_kind,
        # CPU time ÷ (wall time × threads): well below 1 on CPU means other processes took cores during timing.
        # Meaningless for a GPU row (the host mostly waits), so left out there.
        "cpu_utilisation": None if cuda else cpu_seconds / (sum(steps) * torch.get_num_threads()),
    })
    unit, value = next(iter(size.items()))
    row[{"seconds": "audio_seconds_per_s", "frames": "frames_per_s", "tokens": "tokens_per_s"}[unit]] = (
        value * batch_size / median)
    return row


def _compile_target(encoder: Encoder) -> tuple[Any, str]:
    """(owner, attribute) of the module to compile: the encoder's model, except for whisper, whose transcription
    calls the model's parts (the audio encoder, then the decoder step by step with a growing key-value cache, whose
    shapes change at every token): there the audio encoder is compiled, the bulk of the FLOPs."""
    if encoder.info.modality == "asr":
        return encoder.model, "encoder"  # type: ignore[attr-defined]
    return encoder, "model"


def _compiled_forward(encoder: Encoder) -> Callable[[dict[str, Any]], Any]:
    """`encoder.forward` running a torch.compile'd copy of its module; the eager module stays in place for the
    FLOP-counting pass, whose dispatch-level counter cannot see inside compiled kernels.

    `dynamic=False`: every batch size gets a graph specialised to its static shapes (what extraction's fixed shapes
    want), instead of one dynamic-shape graph after the first recompilation."""
    owner, name = _compile_target(encoder)
    eager = getattr(owner, name)
    compiled = torch.compile(eager, dynamic=False)

    def forward(batch: dict[str, Any]) -> Any:
        setattr(owner, name, compiled)
        try:
            return encoder.forward(batch)
        finally:
            setattr(owner, name, eager)

    return forward


def profile(settings: ProfileSettings) -> dict[str, Any]:
    """Run the sweep; returns {"environment", "peak", "datasheet_peak", "rows", "note"} (datasheet_peak None off a
    listed GPU). An OOM batch size becomes a row, not a crash. On the CPU the sweep uses every usable core; the
    caller's torch thread count comes back afterwards (a library call must not retune the process)."""
    threads = torch.get_num_threads()
    try:
        return _sweep(settings)
    finally:
        torch.set_num_threads(threads)


def _sweep(settings: ProfileSettings) -> dict[str, Any]:
    info = encoder_info(settings.encoder)
    if settings.dtype not in DTYPES:
        raise AbawError(f"dtype {settings.dtype!r}: expected one of {', '.join(DTYPES)}")
    device = check_device(settings.device)
    claim_device(device)  # cuda:N becomes the current GPU before anything else touches CUDA
    if settings.dtype == "tf32" and not device.startswith("cuda"):
        raise AbawError("dtype tf32 (TF32 tensor-core matmuls) needs a CUDA device; use fp32 on the CPU")
    if any(b < 1 for b in settings.batch_sizes):
        raise AbawError(f"batch sizes must be positive integers, got {list(settings.batch_sizes)}")
    retained = False
    if device == "cpu":
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        torch.set_num_threads(threads)
        retained = retain_freed_memory()
    env = environment(device)
    env["malloc_retains_freed_memory"] = retained
    _log(f"building {info.name} [{settings.preset}] with random weights on {device} ({env['threads']} threads)")
    encoder = build_random(info.name, settings.preset).to(device, compute_dtype(settings.dtype))
    parameters = sum(p.numel() for p in encoder.model.parameters())  # type: ignore[attr-defined]
    forward = _compiled_forward(encoder) if settings.compile else encoder.forward

    with matmul_precision(settings.dtype):
        measured: list[dict[str, Any]] = []
        if settings.peak_tflops is None:
            _log(f"measuring peak {settings.dtype} matmul FLOP/s on {device}")
            measured.append(measure_peak_flops(device, settings.dtype))
            _log(f"peak {measured[0]['tflops'] * 1000:.1f} GFLOP/s (matmul n={measured[0]['matmul_n']})")
        item, size = synthetic_item(encoder, settings)
        weights = "random weights" if encoder.is_random else encoder.weights_source  # type: ignore[attr-defined]
        rows = []
        for batch_size in settings.batch_sizes:
            _log(f"batch {batch_size}: counting FLOPs, {settings.warmup} warm-up, {settings.iters} timed iterations")
            row: dict[str, Any] = {
                "encoder": info.name, "preset": settings.preset, "weights": weights, "device": device,
                "device_name": env["device_name"], "dtype": settings.dtype, "compiled": settings.compile,
                "batch_size": batch_size, "input": _describe_size(size), **{f"input_{k}": v for k, v in size.items()},
            }
            try:
                row.update(_profile_batch(encoder, settings, item, size, batch_size, forward))
                _log(f"batch {batch_size}: {row['samples_per_s']:.3f} samples/s, median {row['median_ms']:.0f} ms, "
                     f"{row['flops_per_sample'] / 1e9:.1f} GFLOP/sample, {row['achieved_tflops'] * 1000:.1f} GFLOP/s")
            except Exception as error:
                if not _is_oom(error):
                    raise
                row.update({"status": "oom", "error": str(error).splitlines()[0][:200]})
                _log(f"batch {batch_size}: out of memory — continuing with the next batch size")
                if device.startswith("cuda"):
                    torch.cuda.empty_cache()
            rows.append(row)
        if settings.peak_tflops is None:
            # Measured again after the sweep; the higher figure is used, so a peak depressed by a burst of load from
            # other processes cannot inflate MFU.
            measured.append(measure_peak_flops(device, settings.dtype))
            best = max(measured, key=lambda m: m["tflops"])
            peak = {**best, "measurements_tflops": [m["tflops"] for m in measured]}
            _log(f"peak {peak['tflops'] * 1000:.1f} GFLOP/s (best of {len(measured)} measurements)")
        else:
            peak = {"tflops": settings.peak_tflops, "dtype": settings.dtype, "source": "--peak-tflops"}
    if settings.datasheet_tflops is not None:
        datasheet = {"tflops": settings.datasheet_tflops, "dtype": settings.dtype, "source": "--datasheet-tflops"}
    else:
        datasheet = datasheet_peak(env["device_name"], settings.dtype) if device.startswith("cuda") else None
    for row in rows:
        if row["status"] == "ok":
            row["mfu"] = row["achieved_tflops"] / peak["tflops"]
            row["mfu_datasheet"] = row["achieved_tflops"] / datasheet["tflops"] if datasheet else None
            _log(f"batch {row['batch_size']}: MFU {row['mfu']:.3f} (measured peak)"
                 + (f", {row['mfu_datasheet']:.3f} ({datasheet['source']} peak)" if datasheet else ""))
    env["load_average_at_end"] = list(os.getloadavg())
    note = RANDOM_WEIGHTS_NOTE if encoder.is_random else weights  # type: ignore[attr-defined]
    return {"environment": env, "encoder": {"name": info.name, "preset": settings.preset, "model_id": info.model_id,
                                            "parameters": parameters, "weights": encoder.weights_source},
            "peak": peak, "datasheet_peak": datasheet, "rows": rows, "note": note}
