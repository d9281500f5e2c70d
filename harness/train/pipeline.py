"""One `abaw-bench run`: resolve the system/variant, build the inputs, train, predict, and write the run directory.

Run directory (`<out>/<system>/<task>/<variant>/seed<N>`):
    config.json            the resolved RunConfig plus the effective hyper-parameters
    results.json           validation metrics + provenance (schema in `harness.provenance`)
    val_predictions.csv    per validation item: id, predictions, labels (absent for train+val rows: nothing held out)
    submission_test.csv    the test predictions in the task's official format, checked by the task's validator
    train_log.jsonl        one JSON object per epoch
    best.pt / last.pt      best-epoch weights / full training state for --resume (torch.load(weights_only=True))

Train+val rows (`variant.train_splits == ("train", "val")`) train for the best epoch count of the matching
train-only run (`variant.reuse_best_epoch_of`), read from that run's results.json under the same --out root and
seed, unless --epochs is given; results.json says which (`epochs_source`).
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from abaw_bench.harness.atomic import write_json, write_text
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.paths import is_demo_root, resolve_data_root
from abaw_bench.harness.systems import Hyper, SystemSpec, Variant, get_system
from abaw_bench.harness.tasks import get_task
from abaw_bench.harness.tasks.base import Item, Table
from abaw_bench.harness.train import distributed
from abaw_bench.harness.train.config import RunConfig
from abaw_bench.harness.train.data import Collate, ItemDataset, PreparedSource, shuffled_targets
from abaw_bench.harness.train.engine import FitSettings, TrainableModel, Trainer, seed_everything

PROVIDED_PREFIX = "provided:"
# Widths of the organisers' pickles (REFERENCE §1); only `info` uses them — a run reads the width from the data.
PROVIDED_DIMS = {"vit": 384, "wav2vec2": 768}
SUBMISSION_NAME = "submission_test.csv"


@dataclass
class RunOutcome:
    run_dir: Path
    results: dict[str, Any]
    is_main: bool


class ProvidedSource:
    """The organisers' per-item feature pickles ("provided:vit" → item.media["vit"]), read through the restricted
    unpickler on every access (untrusted input; nothing kept in memory beyond the item being read)."""

    def __init__(self, items: list[Item], kind: str) -> None:
        self.kind = kind
        self.paths = {}
        for item in items:
            if kind not in item.media:
                raise AbawError(f"item {item.id!r} ({item.split}) has no {kind!r} feature pickle "
                                f"(expected {kind}/{item.id}.pkl under the data root)")
            self.paths[item.id] = item.media[kind]
        first = next(iter(self.paths.values()), None)
        self.dim = int(self._load(first).shape[1]) if first is not None else PROVIDED_DIMS.get(kind, 0)

    @staticmethod
    def _load(path: Path) -> np.ndarray:
        from abaw_bench.harness.safepickle import load_features

        return load_features(path)

    def get(self, item_id: str) -> np.ndarray:
        rows = self._load(self.paths[item_id])
        if rows.shape[1] != self.dim:
            raise AbawError(f"{self.paths[item_id]}: {rows.shape[1]} feature columns, expected {self.dim} "
                            "like the other pickles")
        return rows


def resolve_hyper(spec: SystemSpec, task: str, variant: Variant, config: RunConfig) -> Hyper:
    hyper = spec.hyper_for(task, variant)
    overrides = {key: value for key, value in (("epochs", config.epochs), ("batch_size", config.batch_size),
                                               ("lr", config.lr)) if value is not None}
    return hyper.replace(**overrides)


def reused_epochs(config: RunConfig, variant: Variant) -> tuple[int, str]:
    """Train+val rows: the best epoch of the matching train-only run (same out root, seed, preset)."""
    source_dir = replace(config, variant=variant.reuse_best_epoch_of).run_dir()
    results_path = source_dir / "results.json"
    if config.epochs is not None:
        return config.epochs, f"--epochs {config.epochs}"
    if not results_path.is_file():
        raise AbawError(f"variant {config.variant!r} trains on train+val for the best epoch count of "
                        f"{variant.reuse_best_epoch_of!r}, but {results_path} does not exist: run "
                        f"`abaw-bench run --system {config.system} --task {config.task} --variant "
                        f"{variant.reuse_best_epoch_of} --seed {config.seed} --out {config.out_root}` first, "
                        "or give --epochs")
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
        best_epoch = int(results["best_epoch"])
        preset = results["config"]["preset"]
    except (ValueError, KeyError, TypeError) as error:
        raise AbawError(f"{results_path}: cannot read 'best_epoch' ({error})") from error
    if preset != config.preset:
        raise AbawError(f"{results_path}: that run used preset {preset!r}, this one {config.preset!r}; "
                        "rerun it with the same preset or give --epochs")
    if best_epoch < 1:
        raise AbawError(f"{results_path}: best_epoch is {best_epoch}; give --epochs")
    return best_epoch, f"best epoch of {variant.reuse_best_epoch_of} ({results_path})"


class InputBuilder:
    """Builds one split's sources for every input of the variant and remembers the encoders' provenance."""

    def __init__(self, spec: SystemSpec, task: str, variant: Variant, config: RunConfig, hyper: Hyper,
                 data_root: Path, context: distributed.DistContext) -> None:
        self.spec, self.task, self.variant, self.config, self.hyper = spec, task, variant, config, hyper
        self.data_root, self.context = data_root, context
        self.encoders: dict[str, Any] = {}  # unfrozen: input name -> built Encoder
        self.provenance: dict[str, dict[str, Any]] = {}
        for name in variant.unfrozen:
            self.encoders[name] = self._load_unfrozen(name)

    def encoder_name(self, name: str) -> str:
        return self.spec.encoder_for(self.task, name, self.config.preset)

    def _limits(self, modality: str) -> dict[str, Any]:
        return {"max_seconds": self.hyper.max_seconds if modality in ("audio", "asr", "text") else None,
                "max_frames": self.hyper.max_frames if modality == "image" else None}

    def _load_unfrozen(self, name: str) -> Any:
        from abaw_bench.harness.encoders import encoder_info, load_encoder

        encoder_name = self.encoder_name(name)
        modality = encoder_info(encoder_name).modality
        options = {"max_seconds": self.hyper.max_seconds} if modality == "audio" and self.hyper.max_seconds else {}
        encoder = load_encoder(encoder_name, self.config.preset, weights=self.config.weights.get(encoder_name),
                               device=str(self.context.device), **options)
        for parameter in encoder.model.parameters():
            parameter.requires_grad_(True)
        self.provenance[name] = {"encoder": encoder_name, "fingerprint": encoder.fingerprint(), "unfrozen": True,
                                 "weights": encoder.weights_source, "random_weights": encoder.is_random}
        return encoder

    def sources(self, split: str,
                items: list[Item]) -> tuple[dict[str, Any], dict[str, PreparedSource], dict[str, int]]:
        """(feature sources, prepared sources, input dims) for `items` of `split`."""
        features: dict[str, Any] = {}
        prepared: dict[str, PreparedSource] = {}
        dims: dict[str, int] = {}
        for name in self.variant.inputs:
            encoder_name = self.encoder_name(name)
            if name in self.encoders:
                encoder = self.encoders[name]
                prepared[name] = PreparedSource(_media_loader(items, encoder.info.modality, self.hyper),
                                                encoder.prepare)
                dims[name] = encoder.output_dim
            elif encoder_name.startswith(PROVIDED_PREFIX):
                source = ProvidedSource(items, encoder_name[len(PROVIDED_PREFIX):])
                features[name], dims[name] = source, source.dim
                self.provenance.setdefault(name, {"encoder": encoder_name, "fingerprint": None,
                                                  "weights": "the organisers' feature pickles"})
            else:
                store = self._store(encoder_name, split)
                features[name], dims[name] = store, int(store.dim)
                self.provenance.setdefault(name, {"encoder": encoder_name,
                                                  "fingerprint": store.summary.get("fingerprint"),
                                                  "weights": store.summary.get("weights", "unknown"),
                                                  "random_weights": str(store.summary.get("weights", "")).startswith(
                                                      "random weights")})
        return features, prepared, dims

    def _store(self, encoder_name: str, split: str) -> Any:
        """Cached features (extracted on rank 0 first so that other ranks find them and never race)."""
        from abaw_bench.harness.encoders import encoder_info
        from abaw_bench.harness.features import ensure_features

        limits = self._limits(encoder_info(encoder_name).modality)
        store = None
        for turn in ("main", "others"):
            if (turn == "main") == self.context.is_main:
                store = ensure_features(self.task, encoder_name, self.config.preset, self.data_root, split,
                                        weights=self.config.weights.get(encoder_name), device=str(self.context.device),
                                        num_workers=self.config.num_workers, progress=self.config.progress
                                        and self.context.is_main, **limits)
            distributed.barrier(self.context)
        return store


def _media_loader(items: list[Item], modality: str, hyper: Hyper) -> Any:
    """item id → decoded media for an unfrozen encoder (same decoding as feature extraction)."""
    from abaw_bench.harness.features.cache import Source
    from abaw_bench.harness.features.pipeline import decode_source

    kinds = {"audio": ("audio", ("audio", "video")), "image": ("faces", ("faces",)),
             "text": ("transcript", ("transcript",))}
    if modality not in kinds:
        raise AbawError(f"cannot fine-tune an encoder of modality {modality!r} end to end")
    kind, media_kinds = kinds[modality]
    paths: dict[str, Path] = {}
    for item in items:
        path = next((item.media[k] for k in media_kinds if k in item.media), None)
        if path is None:
            raise AbawError(f"item {item.id!r} ({item.split}) has no {' or '.join(media_kinds)} media to decode")
        paths[item.id] = path
    return _DecodeBySource(paths, kind, hyper.max_seconds, hyper.max_frames, Source, decode_source)


@dataclass(frozen=True)
class _DecodeBySource:
    """Picklable for DataLoader workers."""

    paths: dict[str, Path]
    kind: str
    max_seconds: float | None
    max_frames: int | None
    source_type: Any
    decode: Any

    def __call__(self, item_id: str) -> Any:
        return self.decode(self.source_type(self.kind, self.paths[item_id]), max_seconds=self.max_seconds,
                           max_frames=self.max_frames)


def _labels(reader: Any, split: str, items: list[Item]) -> np.ndarray:
    table = reader.labels(split).reindex([item.id for item in items])
    return table.values.astype(np.float32)


def _check_resume(config: RunConfig, run_dir: Path, resolved: dict[str, Any]) -> None:
    """--resume only continues the same run: the stored config must match on everything that changes results."""
    path = run_dir / "config.json"
    if not path.is_file():
        return
    stored = json.loads(path.read_text(encoding="utf-8"))
    volatile = {"resume", "progress", "num_workers"}
    differing = sorted(key for key in set(stored["run"]) | set(resolved["run"])
                       if key not in volatile and stored["run"].get(key) != resolved["run"].get(key))
    if stored.get("hyper") != resolved["hyper"]:
        differing.append("hyper")
    if differing:
        raise AbawError(f"--resume: {path} was written for a different configuration (differs in: "
                        f"{', '.join(differing)}); resume with the same options or use another --out")


def _predictions_csv(ids: list[str], columns: tuple[str, ...], predictions: np.ndarray,
                     labels: np.ndarray | None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["id", *columns]
    if labels is not None:
        header += [f"label:{column}" for column in columns]
    writer.writerow(header)
    for row, item_id in enumerate(ids):
        values = [f"{v:.6f}" for v in predictions[row]]
        if labels is not None:
            values += [f"{v:.6f}" for v in labels[row]]
        writer.writerow([item_id, *values])
    return buffer.getvalue()


def run(config: RunConfig) -> RunOutcome:
    """Train and evaluate one system variant end to end; see the module docstring for what is written."""
    from abaw_bench.harness import provenance
    from abaw_bench.harness.submission import validate_file, write_submission

    started = time.time()
    spec = get_system(config.system)
    task = get_task(config.task)
    variant = spec.variant(config.task, config.variant)
    config = replace(config, variant=variant.name)
    hyper = resolve_hyper(spec, config.task, variant, config)
    if hyper.schedule != "cosine":
        raise AbawError(f"system {spec.name!r}: schedule {hyper.schedule!r} is not supported by the engine "
                        "(it implements 'cosine': linear warm-up then cosine decay)")
    trainval = tuple(variant.train_splits) == ("train", "val")
    epochs_source = "--epochs" if config.epochs is not None else f"system default ({spec.name})"
    if trainval and variant.reuse_best_epoch_of:
        epochs, epochs_source = reused_epochs(config, variant)
        hyper = hyper.replace(epochs=epochs)
    context = distributed.setup(config.device)
    try:
        return _run(config, spec, task, variant, hyper, trainval, epochs_source, context, started,
                    provenance, write_submission, validate_file)
    finally:
        distributed.teardown(context)


def _run(config: RunConfig, spec: SystemSpec, task: Any, variant: Variant, hyper: Hyper, trainval: bool,
         epochs_source: str, context: distributed.DistContext, started: float, provenance: Any,
         write_submission: Any, validate_file: Any) -> RunOutcome:
    say = (lambda text: print(f"[abaw-bench] {text}", file=sys.stderr)) if context.is_main else (lambda text: None)
    data_root = resolve_data_root(config.task, config.data_root, quiet=not context.is_main)
    demo = is_demo_root(data_root)
    reader = task.reader(data_root)
    manifest = reader.manifest()
    run_dir = config.run_dir()
    resolved = {"run": config.to_json(), "hyper": asdict(hyper), "system": spec.name, "row": variant.row,
                "inputs": list(variant.inputs), "unfrozen": list(variant.unfrozen),
                "train_splits": list(variant.train_splits), "epochs_source": epochs_source,
                "data_root_resolved": str(data_root), "demo": demo}
    if config.resume:
        _check_resume(config, run_dir, resolved)
    elif (run_dir / "last.pt").exists() and context.is_main:
        say(f"{run_dir} holds an earlier run; starting over (use --resume to continue it)")
        (run_dir / "last.pt").unlink()
    if context.is_main:
        write_json(run_dir / "config.json", resolved)
        say(f"run directory: {run_dir}")
        if trainval:
            say(f"train+val row: training {hyper.epochs} epochs ({epochs_source}); no validation-based selection")

    builder = InputBuilder(spec, config.task, variant, config, hyper, data_root, context)
    train_items = [item for split in variant.train_splits for item in reader.items(split)]
    train_targets = np.concatenate([_labels(reader, split, reader.items(split)) for split in variant.train_splits])
    if config.shuffle_labels:
        train_targets = shuffled_targets(train_targets, config.seed)
    train_features, train_prepared, input_dims = builder.sources("train", train_items) if not trainval else \
        _merged_sources(builder, reader, variant.train_splits)
    random_inputs = sorted(name for name, info in builder.provenance.items() if info.get("random_weights"))
    if random_inputs:
        say(f"RANDOM WEIGHTS: inputs {', '.join(random_inputs)} come from encoders with random weights "
            f"(preset {config.preset!r}); figures say nothing about the published encoders")
    collate = Collate({name: input_dims[name] for name in train_features},
                      {name: encoder.collate for name, encoder in builder.encoders.items()})
    train_set = ItemDataset([item.id for item in train_items], train_features, train_prepared, train_targets,
                            _max_rows(variant, hyper, builder))
    val_set, val_items, val_targets = None, [], None
    if not trainval:
        val_items = reader.items("val")
        val_targets = _labels(reader, "val", val_items)
        val_features, val_prepared, _ = builder.sources("val", val_items)
        val_set = ItemDataset([item.id for item in val_items], val_features, val_prepared, val_targets,
                              _max_rows(variant, hyper, builder))
    test_items = reader.items("test")
    test_features, test_prepared, _ = builder.sources("test", test_items)
    test_set = ItemDataset([item.id for item in test_items], test_features, test_prepared, None,
                           _max_rows(variant, hyper, builder))

    seed_everything(config.seed)
    head = spec.build_model(config.task, variant, config.preset, input_dims)
    if hasattr(head, "init_from_train_labels"):
        head.init_from_train_labels(torch.from_numpy(train_targets))
    model = TrainableModel(head, builder.encoders)
    settings = FitSettings(
        epochs=hyper.epochs, batch_size=hyper.batch_size, lr=hyper.lr, weight_decay=hyper.weight_decay,
        warmup_epochs=hyper.warmup_epochs, loss=hyper.loss, encoder_lr=hyper.encoder_lr,
        grad_clip_value=hyper.grad_clip_value, grad_clip_norm=hyper.grad_clip_norm,
        early_stopping_patience=None if trainval else hyper.early_stopping_patience, seed=config.seed,
        precision=config.precision, num_workers=config.num_workers, higher_is_better=task.higher_is_better,
        progress=config.progress)
    trainer = Trainer(model, settings, context, run_dir)

    def score(predictions: np.ndarray) -> Any:
        ids = [item.id for item in val_items]
        return task.score(Table(ids, predictions.astype(np.float64), task.columns),
                          Table(ids, val_targets.astype(np.float64), task.columns))

    fit = trainer.fit(train_set, collate, val_set, score if val_set is not None else None, resume=config.resume)
    trainer.load_best()
    val_predictions = trainer.predict(val_set, collate) if val_set is not None else None
    test_predictions = trainer.predict(test_set, collate)
    results: dict[str, Any] = {}
    failure: str | None = None
    if context.is_main:
        if val_predictions is not None:
            write_text(run_dir / "val_predictions.csv", _predictions_csv([item.id for item in val_items],
                                                                         task.columns, val_predictions, val_targets))
        submission = run_dir / SUBMISSION_NAME
        test_ids = [item.id for item in test_items]
        write_submission(config.task, submission, Table(test_ids, test_predictions.astype(np.float64), task.columns))
        report = validate_file(config.task, submission, reader.reference_rows("test"))
        metric = score(val_predictions) if val_predictions is not None else None
        results = provenance.build_results(
            config=config, spec=spec, variant=variant, hyper=hyper, task=task, metric=metric, fit=fit,
            epochs_source=epochs_source, data_root=data_root, demo=demo, manifest_sha256=manifest.sha256(),
            encoders=builder.provenance, device=str(context.device), precision=trainer.precision,
            world_size=context.world_size, started=started, submission=submission, report=report)
        write_json(run_dir / "results.json", results)
        if not report.ok:
            problems = "; ".join(problem.render(str(submission)) for problem in report.errors[:5])
            failure = f"the test submission does not validate: {problems}"
    # Rank 0 alone writes and checks the outputs; broadcasting its verdict (which also synchronises the ranks) makes
    # a failure there end every rank, instead of leaving the others waiting at a barrier until torchrun's timeout.
    failure = distributed.broadcast_object(context, failure)
    if failure is not None:
        raise AbawError(failure)
    return RunOutcome(run_dir, results, context.is_main)


def _merged_sources(builder: InputBuilder, reader: Any, splits: tuple[str, ...]) -> tuple[dict, dict, dict]:
    """Train+val rows: one source per input serving items of both splits (each split has its own cache)."""
    parts = [builder.sources(split, reader.items(split)) for split in splits]
    features = {name: _UnionSource([part[0][name] for part in parts]) for name in parts[0][0]}
    prepared = {name: _UnionPrepared([part[1][name] for part in parts]) for name in parts[0][1]}
    return features, prepared, parts[0][2]


@dataclass(frozen=True)
class _UnionSource:
    sources: list[Any]

    @property
    def dim(self) -> int:
        return self.sources[0].dim

    def get(self, item_id: str) -> np.ndarray:
        for source in self.sources:
            if _has(source, item_id):
                return source.get(item_id)
        raise KeyError(item_id)


@dataclass(frozen=True)
class _UnionPrepared:
    sources: list[PreparedSource]

    def get(self, item_id: str) -> Any:
        for source in self.sources:
            if item_id in source.load_media.paths:
                return source.get(item_id)
        raise KeyError(item_id)


def _has(source: Any, item_id: str) -> bool:
    if isinstance(source, ProvidedSource):
        return item_id in source.paths
    return item_id in source


def _max_rows(variant: Variant, hyper: Hyper, builder: InputBuilder) -> dict[str, int | None]:
    """Vision inputs keep their first `max_frames` rows (the cache already cut audio to `max_seconds`)."""
    from abaw_bench.harness.encoders import encoder_info

    limits: dict[str, int | None] = {}
    for name in variant.inputs:
        encoder_name = builder.encoder_name(name)
        image = (encoder_name == f"{PROVIDED_PREFIX}vit" or
                 (not encoder_name.startswith(PROVIDED_PREFIX) and encoder_info(encoder_name).modality == "image"))
        limits[name] = hyper.max_frames if image else None
    return limits
