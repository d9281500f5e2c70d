"""A run's configuration identity: what it computed, without the seed, hashed so the leaderboard pools only seeds.

The leaderboard reports mean ± sd over the runs of one paper row as a spread over seeds. That is honest only when the
runs differ in nothing but the seed, so runs are grouped by `config_hash`, a hash over the fields of results.json
(schema: `harness.results.Results`) that decide what a run computes:

    system, task, variant, preset
    hyper                   the effective hyper-parameters (CLI --epochs/--lr/--batch-size/--hyper are folded in);
                            a train+val row trains for its seed's train-only best epoch, so its `epochs` counts as
                            that rule ("best epoch of <variant>"), not as each seed's number
    model                   the model knobs the run built with (the system's ModelKnobs, --hyper folded in)
    config.<field>          every RunConfig field except those in EXCLUDED_CONFIG_FIELDS (so a field added to
                            RunConfig later splits groups rather than pooling runs it may tell apart)
    data.demo, data.manifest_sha256                          the data, by its split manifest, not by its path
    encoders.<input>.encoder / fingerprint / random_weights / unfrozen    the weights, by their hash, not their path
    provenance.precision    the resolved numeric precision (fp32, bf16, fp16): it changes the figures
    skipped.<split>         the items --skip-bad left out of that split (count and ids): they change what is trained,
                            scored and predicted, where the flag alone does not (a --skip-bad run that skipped nothing
                            computes what a run without it does)

Left out, because they do not change what is computed (or are folded in above):
    seed                    what a spread is taken over
    config: out_root, data_root, weights, download_root     paths (the data and weights are identified by hash)
    config: device, num_workers, deterministic, resume, progress, trust_remote_code    where and how it ran, at most
                            changing the last bits (CPU vs CUDA kernels, cuDNN's non-deterministic ones)
    config: overwrite, skip_bad    how the run directory and unreadable media were to be handled (what was skipped
                            is in `skipped.<split>`)
    config: epochs, batch_size, lr, hyper_overrides, precision    requests, whose effect is in `hyper` and
                            `provenance.precision`: `--epochs 5` and `--hyper epochs=5` are one configuration
    provenance: git commit, packages, world size (the global batch is in `hyper`), times
A results.json without some of these fields (an older schema) reads them as null, so such runs still group together.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from abaw_bench.harness.results import Results

EXCLUDED_CONFIG_FIELDS = frozenset({
    "seed", "out_root", "data_root", "weights", "download_root", "device", "num_workers", "deterministic", "resume",
    "progress", "trust_remote_code", "epochs", "batch_size", "lr", "hyper_overrides", "precision", "overwrite",
    "skip_bad"})
ENCODER_FIELDS = ("encoder", "fingerprint", "random_weights", "unfrozen")
REUSED_EPOCHS = "best epoch of"  # a train+val row's epochs_source (harness.train.pipeline.reused_epochs)
HASH_LENGTH = 12  # hex digits: ample to tell apart the configurations of one runs tree, short enough to print


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def config_fields(document: dict[str, Any]) -> dict[str, Any]:
    """The identity of a results.json document as flat `dotted.name -> JSON value` pairs (see the module docstring)."""
    fields: dict[str, Any] = {name: document.get(name) for name in ("system", "task", "variant", "preset")}
    for name, value in sorted(_object(document.get("hyper")).items()):
        fields[f"hyper.{name}"] = value
    for name, value in sorted(_object(document.get("model")).items()):
        fields[f"model.{name}"] = value
    epochs_source = document.get("epochs_source")
    if isinstance(epochs_source, str) and epochs_source.startswith(REUSED_EPOCHS):
        fields["hyper.epochs"] = epochs_source.split(" (", 1)[0]  # the rule, not each seed's own count
    for name, value in sorted(_object(document.get("config")).items()):
        if name not in EXCLUDED_CONFIG_FIELDS:
            fields[f"config.{name}"] = value
    data = _object(document.get("data"))
    fields["data.demo"] = data.get("demo")
    fields["data.manifest_sha256"] = data.get("manifest_sha256")
    for name, info in sorted(_object(document.get("encoders")).items()):
        for key in ENCODER_FIELDS:
            fields[f"encoders.{name}.{key}"] = _object(info).get(key)
    fields["provenance.precision"] = _object(document.get("provenance")).get("precision")
    for split, entry in sorted(_object(_object(document.get("skipped")).get("splits")).items()):
        fields[f"skipped.{split}"] = {"count": _object(entry).get("count"),
                                      "items": sorted(_object(_object(entry).get("items")))}
    return fields


def canonical(value: Any) -> str:
    """One spelling per JSON value (sorted keys, no spaces), so equal configurations hash equally."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def config_hash(fields: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(fields).encode("ascii")).hexdigest()[:HASH_LENGTH]


def run_config(run: Results) -> dict[str, str]:
    """`config_fields` of a run, each value as its canonical JSON."""
    return {name: canonical(value) for name, value in config_fields(run.to_json()).items()}


def run_config_hash(run: Results) -> str:
    """`config_hash` of a run: runs with the same hash differ at most in the seed."""
    return config_hash(config_fields(run.to_json()))


def differing_fields(configurations: list[dict[str, str]]) -> list[str]:
    """The dotted names whose canonical values are not the same in every configuration (absent counts as a value)."""
    names = sorted({name for fields in configurations for name in fields})
    return [name for name in names if len({fields.get(name, "(absent)") for fields in configurations}) > 1]
