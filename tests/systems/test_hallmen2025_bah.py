"""hallmen2025 on BAH: the variants are Table 2's rows, the hyper-parameters the paper's, and under the paper preset
the head has exactly the authors' parameter count (written out from the architecture, not from the system code)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.cli.info import describe
from abaw_bench.harness.systems import DATASET_TRANSCRIPT, get_system
from abaw_bench.harness.tasks import get_task

TEXT, VISION, AUDIO = "text", "vit-h14", "wav2vec2-vad"


def lstm_parameters(inputs: int, hidden: int, layers: int = 2) -> int:
    """torch.nn.LSTM: per layer four gates, each with input and recurrent weights and two bias vectors."""
    total = 0
    for layer in range(layers):
        width = inputs if layer == 0 else hidden
        total += 4 * hidden * (width + hidden) + 2 * 4 * hidden
    return total


def linear_parameters(inputs: int, outputs: int) -> int:
    return inputs * outputs + outputs


def test_the_paper_head_has_the_authors_parameter_count() -> None:
    vision_lstm, audio_lstm = lstm_parameters(1280, 768), lstm_parameters(1027, 1027)
    assert (vision_lstm, audio_lstm) == (11_022_336, 16_892_096)
    fusion = linear_parameters(1024 + 768 + 1027, 1027) + linear_parameters(1027, 1)
    info = describe("hallmen2025", "bah", "text-audio-vision-frozen", "paper")  # the same head, no encoder
    assert info["head"]["trainable_parameters"] == vision_lstm + audio_lstm + fusion == 30_811_600
    assert [entry["dim"] for entry in info["inputs"]] == [1024, 1280, 1027]
    assert [entry["encoder"] for entry in info["inputs"]] == ["gte-large", "vit-h14", "wav2vec2-vad"]


def test_variants_are_table_2s_trained_rows() -> None:
    variants = get_system("hallmen2025").variants["bah"]
    rows = {variant.row: (variant.inputs, dict(variant.paper)) for variant in variants.values() if variant.paper}
    assert rows == {
        "Ours vision": ((VISION,), {"val": 0.674}),
        "Ours audio": ((AUDIO,), {"val": 0.662}),
        "Ours text": ((TEXT,), {"val": 0.718}),
        "Ours text+audio": ((TEXT, AUDIO), {"val": 0.696}),
        "Ours text+vision": ((TEXT, VISION), {"val": 0.725}),
        "Ours text+audio+vision": ((TEXT, VISION, AUDIO), {"val": 0.720}),
        "Ours† text+vision": ((TEXT, VISION), {"val": None}),
    }
    trainval = variants["trainval-text-vision"]
    assert trainval.train_splits == ("train", "val") and trainval.reuse_best_epoch_of == "text-vision"
    assert variants["trainval-text-vision-frozen"].reuse_best_epoch_of == "text-vision-frozen"
    assert all(v.train_splits == ("train",) and v.reuse_best_epoch_of is None
               for name, v in variants.items() if not name.startswith("trainval-"))
    # the table's rows fine-tune the text encoder and wav2vec2 with the head (the authors' setting); each such row has
    # a frozen twin
    for name, variant in variants.items():
        if name.endswith("-frozen"):
            assert variant.unfrozen == () and not variant.paper and variant.notes
            row = variants[name.removesuffix("-frozen")]
            assert (variant.inputs, variant.train_splits, dict(variant.hyper)) == (row.inputs, row.train_splits,
                                                                                  dict(row.hyper))
        else:
            assert variant.unfrozen == tuple(name for name in variant.inputs if name in (TEXT, AUDIO))
            assert (f"{name}-frozen" in variants) == bool(variant.unfrozen)
            # the audio rows say what still differs from the authors' audio training
            assert any("augmented" in note for note in variant.notes) == (AUDIO in variant.inputs)
    assert get_system("hallmen2025").default_variant["bah"] == "text-vision"  # best on validation (.725)


def test_hyper_parameters_and_text_source() -> None:
    spec = get_system("hallmen2025")
    hyper = spec.hyper_for("bah", spec.variant("bah", None))
    assert (hyper.lr, hyper.epochs, hyper.batch_size, hyper.schedule, hyper.warmup_epochs, hyper.loss) == (
        7.5e-6, 10, 32, "cosine", 1.0, "bce")
    assert hyper.sampling == "centred" and hyper.frame_step == 1
    assert dict(hyper.centred_seconds) == {TEXT: 20.0, VISION: 20.0, AUDIO: 12.0}
    assert dict(hyper.centred_rows) == {VISION: 400}
    assert hyper.epoch_sampling == "balanced-segments" and hyper.threshold_sweep == (0.40, 0.75, 0.001)
    assert hyper.max_seconds is None and hyper.max_frames is None
    # the authors' lr_text and lr_audio, and their freeze epochs of the text and audio encoders
    assert (hyper.encoder_lr, hyper.encoder_freeze_epoch) == (7.5e-6, 30)
    assert (spec.encoder_for("bah", TEXT, "paper"), spec.encoder_for("bah", TEXT, "tiny")) == ("gte-large", "minilm")
    assert spec.transcript_for("bah", TEXT, "paper") == "whisper-large-v3"
    assert spec.transcript_for("bah", TEXT, "tiny") == DATASET_TRANSCRIPT


# the frozen twins build the same heads as their rows (checked in test_variants_are_table_2s_trained_rows)
@pytest.mark.parametrize("variant", sorted(name for name in get_system("hallmen2025").variants["bah"]
                                           if not name.endswith("-frozen")))
def test_tiny_heads_give_one_logit_per_centred_sample(variant: str) -> None:
    import torch
    from abaw_bench.harness.encoders import encoder_info

    spec = get_system("hallmen2025")
    chosen = spec.variant("bah", variant)
    dims = {name: encoder_info(spec.encoder_for("bah", name, "tiny")).output_dims["tiny"] for name in chosen.inputs}
    model = spec.build_model("bah", chosen, dims, spec.knobs_for("bah", chosen, "tiny"), spec.hyper_for("bah", chosen))
    # centred windows: text is the one [ATTENTION] vector; vision/audio windows are shorter at a video's edges
    lengths = {name: [1, 1, 1] if name == TEXT else [5, 2, 1] for name in dims}
    inputs = {name: (torch.randn(3, max(size), dims[name]), torch.tensor(size)) for name, size in lengths.items()}
    assert model(inputs).shape == (3, get_task("bah").output_width) == (3, 1)


def label_segments(groups: list[str], labels: np.ndarray) -> dict[int, int]:
    """Label-constant runs of frames per video, counted per class (written from the label table, not the engine)."""
    counts = {0: 0, 1: 0}
    previous = None
    for video, label in zip(groups, labels.tolist(), strict=True):
        if (video, label) != previous:
            counts[int(label)] += 1
        previous = (video, label)
    return counts


@pytest.mark.slow
def test_a_demo_epoch_is_one_frame_per_segment_with_the_majority_undersampled(tmp_path: Path, demo_root) -> None:
    from abaw_bench.harness.train import pipeline
    from abaw_bench.harness.train.config import RunConfig

    config = RunConfig(system="hallmen2025", task="bah", variant="text-frozen", preset="tiny", data_root=None,
                       out_root=str(tmp_path), seed=0, progress=False, epochs=2, lr=1e-3, batch_size=32,
                       hyper_overrides={"frame_step": 8, "centred_seconds": {"text": 2.0}})
    pipeline.run(config)
    log = [json.loads(line) for line in (config.run_dir() / "train_log.jsonl").read_text().splitlines()]
    table = get_task("bah").reader(demo_root("bah")).labels("train")
    segments = label_segments(table.groups, table.values[:, 0])
    assert min(segments.values()) > 0 and segments[0] != segments[1]
    assert [entry["train_samples"] for entry in log] == [2 * min(segments.values())] * 2
    assert [entry["train_steps"] for entry in log] == [math.ceil(2 * min(segments.values()) / 32)] * 2
