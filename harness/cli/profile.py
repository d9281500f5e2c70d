"""`abaw-bench profile`: encoder throughput, FLOPs and MFU on this machine, with random weights (no download)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from typing import Any

from abaw_bench.harness.cli._common import Ranged, add_command
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.systems import Range

BATCH_SIZE = Range(1, 2**16)  # one forward pass of a paper-size encoder per size: 2^16 is already far past memory
TFLOPS = Range(0, 10**6, low_open=True)  # a peak TFLOP/s: no chip is near 10^6

EXAMPLES = """\
  abaw-bench profile --encoder wav2vec2-vad --preset paper --batch-sizes 1,2,4 --seconds 4 --iters 3
  abaw-bench profile --encoder vit-h14 --frames 8 --device cuda --dtype bf16 --compile --batch-sizes 8,32
  abaw-bench profile --encoder minilm --tokens 64 --json
  abaw-bench profile --encoder wav2vec2-vad --preset tiny --csv
"""
TABLE_COLUMNS: tuple[tuple[str, str, str, float], ...] = (  # title, row key, format, scale
    ("batch", "batch_size", "{}", 1), ("input", "input", "{}", 1), ("samples/s", "samples_per_s", "{:.3f}", 1),
    ("median ms", "median_ms", "{:.1f}", 1), ("p90 ms", "p90_ms", "{:.1f}", 1),
    ("GFLOP/sample", "flops_per_sample", "{:.4g}", 1e-9), ("GFLOP/s", "achieved_tflops", "{:.2f}", 1e3),
    ("MFU", "mfu", "{:.3f}", 1), ("MFU datasheet", "mfu_datasheet", "{:.3f}", 1),
    ("peak MB", "peak_memory_mb", "{:.0f}", 1), ("CPU util", "cpu_utilisation", "{:.2f}", 1),
    ("compile s", "compile_seconds", "{:.1f}", 1), ("graph breaks", "graph_breaks", "{}", 1),
    ("status", "status", "{}", 1),
)
CSV_COLUMNS = ("encoder", "preset", "weights", "device", "device_name", "dtype", "compiled", "batch_size", "input",
               "status", "samples_per_s", "audio_seconds_per_s", "frames_per_s", "tokens_per_s", "median_ms",
               "p90_ms", "flops_per_sample", "achieved_tflops", "mfu", "mfu_datasheet", "peak_memory_mb", "memory_kind",
               "cpu_utilisation", "compile_seconds", "graph_breaks", "error")


def _batch_sizes(text: str) -> tuple[int, ...]:
    """Comma-separated batch sizes, each read as every other whole-number flag is (`Ranged`: plain digits, so "1_0"
    is refused rather than read as 10, and in BATCH_SIZE)."""
    size = Ranged(int, BATCH_SIZE)
    try:
        sizes = tuple(size(part) for part in text.split(",") if part.strip())
    except argparse.ArgumentTypeError:
        sizes = ()
    if not sizes:
        raise argparse.ArgumentTypeError(f"expected comma-separated batch sizes like 1,2,4,8, each a whole number "
                                         f"{BATCH_SIZE.describe()}, got {text[:80]!r}")
    return sizes


def encoder_listing() -> str:
    """The registered encoders by modality, for --help (the registry is names and facts: importing it loads no
    torch, so every command's parser can be built without it)."""
    from abaw_bench.harness.encoders import ENCODERS, encoder_info

    by_modality: dict[str, list[str]] = {}
    for name in ENCODERS.names():
        by_modality.setdefault(encoder_info(name).modality, []).append(name)
    return "; ".join(f"{modality}: {', '.join(names)}" for modality, names in sorted(by_modality.items()))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "profile", help="measure an encoder's throughput, FLOPs and MFU (random weights)",
        description="Build an encoder's real architecture with random weights (no download), time its forward pass "
                    "after warm-up over a sweep of batch sizes, count FLOPs with torch's FlopCounterMode and report "
                    "MFU against a matmul peak measured in the same run and, on a GPU it knows, against the GPU's "
                    "datasheet peak.",
        examples=EXAMPLES)
    model = parser.add_argument_group("model")
    model.add_argument("--encoder", required=True, metavar="E", help=f"encoder name: {encoder_listing()}")
    model.add_argument("--preset", choices=("paper", "tiny"), default="paper", help="architecture size")
    model.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    model.add_argument("--dtype", choices=("fp32", "tf32", "bf16", "fp16"), default="fp32",
                       help="compute dtype (bf16/fp16 via autocast; tf32: fp32 with TF32 tensor-core matmuls, CUDA "
                            "only; CPUs without native bf16 are very slow in it)")
    model.add_argument("--compile", action="store_true",
                       help="time a torch.compile'd model, compiled per batch size in an untimed pass (FLOPs still "
                            "eager; whisper: its audio encoder)")
    sweep = parser.add_argument_group("sweep")
    sweep.add_argument("--batch-sizes", type=_batch_sizes, default=(1, 2, 4, 8), metavar="B,B,...",
                       help="batch sizes to time")
    size = sweep.add_mutually_exclusive_group()
    size.add_argument("--seconds", type=Ranged(float, Range(0, 3600, low_open=True)), metavar="S",
                      help="audio length per item (audio/asr; default 4)")
    size.add_argument("--frames", type=Ranged(int, Range(1, 10**4)), metavar="F",
                      help="face images per item (image; default 8)")
    size.add_argument("--tokens", type=Ranged(int, Range(1, 10**5)), metavar="N",
                      help="tokens per text (text; default 128)")
    sweep.add_argument("--warmup", type=Ranged(int, Range(0, 10**4)), default=1, metavar="K",
                       help="untimed iterations after the counting pass")
    sweep.add_argument("--iters", type=Ranged(int, Range(1, 10**4)), default=5, metavar="N",
                       help="timed iterations per batch size")
    sweep.add_argument("--peak-tflops", type=Ranged(float, TFLOPS), metavar="X",
                       help="peak TFLOP/s for MFU instead of measuring a matmul")
    sweep.add_argument("--datasheet-tflops", type=Ranged(float, TFLOPS), metavar="X",
                       help="datasheet peak TFLOP/s for the second MFU column, for a GPU the built-in table lacks")
    output = parser.add_argument_group("output").add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the full report as JSON")
    output.add_argument("--csv", action="store_true", help="print one CSV row per batch size")
    parser.set_defaults(handler=run)


def _check_size_flag(args: argparse.Namespace, modality: str) -> None:
    allowed = {"audio": "seconds", "asr": "seconds", "image": "frames", "text": "tokens"}[modality]
    for flag in ("seconds", "frames", "tokens"):
        value = getattr(args, flag)
        if value is not None and flag != allowed:
            raise AbawError(f"--{flag} does not apply to {args.encoder!r} (a {modality} encoder); use --{allowed}")


def _cell(value: Any, fmt: str, scale: float) -> str:
    if value is None:
        return "-"
    return fmt.format(value * scale if isinstance(value, float) else value)


def format_table(report: dict[str, Any]) -> str:
    env, encoder, peak = report["environment"], report["encoder"], report["peak"]
    lines = [
        f"{encoder['name']} [{encoder['preset']}] {encoder['model_id']} — {encoder['parameters'] / 1e6:.3g} M "
        f"parameters, " + ("RANDOM WEIGHTS (architecture only; no checkpoint loaded)"
                           if encoder["weights"].startswith("random weights") else encoder["weights"]),
        f"device {env['device']} ({env['device_name']}), {report['rows'][0]['dtype'] if report['rows'] else ''}, "
        f"torch {env['torch']}, {env['threads']} threads, load average {env['load_average_at_start'][0]:.2f} → "
        f"{env['load_average_at_end'][0]:.2f}",
        f"peak {peak['tflops'] * 1000:.1f} GFLOP/s ({peak['source']}"
        + (f", {peak['dtype']} matmul n={peak['matmul_n']})" if "matmul_n" in peak else ")")
        + (f"; datasheet {datasheet['tflops']:.1f} TFLOP/s ({datasheet.get('gpu', datasheet['source'])})"
           if (datasheet := report.get("datasheet_peak")) else "; no datasheet peak for this device"),
    ]
    header = [title for title, _, _, _ in TABLE_COLUMNS]
    body = [[_cell(row.get(key), fmt, scale) for _, key, fmt, scale in TABLE_COLUMNS] for row in report["rows"]]
    widths = [max(len(cell) for cell in column) for column in zip(header, *body, strict=False)]
    for cells in [header, *body]:
        lines.append("  ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True)))
    return "\n".join(lines)


def format_csv(report: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(report["rows"])
    return buffer.getvalue()


def run(args: argparse.Namespace) -> int:
    from abaw_bench.harness.encoders import encoder_info

    _check_size_flag(args, encoder_info(args.encoder).modality)
    from abaw_bench.harness.profile import ProfileSettings, profile

    report = profile(ProfileSettings(
        encoder=args.encoder, preset=args.preset, device=args.device, dtype=args.dtype, batch_sizes=args.batch_sizes,
        seconds=args.seconds, frames=args.frames, tokens=args.tokens, compile=args.compile, warmup=args.warmup,
        iters=args.iters, peak_tflops=args.peak_tflops, datasheet_tflops=args.datasheet_tflops))
    if args.json:
        print(json.dumps(report, indent=2))
    elif args.csv:
        sys.stdout.write(format_csv(report))
    else:
        print(format_table(report))
    return 0
