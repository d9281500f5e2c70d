"""`run` loads encoders with the flags `extract` takes: one definition of them, and every paper row's encoder requests
carry them (checked at the run's own load/lookup calls, with nothing downloaded or built)."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from abaw_bench.harness.cli import build_parser
from abaw_bench.harness.cli._common import ENCODER_LOADING_FLAGS
from abaw_bench.harness.runtime.distributed import DistContext
from abaw_bench.harness.systems import SYSTEMS, get_system


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    (subparsers,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return subparsers.choices[name]


def _options(parser: argparse.ArgumentParser, group_title: str | None = None) -> set[str]:
    groups = [group for group in parser._action_groups if group_title in (None, group.title)]
    return {option for group in groups for action in group._group_actions for option in action.option_strings}


def test_run_accepts_every_encoder_loading_flag_of_extract() -> None:
    extract_loading = _options(_subparser("extract"), "encoder") - {"--encoder"}
    assert extract_loading == set(ENCODER_LOADING_FLAGS)
    assert extract_loading <= _options(_subparser("run"))


PAPER_ROWS = [(system, task, variant) for system in SYSTEMS.names() for task, variants in
              get_system(system).variants.items() for variant in variants]


class _Recorder:
    """Stands in for every place a run loads an encoder or looks up its features: checks each call against the real
    function's signature (an unknown keyword fails as it would in a real run) and records the keywords."""

    def __init__(self) -> None:
        from abaw_bench.harness.encoders import load_encoder
        from abaw_bench.harness.features import ensure_features
        from abaw_bench.harness.features.lookup import find_cached_store
        from abaw_bench.harness.features.text_windows import build_text_windows

        self.real = {"load_encoder": load_encoder, "find_cached_store": find_cached_store,
                     "ensure_features": ensure_features, "build_text_windows": build_text_windows}
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def _record(self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        inspect.signature(self.real[function]).bind(*args, **kwargs)
        if function == "load_encoder":
            self.requests.append((args[0], kwargs))
        else:  # a FeatureRequest first
            self.requests.append((args[0].encoder, dataclasses.asdict(args[0])))

    def load_encoder(self, *args: Any, **kwargs: Any) -> Any:
        from abaw_bench.harness.encoders import encoder_info

        self._record("load_encoder", args, kwargs)
        return SimpleNamespace(info=encoder_info(args[0]), output_dim=4, prepare=None, fingerprint=lambda: "f",
                               weights_source="fake", is_random=False)

    def find_cached_store(self, *args: Any, **kwargs: Any) -> Any:
        self._record("find_cached_store", args, kwargs)
        return None, ""

    def ensure_features(self, *args: Any, **kwargs: Any) -> Any:
        self._record("ensure_features", args, kwargs)
        return SimpleNamespace(dim=4, summary={}, skipped={}, path=lambda item_id: Path("/cache") / item_id)

    def build_text_windows(self, *args: Any, **kwargs: Any) -> Any:
        self._record("build_text_windows", args, kwargs)
        return SimpleNamespace(skipped={})


@pytest.mark.parametrize(("system", "task", "variant"), PAPER_ROWS)
def test_every_paper_rows_encoders_are_requested_with_runs_flags(system: str, task: str, variant: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from abaw_bench.harness.encoders import encoder_info
    from abaw_bench.harness.train import inputs, pipeline

    configs: list[Any] = []
    monkeypatch.setattr(pipeline, "run", lambda config: configs.append(config) or SimpleNamespace(is_main=False))
    args = build_parser().parse_args(
        ["run", "--system", system, "--task", task, "--variant", variant, "--preset", "paper", "--trust-remote-code",
         "--download-root", "/models/whisper", "--weights", "vit-h14=/models/vit", "--weights",
         "whisper-large-v3=/models/large-v3.pt", "--quiet"])
    assert args.handler(args) == 0
    (config,) = configs

    recorder = _Recorder()
    monkeypatch.setattr("abaw_bench.harness.encoders.load_encoder", recorder.load_encoder)
    monkeypatch.setattr("abaw_bench.harness.features.lookup.find_cached_store", recorder.find_cached_store)
    monkeypatch.setattr("abaw_bench.harness.features.ensure_features", recorder.ensure_features)
    monkeypatch.setattr("abaw_bench.harness.features.text_windows.build_text_windows", recorder.build_text_windows)
    # the fine-tuned BAH text encoder (with its [ATTENTION] row) loads through load_encoder with the same keywords
    monkeypatch.setattr("abaw_bench.harness.features.text_windows.MarkerTextEncoder",
                        lambda name, preset, **kwargs: recorder.load_encoder(name, preset, trainable=True, **kwargs))
    monkeypatch.setattr(inputs, "ProvidedSource", lambda items, kind, progress: SimpleNamespace(dim=4))
    spec = get_system(system)
    row = spec.variant(task, variant)
    hyper = spec.hyper_for(task, row)
    builder = inputs.InputBuilder(spec, task, row, config, hyper, Path("/data"),
                                  DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu")))
    builder.sources("train", [])
    for name in row.inputs:
        if hyper.sampling == "centred" and builder.modality(name) == "text":
            builder.window_source(name, [], SimpleNamespace(grids=[]), hyper, {})

    needed = spec.encoders_needed(task, row, "paper")
    loaded = [encoder for encoder in needed if encoder_info(encoder).modality != "asr"]  # asr: via its text input
    assert sorted({name for name, _ in recorder.requests}) == sorted(loaded)
    for name, request in recorder.requests:
        assert request["trust_remote_code"] is True and request["download_root"] == "/models/whisper", name
        assert request["weights"] == ("/models/vit" if name == "vit-h14" else None), name
        if encoder_info(name).modality == "text" and "whisper-large-v3" in needed and not request.get("trainable"):
            assert request["asr_weights"] == "/models/large-v3.pt", name  # the transcripts its cached features embed

    # A fine-tuned text encoder reads the transcripts itself: the whisper weights reach their extraction instead.
    for name in row.unfrozen:
        if builder.modality(name) == "text" and "whisper-large-v3" in needed and hyper.sampling != "centred":
            recorder.requests.clear()
            assert builder._asr_transcripts(name, "train", [SimpleNamespace(id="clip", media={})]) == {
                "clip": Path("/cache/clip")}
            asr_requests = [request for encoder, request in recorder.requests if encoder == "whisper-large-v3"]
            assert asr_requests and all(request["weights"] == "/models/large-v3.pt" for request in asr_requests)
