"""The encoder registry walked as data: every registered encoder declares sane facts, its family module provides the
contract of `harness/encoders/base.py`, and listing the encoders imports none of the heavy libraries."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import typing

import pytest
from abaw_bench.harness.encoders import ENCODERS, build_random, weights
from abaw_bench.harness.encoders.base import PRESETS, EncoderFamily, Modality

NAMES = ENCODERS.names()
CONTRACT = ("load", "build_random", "save")


def _signature(function: typing.Callable[..., typing.Any]) -> tuple[int, list[str]]:
    """How `harness.encoders` calls a contract function: the number of positional parameters (a Protocol method's
    `self` left out) and the keyword-only names; a catch-all `**options` is the family's own business."""
    parameters = [parameter for name, parameter in inspect.signature(function).parameters.items() if name != "self"]
    kinds = [parameter.kind for parameter in parameters]
    return kinds.count(inspect.Parameter.POSITIONAL_OR_KEYWORD), [
        parameter.name for parameter in parameters if parameter.kind is inspect.Parameter.KEYWORD_ONLY]


def test_the_scan_finds_the_published_encoders() -> None:
    families = {info.family for _, info in ENCODERS}
    assert len(NAMES) >= 16 and len(families) >= 9
    assert {"wav2vec2-vad", "vit-h14", "whisper-large-v3", "bert-tokens"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_encoder_declares_sane_facts(name: str) -> None:
    info = ENCODERS.get(name)
    assert info.name == name
    assert info.modality in typing.get_args(Modality)
    assert set(info.output_dims) == set(PRESETS)
    if info.modality == "asr":  # transcripts, no feature rows
        assert set(info.output_dims.values()) == {0}
    else:
        assert all(dim > 0 for dim in info.output_dims.values())
    assert info.model_id and info.description and info.description == info.description.strip()
    assert info.frame_alignment in (None, "spread")
    assert info.family.startswith("abaw_bench.harness.encoders.")
    assert weights.sources(name) and all(weights.describe_part(part) for part in weights.sources(name))


@pytest.mark.parametrize("name", NAMES)
def test_every_family_provides_the_contract(name: str) -> None:
    family = importlib.import_module(ENCODERS.get(name).family)
    for function in CONTRACT:
        assert _signature(getattr(family, function)) == _signature(getattr(EncoderFamily, function)), \
            f"{family.__name__}.{function}"


@pytest.mark.parametrize("name", [name for name in NAMES if name != "minilm"])  # minilm: no random build (base.py)
def test_every_tiny_preset_builds_with_random_weights(name: str) -> None:
    encoder = build_random(name, "tiny")
    assert encoder.is_random and encoder.info is ENCODERS.get(name) and encoder.preset == "tiny"
    assert encoder.output_dim == encoder.info.output_dims["tiny"]
    assert sum(parameter.numel() for parameter in encoder.model.parameters()) > 0


def test_listing_the_encoders_imports_no_heavy_library() -> None:
    """`systems`, `info`, `tasks`, `validate` and `score` list encoders: the scan imports every declaring module."""
    code = ("import sys, abaw_bench.harness.encoders as e\n"
            "infos = [info for _, info in e.ENCODERS]; e.encoder_info('vit-h14')\n"
            "print(len(infos), sorted({'torch', 'transformers', 'timm', 'whisper'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split(maxsplit=1) == [str(len(NAMES)), "[]\n"]
