"""`abaw-bench profile` on tiny presets: the report's fields, and FLOPs that match a count done by hand."""

from __future__ import annotations

import argparse
import json

import pytest
from abaw_bench.harness.cli import profile as profile_command
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.profile import ProfileSettings, profile


def run_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    parser = argparse.ArgumentParser()
    profile_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["profile", *argv])
    assert args.handler(args) == 0
    return capsys.readouterr().out


def vit_flops_per_image(hidden: int, layers: int, intermediate: int, image: int, patch: int) -> int:
    """Multiply-adds ×2 of a ViT forward: patch-embedding conv, then per layer QKV+O, attention, MLP."""
    patches = (image // patch) ** 2
    tokens = patches + 1  # + [CLS]
    embed = 2 * patches * hidden * 3 * patch * patch
    projections = 2 * tokens * 4 * hidden * hidden
    attention = 2 * 2 * tokens * tokens * hidden  # QKᵀ and AV, summed over heads
    mlp = 2 * tokens * 2 * hidden * intermediate
    return embed + layers * (projections + attention + mlp)


def test_counted_flops_match_hand_count_for_tiny_vit() -> None:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the caller's setting, which the sweep (on every core) must hand back
    try:
        report = profile(ProfileSettings("vit-h14", preset="tiny", batch_sizes=(1, 3), frames=2, warmup=0, iters=1,
                                         peak_tflops=1.0))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    expected = 2 * vit_flops_per_image(hidden=32, layers=2, intermediate=64, image=56, patch=14)
    assert [row["flops_per_sample"] for row in report["rows"]] == [expected, expected]


def test_profile_json_report_fields(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_command(["--encoder", "wav2vec2-vad", "--preset", "tiny", "--batch-sizes", "1,2", "--seconds", "1",
                       "--warmup", "0", "--iters", "2", "--json"], capsys)
    report = json.loads(out)
    assert {"torch", "cuda", "device", "device_name", "threads"} <= set(report["environment"])
    assert report["peak"]["source"] == "measured" and report["peak"]["tflops"] > 0
    assert "random weights" in report["note"] and "random weights" in report["encoder"]["weights"]
    assert [row["batch_size"] for row in report["rows"]] == [1, 2]
    for row in report["rows"]:
        assert row["status"] == "ok" and row["weights"] == "random weights" and row["input_seconds"] == 1.0
        assert len(row["step_ms"]) == 2 and row["p90_ms"] >= row["median_ms"] > 0
        assert row["audio_seconds_per_s"] == pytest.approx(row["samples_per_s"])
        assert row["mfu"] == pytest.approx(row["achieved_tflops"] / report["peak"]["tflops"])
        assert row["achieved_tflops"] == pytest.approx(
            row["flops_per_sample"] * row["batch_size"] / row["median_ms"] * 1e-9)
        assert row["peak_memory_mb"] > 0
    # Per-sample FLOPs do not depend on the batch size for equal-length items.
    assert report["rows"][0]["flops_per_sample"] == report["rows"][1]["flops_per_sample"] > 0


def test_profile_table_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--encoder", "gte-base", "--preset", "tiny", "--batch-sizes", "2", "--tokens", "16", "--warmup", "0",
              "--iters", "1", "--peak-tflops", "0.1"]
    table = run_command(common, capsys)
    assert "RANDOM WEIGHTS" in table and "MFU" in table
    lines = run_command([*common, "--csv"], capsys).splitlines()
    assert lines[0].startswith("encoder,preset,weights") and lines[1].startswith("gte-base,tiny,random weights")


def test_size_flag_must_match_modality(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(AbawError, match="--frames does not apply"):
        run_command(["--encoder", "wav2vec2-vad", "--frames", "3"], capsys)
