"""One `abaw-bench run`: resolve the system/variant, build the inputs, train, predict, and write the run directory.

Run directory (`<out>/<system>/<task>/<variant>/seed<N>`):
    config.json            the resolved RunConfig plus the effective engine knobs ("hyper": Hyper) and model knobs
                           ("model": the system's ModelKnobs); --resume refuses a change of either but the epochs
    results.json           validation metrics + provenance (schema: `harness.results.Results`)
    val_predictions.csv    per validation row: id, [group = video, for frame tasks], predictions, labels
                           (absent for train+val rows: nothing held out)
    submission_test.csv    the test predictions in the task's official format at its default level, checked by the
                           task's validator; other levels as submission_test_<level>_<method>.csv (BAH: video level
                           by majority vote and by mean probability)
    train_log.jsonl        one JSON object per epoch
    best.pt / last.pt      best-epoch weights (+ the validation-fitted decision threshold) / full training state for
                           --resume (torch.load(weights_only=True))
    run.lock               while the run is on: one run per directory (harness/train/rundir.py, which also says how
                           a directory holding a run is refused, resumed or replaced by --overwrite)

Before anything is decoded or written, the data root is checked against its split manifest (missing or extra items,
a video or participant in two splits), as `abaw-bench splits` does.

Unreadable media (--skip-bad, `RunConfig.skip_bad`). Without it, an item whose media give no features stops the run
with the MediaError naming the file, as `extract` does. With it, the feature extraction records the item instead
(nothing is cached for it, so a later run without --skip-bad stops on it again, and a repaired file is extracted),
and the item is left out of its split (harness/train/datasets.py): a train or val clip, or all of a video's frame
rows, is dropped with its label, so the model neither trains on it nor is scored on it. A test item cannot vanish,
since the submission must hold every test row: its rows get the constant floor's prediction fitted on this run's
training labels (the label means for regression, the majority class for classification — what the baseline system's
"constant" rows predict), the log says so, and results.json lists it under "skipped". --skip-bad covers the inputs
served from the feature cache (frozen encoders, and the asr transcripts that text encoders read); an unfrozen
encoder decodes its media during training, where an unreadable file still stops the run. It is part of the run's
identity: --resume refuses a change of it, as it changes which rows train.

The task decides the row unit (clip or frame) and the system's Hyper the sampling ("clip", "windows", "centred"):
harness/train/datasets.py builds the three splits accordingly; model selection always scores the whole validation
split at the task's row level with its reference metric, or, where the Hyper's `selection` is "average_precision" (a
binary task), with the organisers' AP of the positive class (as the BAH dataset authors' trainer selects). Binary tasks
with a declared threshold sweep score every epoch at its own validation-best decision threshold (so the epoch is
selected as hallmen2025's authors selected it), store the best epoch's threshold and apply it unchanged to test.

Train+val rows (`variant.train_splits == ("train", "val")`) train for the best epoch count of the matching
train-only run (`variant.reuse_best_epoch_of`), read from that run's results.json under the same --out root and
seed, unless --epochs is given; results.json says which (`epochs_source`). They keep that run's learning-rate
schedule (`schedule_epochs`) and stop at the reused epoch, as the papers stopped a normal run there.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from abaw_bench.harness.atomic import stored_form, write_json, write_text
from abaw_bench.harness.dataroot import check_against_manifest, resolve_data_root
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.jsonio import BadJson, read_json
from abaw_bench.harness.metrics.result import MetricResult
from abaw_bench.harness.paths import is_demo_root
from abaw_bench.harness.results import Results, TaskFacts, read_results
from abaw_bench.harness.runtime import distributed
from abaw_bench.harness.systems import Hyper, ModelKnobs, SystemSpec, Variant, get_system
from abaw_bench.harness.tasks import get_task
from abaw_bench.harness.tasks.base import Table, Task
from abaw_bench.harness.train import rundir
from abaw_bench.harness.train.calibration import sweep_threshold, threshold_grid
from abaw_bench.harness.train.config import RunConfig
from abaw_bench.harness.train.data import Collate
from abaw_bench.harness.train.datasets import SplitData, clip_split, frame_split
from abaw_bench.harness.train.engine import (
    FitSettings,
    TrainableModel,
    Trainer,
    configure_determinism,
    resolve_deterministic,
    seed_everything,
)
from abaw_bench.harness.train.inputs import PROVIDED_DIMS, PROVIDED_PREFIX, InputBuilder, max_rows, merged_sources
from abaw_bench.harness.train.outputs import (
    DEFAULT_THRESHOLD,
    constant_output,
    is_binary,
    level_scores,
    positive_probability,
    prediction_table,
    predictions_csv,
    with_constant_rows,
    write_submissions,
)

__all__ = ["PROVIDED_DIMS", "PROVIDED_PREFIX", "RunOutcome", "resolve_hyper", "resolve_knobs", "reused_epochs", "run",
           "selection_metric"]


@dataclass
class RunOutcome:
    run_dir: Path
    results: dict[str, Any]
    is_main: bool


def resolve_hyper(spec: SystemSpec, task: str, variant: Variant, config: RunConfig) -> Hyper:
    """The system's Hyper for the variant, then on the embedded demo its demo schedule, then the recipe that `--hyper
    recipe=NAME` names (else the demo schedule's), then the other --hyper KEY=VALUE overrides of engine knobs, then
    --epochs/--batch-size/--lr."""
    from abaw_bench.harness.errors import unknown_name_error

    hyper_overrides = spec.split_overrides(task, config.hyper_overrides)[0]
    demo_overrides = demo_schedule_in_effect(spec, task, variant, config)
    recipe = hyper_overrides.pop("recipe", demo_overrides.pop("recipe", None))
    if recipe is not None and not isinstance(recipe, str):
        raise AbawError(f"--hyper recipe: expected a recipe name, found {str(recipe)[:80]!r}")
    hyper = spec.hyper_for(task, variant, recipe)
    try:
        resolved = hyper.replace(**{**demo_overrides, **hyper_overrides, **_flag_overrides(config)})
    except (TypeError, ValueError) as error:
        raise AbawError(f"--hyper: {error}") from error
    if resolved.selection == "average_precision" and not is_binary(get_task(task)):
        raise AbawError(f"Hyper.selection 'average_precision' ranks epochs by the positive class's average precision: "
                        f"it needs a binary task, and task {task!r} is not one; use selection 'headline'")
    inputs = sorted({name for each in spec.variants[task].values() for name in each.inputs})
    for name in ("centred_seconds", "centred_rows"):
        for key in getattr(resolved, name):
            if key not in inputs:  # a misspelt input would otherwise be ignored in silence
                raise unknown_name_error(f"--hyper {name} input", key, inputs)
    return resolved


def resolve_knobs(spec: SystemSpec, task: str, variant: Variant, config: RunConfig) -> ModelKnobs:
    """The model knobs the run builds with (SystemSpec.knobs_for): the system's, the preset's, the variant's, then the
    --hyper KEY=VALUE overrides of model knobs."""
    try:
        return spec.knobs_for(task, variant, config.preset, spec.split_overrides(task, config.hyper_overrides)[1])
    except ValueError as error:
        raise AbawError(f"--hyper: {error}") from error


def _flag_overrides(config: RunConfig) -> dict[str, Any]:
    return {key: value for key, value in (("epochs", config.epochs), ("batch_size", config.batch_size),
                                          ("lr", config.lr)) if value is not None}


def uses_demo_data(config: RunConfig) -> bool:
    """No --data-root (the embedded demo is generated), or a --data-root that is a demo root."""
    return config.data_root is None or is_demo_root(Path(config.data_root).expanduser())


def demo_schedule_in_effect(spec: SystemSpec, task: str, variant: Variant, config: RunConfig) -> dict[str, Any]:
    """The demo schedule's fields that this run takes: none on real data, and none that a flag or --hyper sets."""
    if not uses_demo_data(config):
        return {}
    given = set(config.hyper_overrides) | set(_flag_overrides(config))
    return {key: value for key, value in spec.demo_schedule(task, variant).items() if key not in given}


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
    results = read_results(results_path)  # BadResults (an AbawError) names the file and what is wrong with it
    best_epoch, preset = results.best_epoch, results.config.get("preset")
    if best_epoch is None:
        raise AbawError(f"{results_path}: cannot read 'best_epoch' (expected an integer)")
    if preset != config.preset:
        raise AbawError(f"{results_path}: that run used preset {preset!r}, this one {config.preset!r}; "
                        "rerun it with the same preset or give --epochs")
    if best_epoch < 1:
        raise AbawError(f"{results_path}: best_epoch is {best_epoch}; give --epochs")
    return best_epoch, f"best epoch of {variant.reuse_best_epoch_of} ({results_path})"


def _check_resume(config: RunConfig, run_dir: Path, resolved: dict[str, Any]) -> None:
    """--resume only continues the same run: the stored config must match on everything that changes results but the
    epoch count (see `resume_horizon`). Where the run lives is not part of its identity: a runs tree moved or copied
    elsewhere (`mv runs runs2`, then `--out runs2 --resume`) continues as it would have in place."""
    stored = _stored_config(run_dir)
    if stored is None:
        return
    if "model" not in stored:  # the model's own knobs were recorded from schema 7 on; before, dropout sat in "hyper"
        raise AbawError(f"--resume: {run_dir / 'config.json'} was written by an older abaw-bench, which did not record "
                        "the model's knobs (no 'model' in it), so this run cannot be checked to be the same; start it "
                        "again with --overwrite, or use another --out")
    volatile = {"resume", "overwrite", "progress", "num_workers", "epochs", "out_root"}
    # A field the stored config lacks was written before the field existed: that run had its default.
    defaults = {each.name: each.default for each in fields(RunConfig) if each.default is not MISSING}
    run = stored_form(resolved["run"])  # as config.json holds it (a path with non-UTF-8 bytes is stored printable)
    differing = sorted(key for key in set(stored["run"]) | set(run)
                       if key not in volatile and stored["run"].get(key, defaults.get(key)) != run.get(key))
    if _without_epochs(stored.get("hyper")) != _without_epochs(json.loads(json.dumps(resolved["hyper"]))):
        differing.append("hyper")
    if stored.get("model") != json.loads(json.dumps(resolved["model"])):
        differing.append("model")
    if differing:
        raise AbawError(f"--resume: {run_dir / 'config.json'} was written for a different configuration (differs "
                        f"in: {', '.join(differing)}); resume with the same options (only --epochs may change) or "
                        "use another --out")


def _stored_config(run_dir: Path) -> dict[str, Any] | None:
    """The run directory's config.json (None when there is none); a damaged or foreign one is a message."""
    path = run_dir / "config.json"
    if not path.is_file():
        return None
    try:
        stored = read_json(path)
    except BadJson as error:
        raise AbawError(f"--resume: {path} is not a config.json this harness wrote ({error.reason}); resume another "
                        "run directory or start this one again") from None
    hyper = stored.get("hyper") if isinstance(stored, dict) else None
    if not isinstance(stored, dict) or not isinstance(stored.get("run"), dict) or not isinstance(hyper, dict) \
            or not isinstance(hyper.get("epochs"), int):
        raise AbawError(f"--resume: {path} is not a config.json this harness wrote (expected an object with a 'run' "
                        "object and an integer 'hyper.epochs'); resume another run directory or start this one again")
    return stored


def _without_epochs(hyper: Any) -> Any:
    return {key: value for key, value in hyper.items() if key != "epochs"} if isinstance(hyper, dict) else hyper


def resume_horizon(run_dir: Path, epochs: int) -> int | None:
    """The lr schedule's length for `--resume --epochs N` (None: N itself). The horizon never shrinks: a shorter N
    stops the stored run's schedule early, so its N epochs are exactly the first N of the uninterrupted run; a longer
    N re-plans the cosine over N epochs (from the resumed step on, the lr is the N-epoch plan's). Per-epoch schedules
    (plateau) have no horizon."""
    stored = _stored_config(run_dir)
    if stored is None:
        return None
    horizon = int(stored.get("schedule_epochs") or stored["hyper"]["epochs"])
    return horizon if epochs < horizon else None


def run(config: RunConfig) -> RunOutcome:
    """Train and evaluate one system variant end to end; see the module docstring for what is written and for what
    --skip-bad (`config.skip_bad`) does with items whose media give no features.

    Under torchrun the process group stays joined after the run, for the next one (`run --seeds`): the caller leaves
    it once, with `distributed.finish()`.
    """
    started = time.time()
    spec = get_system(config.system)
    task = get_task(config.task)
    variant = spec.variant(config.task, config.variant)
    config = replace(config, variant=variant.name)
    hyper = resolve_hyper(spec, config.task, variant, config)
    knobs = resolve_knobs(spec, config.task, variant, config)
    if (hyper.sampling == "clip") != (task.unit == "clip"):
        raise AbawError(f"system {spec.name!r} samples {hyper.sampling!r} but task {task.name!r} has {task.unit} "
                        "rows: clip tasks need 'clip' sampling, frame tasks 'windows' or 'centred'")
    trainval = tuple(variant.train_splits) == ("train", "val")
    demo_schedule = demo_schedule_in_effect(spec, config.task, variant, config)
    epochs_source = ("--epochs" if config.epochs is not None else
                     f"demo schedule ({spec.name})" if "epochs" in demo_schedule else f"system default ({spec.name})")
    schedule_epochs = None
    if trainval and variant.reuse_best_epoch_of:
        epochs, epochs_source = reused_epochs(config, variant)
        schedule_epochs = hyper.epochs  # the reused run's schedule, stopped at its best epoch
        hyper = hyper.replace(epochs=epochs)
    elif config.resume:
        schedule_epochs = resume_horizon(config.run_dir(), hyper.epochs)
    context = distributed.setup(config.device)  # joins the torchrun group once; the command leaves it at its end
    return _run(config, spec, task, variant, hyper, knobs, trainval, epochs_source, schedule_epochs, demo_schedule,
                context, started)


def _run(config: RunConfig, spec: SystemSpec, task: Task, variant: Variant, hyper: Hyper, knobs: ModelKnobs,
         trainval: bool, epochs_source: str, schedule_epochs: int | None, demo_schedule: dict[str, Any],
         context: distributed.DistContext, started: float) -> RunOutcome:
    from abaw_bench.harness.provenance import run_provenance

    say = (lambda text: print(f"[abaw-bench] {text}", file=sys.stderr)) if context.is_main else (lambda text: None)
    rank_batch = distributed.per_rank_batch(hyper.batch_size, context)  # before any extraction: fail fast
    deterministic = resolve_deterministic(config.deterministic, context.device)
    configure_determinism(deterministic)
    data_root = resolve_data_root(config.task, config.data_root, quiet=not context.is_main)
    demo = is_demo_root(data_root)
    reader = task.reader(data_root)
    manifest = reader.manifest()
    # Before anything is decoded, transcribed or written: the root agrees with its manifest (no split leaks).
    check_against_manifest(config.task, data_root,
                           distributed.broadcast_object(context, reader.check() if context.is_main else None))
    final_dir = config.run_dir()
    with rundir.claimed(final_dir, resume=config.resume, overwrite=config.overwrite, is_main=context.is_main,
                        broadcast=lambda verdict: distributed.broadcast_object(context, verdict), say=say) as run_dir:
        resolved = {"run": config.to_json(), "hyper": asdict(hyper), "model": knobs.values(), "system": spec.name,
                    "row": variant.row,
                    "inputs": list(variant.inputs), "unfrozen": list(variant.unfrozen),
                    "train_splits": list(variant.train_splits), "epochs_source": epochs_source,
                    "schedule_epochs": schedule_epochs, "data_root_resolved": str(data_root), "demo": demo,
                    "demo_schedule": demo_schedule}
        if config.resume:
            _check_resume(config, run_dir, resolved)
        if context.is_main:
            write_json(run_dir / "config.json", resolved)
            say(f"run directory: {config.run_dir()}")
            if demo_schedule:
                defaults = spec.hyper_for(config.task, variant)
                say(f"demo schedule of {spec.name}: {_fields_text(demo_schedule)} (instead of "
                    f"{_fields_text({key: getattr(defaults, key) for key in demo_schedule})}"
                    "); --epochs/--lr/--batch-size/--hyper override it; a real --data-root gets the defaults")
            if trainval:
                say(f"train+val row: training {hyper.epochs} epochs ({epochs_source}) of a "
                    f"{schedule_epochs or hyper.epochs}-epoch schedule; no validation-based selection")

        builder = InputBuilder(spec, config.task, variant, config, hyper, data_root, context)
        train, val, test, input_dims = _build_splits(builder, reader, task, hyper, variant, config, trainval)
        for split in (train, val, test):
            for note in split.notes if split is not None else ():
                say(note)
        random_inputs = sorted(name for name, info in builder.provenance.items() if info.get("random_weights"))
        if random_inputs:
            say(f"RANDOM WEIGHTS: inputs {', '.join(random_inputs)} come from encoders with random weights "
                f"(preset {config.preset!r}); figures say nothing about the published encoders")
        collate = Collate({name: input_dims[name] for name in train.dataset.features},
                          {name: encoder.collate for name, encoder in builder.encoders.items()})

        seed_everything(config.seed)
        head = spec.build_model(config.task, variant, input_dims, knobs, hyper)
        if hasattr(head, "init_from_train_labels"):
            head.init_from_train_labels(torch.from_numpy(_train_label_rows(train)))
        model = TrainableModel(head, builder.encoders)
        # a train+val row has nothing held out to stop on
        settings = FitSettings(
            hyper.replace(early_stopping_patience=None) if trainval else hyper, rank_batch_size=rank_batch,
            schedule_epochs=schedule_epochs, seed=config.seed, precision=config.precision,
            num_workers=config.num_workers, higher_is_better=selection_higher_is_better(task, hyper),
            progress=config.progress)
        trainer = Trainer(model, settings, context, run_dir)

        def score(outputs: np.ndarray) -> MetricResult:
            return selection_metric(task, hyper, val, outputs)

        fit = trainer.fit(train.dataset, collate, val.dataset if val else None, score if val else None,
                          resume=config.resume)
        trainer.load_best()
        val_outputs = trainer.predict(val.dataset, collate) if val is not None else None
        threshold, calibration = _calibrate(task, hyper, val, val_outputs, say)
        if calibration:
            trainer.store_calibration(calibration)
        test_outputs = trainer.predict(test.dataset, collate)
        test_rows, test_groups, test_outputs, constant = _cover_skipped_test_rows(task, reader, train, test,
                                                                                 test_outputs, say)
        results: dict[str, Any] = {}
        failure: str | None = None
        if context.is_main:
            metric, extra_levels = None, {}
            if val is not None:
                val_table = prediction_table(task, val.row_ids, val_outputs, threshold=threshold, groups=val.groups)
                write_text(run_dir / "val_predictions.csv", predictions_csv(val_table, val.labels))
                metric = task.score(val_table, val.labels)
                extra_levels = level_scores(task, val_table, reader)
            test_table = prediction_table(task, test_rows, test_outputs, threshold=threshold, groups=test_groups)
            submissions = write_submissions(task, run_dir, test_table, reader)
            main = submissions[0]
            trained_epochs = [entry["epoch"] for entry in fit.history if entry["epoch"] > 0]
            written = Results(
                system=spec.name, task=task.name, task_facts=TaskFacts.of(task), variant=variant.name,
                row=variant.row, preset=config.preset, val=None if metric is None else metric.to_json(),
                best_epoch=fit.best_epoch, epochs_run=len(trained_epochs), epochs_source=epochs_source,
                stopped_early=fit.stopped_early, paper=dict(variant.paper), notes=tuple(variant.notes),
                hyper=asdict(hyper), model=knobs.values(),
                batch_size={"global": hyper.batch_size, "per_rank": rank_batch, "world_size": context.world_size},
                data={"root": "demo" if demo else str(data_root), "demo": demo, "manifest_sha256": manifest.sha256(),
                      "manifest_version": manifest.version, "manifest_source": manifest.source},
                encoders=builder.provenance,
                submission={"path": main["path"].name, "valid": main["report"].ok,
                            "rows": main["report"].data_rows,
                            "problems": [problem.to_json() for problem in main["report"].problems]},
                config=config.to_json(),
                provenance=run_provenance(seed=config.seed, device=str(context.device), precision=trainer.precision,
                                          deterministic=deterministic, world_size=context.world_size,
                                          started=started),
                calibration=calibration or None, demo_schedule=demo_schedule,
                skipped=skipped_record(config, {"train": train, "val": val, "test": test}, constant),
                val_levels=extra_levels or None,
                submissions=[{"level": s["level"], "method": s["method"], "path": s["path"].name,
                              "valid": s["report"].ok} for s in submissions] if len(submissions) > 1 else None)
            results = written.to_json()
            write_json(run_dir / "results.json", results)
            bad = [s for s in submissions if not s["report"].ok]
            if bad:
                problems = "; ".join(problem.render(str(bad[0]["path"])) for problem in bad[0]["report"].errors[:5])
                failure = f"the test submission does not validate: {problems}"
        # Rank 0 alone writes and checks the outputs; broadcasting its verdict (which also synchronises the ranks) makes
        # a failure there end every rank, instead of leaving the others waiting at a barrier until torchrun's timeout.
        failure = distributed.broadcast_object(context, failure)
        if failure is not None:
            raise AbawError(failure)
    return RunOutcome(final_dir, results, context.is_main)


SKIPPED_IN_RESULTS = 100  # item ids results.json lists per split (the count is always the full number)
SKIP_REASON = "their media gave no features (unreadable or corrupt; --skip-bad left them out)"


def _cover_skipped_test_rows(task: Task, reader: Any, train: SplitData, test: SplitData, outputs: np.ndarray,
                             say: Any) -> tuple[list[str], list[str] | None, np.ndarray, np.ndarray | None]:
    """(row ids, groups, outputs, the constant row or None) over every test reference row: the rows of skipped test
    items (--skip-bad) get the constant floor fitted on the training labels (module docstring)."""
    if not test.skipped:
        return test.row_ids, test.groups, outputs, None
    rows = reader.reference_rows("test")
    constant = constant_output(task, _train_label_rows(train))
    say(f"test: {len(rows) - len(test.row_ids)} row(s) of the {len(test.skipped)} skipped item(s) get the constant "
        f"floor fitted on the training labels ({_constant_text(task, constant)}), not a prediction of the model: "
        "the submission must cover every test row")
    groups = [task.parse_frame_id(row)[0] for row in rows] if test.groups is not None else None
    return rows, groups, with_constant_rows(rows, test.row_ids, outputs, constant), constant


def _constant_text(task: Task, constant: np.ndarray) -> str:
    if task.class_names is None:
        return "train means " + ", ".join(f"{column}={value:.4f}" for column, value in zip(task.columns, constant,
                                                                                            strict=True))
    majority = int(constant[0]) if is_binary(task) else int(np.argmax(constant))  # binary: p1 is 0 or 1
    return f"train majority class {task.class_names[majority]!r}"


def skipped_record(config: RunConfig, splits: dict[str, SplitData | None],
                   constant: np.ndarray | None) -> dict[str, Any]:
    """results.json's "skipped": per split, the items left out for lack of features (ids bounded, count whole);
    "train" is the training rows (train and val items for a train+val row)."""
    record: dict[str, Any] = {"skip_bad": config.skip_bad, "reason": SKIP_REASON, "splits": {}}
    for name, split in splits.items():
        if split is None or not split.skipped:
            continue
        listed = dict(list(split.skipped.items())[:SKIPPED_IN_RESULTS])
        entry: dict[str, Any] = {"count": len(split.skipped), "items": listed, "listed": len(listed)}
        if name == "test":
            entry["predicted_with"] = "the constant floor fitted on the training labels (label means / majority class)"
            entry["constant_output"] = [float(value) for value in constant] if constant is not None else None
        else:
            entry["left_out_of"] = "training" if name == "train" else "validation scoring and model selection"
        record["splits"][name] = entry
    return record


def _fields_text(values: dict[str, Any]) -> str:
    return ", ".join(f"{key}={json.dumps(value)}" for key, value in values.items())


def _build_splits(builder: InputBuilder, reader: Any, task: Task, hyper: Hyper, variant: Variant, config: RunConfig,
                  trainval: bool) -> tuple[SplitData, SplitData | None, SplitData, dict[str, int]]:
    """(train, val or None for train+val rows, test, input widths) in the shape of the system's sampling."""
    train_splits = tuple(variant.train_splits)
    shuffle_seed = config.seed if config.shuffle_labels else None
    train_items = [item for split in train_splits for item in reader.items(split)]
    val_items, test_items = reader.items("val"), reader.items("test")
    if hyper.sampling == "clip":
        limits = max_rows(variant, hyper, builder)
        merged = (lambda: merged_sources(builder, reader, train_splits)) if trainval else None
        train, dims = clip_split(builder, reader, task, train_splits, train_items, labelled=True,
                                 shuffle_seed=shuffle_seed, merged_sources=merged, max_rows=limits)
        val = None if trainval else clip_split(builder, reader, task, ("val",), val_items, labelled=True,
                                               shuffle_seed=None, max_rows=limits)[0]
        test = clip_split(builder, reader, task, ("test",), test_items, labelled=False, shuffle_seed=None,
                          max_rows=limits)[0]
        return train, val, test, dims
    train_sources = merged_sources(builder, reader, train_splits) if trainval \
        else builder.sources("train", train_items)
    train = frame_split(builder, reader, task, hyper, train_splits, train_items, labelled=True, training=True,
                        shuffle_seed=shuffle_seed, sources=train_sources)
    val = None if trainval else frame_split(builder, reader, task, hyper, ("val",), val_items, labelled=True,
                                            training=False, shuffle_seed=None,
                                            sources=builder.sources("val", val_items))
    test = frame_split(builder, reader, task, hyper, ("test",), test_items, labelled=False, training=False,
                       shuffle_seed=None, sources=builder.sources("test", test_items))
    dims = {**train_sources[2], **{name: int(source.dim) for name, source in train.dataset.features.items()
                                   if name not in train_sources[2]},
            **{name: int(encoder.output_dim) for name, encoder in builder.encoders.items()}}
    return train, val, test, dims


def _train_label_rows(train: SplitData) -> np.ndarray:
    """The training labels the model's `init_from_train_labels` hook sees: clip targets, or the grids' frame targets
    (NaN where a frame has no usable label) stacked."""
    dataset = train.dataset
    if hasattr(dataset, "split"):
        return np.concatenate([grid.targets for grid in dataset.split.grids]).astype(np.float32)
    return np.asarray(dataset.targets, dtype=np.float32)


def selection_higher_is_better(task: Task, hyper: Hyper) -> bool:
    """Whether a larger selection metric is better: an AP always is; a headline metric as its task says."""
    return hyper.selection == "average_precision" or task.higher_is_better


def selection_metric(task: Task, hyper: Hyper, val: SplitData, outputs: np.ndarray) -> MetricResult:
    """The validation metric an epoch is selected by: at the epoch's own validation-best threshold where the row sweeps
    one (hallmen2025 BAH, as the authors' evaluate() selected), else at DEFAULT_THRESHOLD; `extra["threshold"]` says
    which threshold a swept metric was read at. With `selection` "average_precision" the selected value is the task
    metric's positive-class AP (threshold-free), the headline moving into the breakdown."""
    swept = _sweep(task, hyper, val, outputs)
    threshold = DEFAULT_THRESHOLD if swept is None else swept[0]
    metric = task.score(prediction_table(task, val.row_ids, outputs, threshold=threshold), val.labels)
    if swept is not None:
        metric.extra = {**metric.extra, "threshold": threshold}
    if hyper.selection == "headline":
        return metric
    if "average_precision" not in metric.breakdown:
        raise AbawError(f"Hyper.selection 'average_precision': task {task.name!r}'s metric {metric.metric!r} gives no "
                        "average precision for these predictions")
    breakdown = {metric.metric: metric.value, **metric.breakdown}
    return MetricResult("average_precision", breakdown.pop("average_precision"), breakdown, metric.extra,
                        metric.warnings)


def _sweep(task: Task, hyper: Hyper, val: SplitData | None,
           val_outputs: np.ndarray | None) -> tuple[float, float, np.ndarray] | None:
    """Binary tasks with a declared sweep: (threshold, its validation metric, the grid); the first argmax wins."""
    if hyper.threshold_sweep is None or val is None or val_outputs is None or not is_binary(task):
        return None
    thresholds = threshold_grid(*hyper.threshold_sweep)
    probabilities = positive_probability(val_outputs)

    def score_at(threshold: float) -> float:
        predictions = Table(val.row_ids, (probabilities >= threshold).astype(np.float64)[:, None], ("pred",))
        return task.score(predictions, val.labels).value

    threshold, value, _ = sweep_threshold(score_at, thresholds)
    return threshold, value, thresholds


def _calibrate(task: Task, hyper: Hyper, val: SplitData | None, val_outputs: np.ndarray | None,
               say: Any) -> tuple[float, dict[str, Any]]:
    """The best epoch's validation threshold, which is stored with the checkpoint and results and applied unchanged
    to test (DEFAULT_THRESHOLD and no calibration without a sweep)."""
    swept = _sweep(task, hyper, val, val_outputs)
    if swept is None:
        return DEFAULT_THRESHOLD, {}
    threshold, value, thresholds = swept
    say(f"decision threshold {threshold:.3f} (validation {task.headline_metric} {value:.4f}; swept "
        f"{thresholds[0]:.3f}-{thresholds[-1]:.3f} in {len(thresholds)} steps)")
    return threshold, {"threshold": threshold, "val_value_at_threshold": value, "sweep": list(hyper.threshold_sweep)}
