"""Every variant trains on the EMI demo (tiny presets) and beats a shuffled-label control on validation.

Written against the engine's documented Python API (`harness.train.pipeline.run(RunConfig)` writing
`<run_dir>/results.json`). Encoder features land in the session's feature cache on first use, so the variants share
one extraction per encoder. Few epochs with a raised learning rate keep the whole file affordable on 2 CPU cores;
unfrozen variants (encoder in the loop) train 2 epochs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from harness.systems import get_system
from harness.train.config import RunConfig

pipeline = pytest.importorskip("harness.train.pipeline", reason="harness/train/pipeline.py is not written yet")

pytestmark = pytest.mark.slow

FROZEN_EPOCHS, UNFROZEN_EPOCHS = 6, 2
MARGIN = 0.05  # mean val Pearson above the shuffled-label control


def _variants(*, train_only: bool) -> list[tuple[str, str]]:
    pairs = []
    for system in ("baseline", "hallmen2024", "hallmen2025"):
        for name, variant in get_system(system).variants["emi"].items():
            is_train_only = variant.train_splits == ("train",) and not variant.options.get("constant")
            if is_train_only == train_only:
                pairs.append((system, name))
    return pairs


def _run(out: Path, system: str, variant: str, *, shuffle: bool = False, epochs: int | None = None) -> dict[str, Any]:
    if epochs is None and not get_system(system).variant("emi", variant).options.get("constant"):
        epochs = UNFROZEN_EPOCHS if get_system(system).variant("emi", variant).unfrozen else FROZEN_EPOCHS
    config = RunConfig(
        system=system,
        task="emi",
        variant=variant,
        preset="tiny",
        data_root=None,
        out_root=str(out / ("shuffled" if shuffle else "real")),
        seed=0,
        epochs=epochs,
        batch_size=16,
        lr=1e-3,
        shuffle_labels=shuffle,
        progress=False,
    )
    pipeline.run(config)
    return json.loads((config.run_dir() / "results.json").read_text(encoding="utf-8"))


def _val_pearson(results: dict[str, Any]) -> float:
    for key in ("val", "validation"):
        if isinstance(results.get(key), dict) and "value" in results[key]:
            return float(results[key]["value"])
    raise AssertionError(f"results.json has no validation metric under 'val' or 'validation'; keys: {sorted(results)}")


@pytest.mark.parametrize(("system", "variant"), _variants(train_only=True))
def test_variant_beats_shuffled_labels_on_demo(tmp_path: Path, system: str, variant: str) -> None:
    real = _val_pearson(_run(tmp_path, system, variant))
    control = _val_pearson(_run(tmp_path, system, variant, shuffle=True))
    assert math.isfinite(real), f"{system}/{variant}: val {real}"
    assert real > control + MARGIN, f"{system}/{variant}: val {real:.3f} vs shuffled-label control {control:.3f}"


@pytest.mark.parametrize(("system", "variant"), _variants(train_only=False))
def test_train_val_and_floor_variants_complete(tmp_path: Path, system: str, variant: str) -> None:
    spec_variant = get_system(system).variant("emi", variant)
    results = _run(tmp_path, system, variant, epochs=1 if spec_variant.train_splits == ("train", "val") else None)
    if spec_variant.options.get("constant"):
        assert _val_pearson(results) == 0.0  # a constant prediction carries no correlation (the EMI metric's rule)
