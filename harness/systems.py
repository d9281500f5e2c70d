"""The system registry: trainable entries whose variants are the rows of their paper's result table.

A system file (`systems/<paper>.py`, `baselines/<name>.py`) declares a `SystemSpec` next to its model and registers it
with `@SYSTEMS.register(name)` applied to the spec (or `SYSTEMS.register(name)(spec)`), and its `ModelKnobs` subclass
beside it: a new system is that one file. Importing a system file must not import torch: the spec and its knobs are
plain data, and `build_model` imports torch when called. This keeps `abaw-bench systems` light and lets the engine
(`harness/train/`) know systems only through this module.

A run has two kinds of settings, both overridable with `--hyper KEY=VALUE` (harness.train.pipeline splits the keys
by name, `SystemSpec.split_overrides`):
- the engine's knobs, `Hyper` (optimiser, schedule, loss, sampling, epochs, batch, ...), one per task in
  `spec.hyper`; resolved as the system's, the variant's `hyper`, on the embedded demo the demo schedule, the recipe,
  then --hyper/--epochs/--batch-size/--lr;
- the model's knobs, the system's own `ModelKnobs` dataclass (widths, heads, layers, dropout), one per task in
  `spec.knobs`, each field declared with its legal values (`knob`); resolved by `spec.knobs_for` as the system's, the
  values a knob declares for the run's encoder preset (the tiny encoders' narrower widths), the variant's `model`,
  then --hyper; checked there (and each variant's paper knobs when the system file is imported).

Model contract, shared by every system and the engine:
    model = spec.build_model(task, variant, input_dims, knobs, hyper)   # a torch.nn.Module
    predictions = model(inputs)                                         # shape by the Hyper's sampling, below
where `inputs` maps each name in `variant.inputs` to `(padded [B, T, D] float tensor, lengths [B] long tensor)`,
`input_dims` maps the same names to D, `knobs` are the run's resolved model knobs and `hyper` its resolved Hyper.
`build_model` takes every model setting from `knobs` (and the row's fixed `variant.options`), never from module
constants or the system's defaults, so that what config.json and results.json record under "model" is what the model
ran with; of `hyper` it reads at most the loss. K is the task's `output_width` (EMI 6, BAH 1 logit, VA 2, Expr 8
logits); a binary task's model may give 2 logits instead when its Hyper's loss is "ce" (the engine then reads p1 from
the softmax's second column).
- "clip" sampling: T is the item's own length per input; output [B, K].
- "windows": every input is aligned to the window's L label frames (rows >= length are padding past a video's end);
  output [B, L, K], one row per frame.
- "centred": each input holds the rows of its window centred on the sample's frame that lie inside the video, in time
  order, packed first (rows >= length are padding); output [B, K] for the centre frame.
A model may return `(predictions, auxiliary_losses)` with `auxiliary_losses` a dict of scalar tensors (already
weighted, e.g. MCTN's translation losses): the engine adds their sum to the task loss while training and logs each.
For inputs listed in `variant.unfrozen` the engine runs that encoder (harness.encoders) inside the training step on
decoded media and hands the model its padded outputs in the same form; the model never sees the difference. A text
input under "centred" sampling is then its window's token ids, the encoder's hidden state at the `[ATTENTION]` token
(whose embedding row trains with it) reaching the model as the same [B, 1, D] vector the frozen path caches; an audio
input under "centred" sampling is its window of waveform samples, the encoder's frames over it reaching the model as
the rows the frozen path reads from the whole track's cached features. Such encoders train at `encoder_lr` until
`encoder_freeze_epoch`.

Input names. A name in `variant.inputs` is one of
- an encoder name (harness.encoders), e.g. "wav2vec2-vad": the same encoder under every preset;
- "provided:<kind>": the organisers' feature pickles of that media kind ("provided:vit", "provided:wav2vec2"),
  read through `harness.safepickle` (untrusted input);
- a *role* declared in `spec.input_sources[task]`, e.g. "text": its encoder depends on the preset (hallmen2025 embeds
  the transcript with gte-base under "paper" but with the real MiniLM under "tiny", because a tiny random text encoder
  could not carry the demo's text signal). Resolve any name with `spec.encoder_for(task, name, preset)`; a text
  role also says where its transcript comes from, `spec.transcript_for(task, name, preset)`: an "asr" encoder name
  (the whole-clip transcript it produces) or `DATASET_TRANSCRIPT` (the dataset's own "transcript" media, which the
  demo datasets ship in place of Whisper output). The model, `input_dims`, `variant.unfrozen` and the feature batches
  all keep using the role name; only feature extraction needs the resolved encoder.

Optional model hooks the engine honours:
- `model.init_from_train_labels(labels)`: called once after `build_model` (before the first epoch and before a
  checkpoint is loaded on `--resume`) with the training rows' labels as a float32 tensor [N, K] (after
  `shuffle_labels` when that control is on). The constant-mean floor uses it to fix its prediction at the train mean.
- A system whose `Hyper.epochs` is 0 (and whose model may have no trainable parameter) takes no optimiser step: the
  engine evaluates the model as built, keeps it as the best checkpoint, and writes predictions as for any run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from abaw_bench.harness.registry import Registry

SAMPLINGS = ("clip", "windows", "centred")
EPOCH_SAMPLINGS = ("all", "balanced-frames", "balanced-segments")  # what one training epoch draws (train/sampler.py)
OPTIMIZERS = ("adamw", "adam", "sgd")
# per-step cosine after a linear warm-up; ReduceLROnPlateau on the val metric; a per-epoch step decay with a floor
SCHEDULES = ("cosine", "plateau", "step")
# what an epoch is selected by (best.pt, early stopping, the "plateau" schedule): the task's headline metric, or, for a
# binary task, the BAH organisers' average precision of the positive class (as the BAH dataset authors' trainer selects)
SELECTIONS = ("headline", "average_precision")
CCC_GRANULARITIES = ("batch", "window")  # harness/train/losses.py: masked_ccc
CCC_REDUCTIONS = ("mean", "sum")
LOSSES = ("mse", "bce", "ccc", "ce", "soft_f1")


@dataclass(frozen=True)
class Range:
    """The legal values of a number: [low, high], either end open; `describe()` is how messages state it."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return math.isfinite(value) and above and below  # nan fails every comparison; inf is no setting

    def describe(self) -> str:
        low, high = (f"{end:g}" if isinstance(end, float) else str(end) for end in (self.low, self.high))
        return f"in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"


MAX_SWEEP_POINTS = 10**5  # thresholds one threshold_sweep may try: each is a pass over the val predictions
DROPOUT = Range(0, 1, high_open=True)  # the range of every dropout knob (ModelKnobs)
# Every numeric Hyper field's range, declared once and checked in Hyper.__post_init__, so that the system's values,
# its variants', recipes', the demo schedule's and --hyper/--epochs/--lr/--batch-size overrides all meet it. The upper
# bounds are where a larger value means unbounded time or memory (epochs, batch, window) or is surely a typo (lr);
# a Mapping field's range holds for each of its values, threshold_sweep's for each of first, last and step.
HYPER_RANGES: dict[str, Range] = {
    "lr": Range(0, 10, low_open=True),
    "encoder_lr": Range(0, 10, low_open=True),
    "weight_decay": Range(0, 10),
    "epochs": Range(0, 10**5),  # 0: no optimiser step (the floors); a model with parameters needs >= 1 (engine)
    "batch_size": Range(1, 2**20),
    "warmup_epochs": Range(0, 10**5),
    "grad_clip_value": Range(0, 1e12, low_open=True),
    "grad_clip_norm": Range(0, 1e12, low_open=True),
    "early_stopping_patience": Range(1, 10**5),
    "momentum": Range(0, 1, high_open=True),
    "step_size": Range(1, 10**5),
    "step_gamma": Range(0, 1, low_open=True),
    "step_min_lr": Range(0, 10),  # and at most lr (checked with it)
    "max_seconds": Range(0, 10**6, low_open=True),
    "max_frames": Range(1, 10**8),
    "encoder_freeze_epoch": Range(1, 10**5),
    "label_smoothing": Range(0, 1, high_open=True),
    "focal_gamma": Range(0, 100),
    "focal_alpha": Range(0, 10**6, low_open=True),
    "distillation_weight": Range(0, 1),
    "window": Range(1, 10**6),
    "stride": Range(1, 10**6),
    "inference_stride": Range(1, 10**6),
    "centred_seconds": Range(0, 10**5, low_open=True),
    "centred_rows": Range(1, 10**6),
    "frame_step": Range(1, 10**6),
    "threshold_sweep": Range(-1e6, 1e6),  # first and last (probabilities or logits); step: > 0, MAX_SWEEP_POINTS
}
# Every text Hyper field's choices (checked with the ranges, as a ModelKnobs field's `knob` choices are).
HYPER_CHOICES: dict[str, tuple[str, ...]] = {
    "sampling": SAMPLINGS, "optimizer": OPTIMIZERS, "schedule": SCHEDULES, "loss": LOSSES,
    "ccc_granularity": CCC_GRANULARITIES, "ccc_reduction": CCC_REDUCTIONS, "epoch_sampling": EPOCH_SAMPLINGS,
    "selection": SELECTIONS}


@dataclass(frozen=True)
class Hyper:
    """The engine's knobs (optimiser, schedule, loss, sampling, epochs, batch, clipping, input cuts), as the paper
    states them; overridable per variant, by a recipe, by the demo schedule and from the CLI. The model's own
    settings (widths, heads, dropout) are the system's ModelKnobs, not fields here.

    Sampling (how the engine turns a task's items into training samples; harness/train/windows.py):
    - "clip": one sample per item, model output [B, K] (EMI);
    - "windows": windows of `window` frames over each video's label-frame grid, `stride` apart for training and
      `inference_stride` apart at inference (None = `window`: non-overlapping; overlaps are averaged); tails and short
      videos are padded and masked, never dropped; model output [B, L, K] (wen2024);
    - "centred": one sample per frame t (every `frame_step`-th frame; the frames in between take the nearest sampled
      frame's decision), each input's window centred on t and `centred_seconds[input]` long, resampled to
      `centred_rows[input]` equidistant rows where given; model output [B, K] for frame t (hallmen2025 BAH).
    """

    lr: float = 1e-4
    weight_decay: float = 0.01
    epochs: int = 30
    batch_size: int = 32
    warmup_epochs: float = 1.0
    schedule: str = "cosine"  # one of SCHEDULES: "cosine", cosine decay after a linear warm-up (transformers'
    # get_cosine_schedule_with_warmup, per step); "plateau", ReduceLROnPlateau on the validation metric once per epoch
    # (factor 0.1, patience 10, floor 1e-7: harness/train/engine.py PLATEAU; no warm-up); "step", after every epoch
    # lr = max(lr · step_gamma^⌊epochs done / step_size⌋, step_min_lr) (no warm-up; the BAH dataset authors' MyStepLR)
    step_size: int = 1  # "step" only: epochs between two decays, >= 1
    step_gamma: float = 0.1  # "step" only: the decay factor, in (0, 1]
    step_min_lr: float = 0.0  # "step" only: the floor no decay goes below, in [0, lr]
    loss: str = "mse"  # one of LOSSES, masked (harness/train/losses.py)
    optimizer: str = "adamw"  # one of OPTIMIZERS
    momentum: float = 0.0  # "sgd" only: in [0, 1)
    nesterov: bool = False  # "sgd" only: Nesterov momentum (needs momentum > 0)
    selection: str = "headline"  # one of SELECTIONS
    grad_clip_value: float | None = None  # clip_grad_value_ threshold (hallmen2024: 100, wen2024: 0.8)
    grad_clip_norm: float | None = None  # clip_grad_norm_ threshold
    early_stopping_patience: int | None = None  # epochs without val improvement; None = train all epochs, keep best
    max_seconds: float | None = None  # audio cut (hallmen2024: first 12 s)
    max_frames: int | None = None  # vision cut (hallmen2025 EMI: first 400 frames)
    encoder_lr: float | None = None  # lr for unfrozen encoders; None = same as lr
    # the epoch (1-based) from which the unfrozen encoders stop training, the head going on (hallmen2025's code: 30);
    # None = they train every epoch
    encoder_freeze_epoch: int | None = None
    label_smoothing: float = 0.0  # "ce" only, in [0, 1)
    focal_gamma: float = 0.0  # "ce" only: focal loss exponent (0 = plain cross-entropy), >= 0
    focal_alpha: float = 1.0  # "ce" only: constant weight of the (focal) cross-entropy term, > 0
    distillation_weight: float = 0.0  # "ce" only: weight w of KL(smoothed target ‖ softmax), in [0, 1]
    ccc_granularity: str = "batch"  # "ccc" only, one of CCC_GRANULARITIES: the batch's frames pooled, or per window
    ccc_reduction: str = "mean"  # "ccc" only, one of CCC_REDUCTIONS: 1 − mean CCC over columns, or Σ (1 − CCC)
    sampling: str = "clip"  # one of SAMPLINGS (see the class docstring)
    window: int | None = None  # "windows": frames per window
    stride: int | None = None  # "windows": training stride in frames (None = window)
    inference_stride: int | None = None  # "windows": inference stride (None = window, non-overlapping)
    centred_seconds: Mapping[str, float] = field(default_factory=dict)  # "centred": input name -> span in seconds
    centred_rows: Mapping[str, int] = field(default_factory=dict)  # "centred": input name -> equidistant rows
    frame_step: int = 1  # "centred": sample every k-th frame
    # What one training epoch draws, one of EPOCH_SAMPLINGS (harness/train/sampler.py): "all" samples shuffled,
    # "balanced-frames" (class-balanced draws with replacement, as many as there are samples) or "balanced-segments"
    # (one frame per label-constant segment, the majority class undersampled; "centred" only). Seeded, also under DDP.
    epoch_sampling: str = "all"
    threshold_sweep: tuple[float, float, float] | None = None  # binary tasks: (first, last, step) swept on val
    recipe: str | None = None  # the SystemSpec.recipes entry applied on top of the rows' Hyper (None: the rows' own)

    def __post_init__(self) -> None:
        for item in fields(self):
            where, value = f"Hyper.{item.name}", getattr(self, item.name)
            _check_type(where, value, item.type)
            _check_legal(where, value, HYPER_RANGES.get(item.name) or HYPER_CHOICES.get(item.name), item.type)
        if self.threshold_sweep is not None:
            first, last, step = self.threshold_sweep
            if not first <= last:
                raise ValueError(f"Hyper.threshold_sweep {list(self.threshold_sweep)}: expected [first, last, step] "
                                 "with first <= last")
            if (last - first) / step + 1 > MAX_SWEEP_POINTS:
                raise ValueError(f"Hyper.threshold_sweep {list(self.threshold_sweep)}: expected at most "
                                 f"{MAX_SWEEP_POINTS} thresholds, found {int((last - first) / step) + 1}")
        if self.schedule in ("plateau", "step") and self.warmup_epochs != 0:
            raise ValueError(f"Hyper.schedule {self.schedule!r} has no warm-up; set warmup_epochs 0 (found "
                             f"{self.warmup_epochs})")
        if self.optimizer == "sgd" and self.nesterov and self.momentum == 0:
            raise ValueError("Hyper.nesterov true needs momentum > 0 (Nesterov momentum without momentum is plain "
                             "SGD), found momentum 0")
        if self.step_min_lr > self.lr:
            raise ValueError(f"Hyper.step_min_lr {self.step_min_lr}: expected in [0, lr] = [0, {self.lr}] (the floor "
                             "of the step schedule)")
        if self.sampling == "windows" and self.window is None:
            raise ValueError("Hyper.sampling 'windows' needs window >= 1")
        if self.window is not None and self.inference_stride is not None and not self.inference_stride <= \
                self.window:
            raise ValueError("Hyper.inference_stride must be in [1, window] so that inference windows cover every "
                             f"frame; found {self.inference_stride} for window {self.window}")
        if self.epoch_sampling == "balanced-segments" and self.sampling != "centred":
            raise ValueError(f"Hyper.epoch_sampling 'balanced-segments' draws frames of label segments: it needs "
                             f"sampling 'centred', found {self.sampling!r}")

    def replace(self, **changes: Any) -> Hyper:
        from dataclasses import replace

        return replace(self, **changes)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_SCALAR_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "float": (_is_number, "a number"), "int": (_is_integer, "an integer"),
    "bool": (lambda value: isinstance(value, bool), "true or false"),
    "str": (lambda value: isinstance(value, str), "text"),
}


def _check_type(where: str, value: Any, annotation: str) -> None:
    """`value` against the field's annotation (a string under `from __future__ import annotations`): the scalars, their
    `| None`, `Mapping[str, float|int]` and `tuple[float, float, float]` that Hyper uses, and the `tuple[int, ...]`
    of a model knob (e.g. a TCN's channels per level). A --hyper override arrives as JSON, so this is where a wrong
    type becomes a message instead of a failure deep in training."""
    kind, _, optional = annotation.partition(" | ")
    if value is None and optional == "None":
        return
    if kind == "tuple[int, ...]":
        if not isinstance(value, tuple | list) or not value or not all(map(_is_integer, value)):
            raise ValueError(f"{where}: expected a non-empty list of integers, found {str(value)[:80]!r}")
        return
    if kind.startswith("Mapping[str, "):
        item_kind = kind.removeprefix("Mapping[str, ").removesuffix("]")
        check = _SCALAR_CHECKS[item_kind][0]
        if not isinstance(value, Mapping) or not all(isinstance(key, str) and check(item)
                                                     for key, item in value.items()):
            plural = {"float": "numbers", "int": "integers"}[item_kind]
            raise ValueError(f"{where}: expected an object mapping input names to {plural}, found {str(value)[:80]!r}")
        return
    if kind.startswith("tuple["):
        if not isinstance(value, tuple | list) or len(value) != 3 or not all(map(_is_number, value)):
            raise ValueError(f"{where}: expected 3 numbers [first, last, step], found {str(value)[:80]!r}")
        return
    check, expected = _SCALAR_CHECKS[kind]
    if not check(value):
        raise ValueError(f"{where}: expected {expected}{' or null' if optional else ''}, found {str(value)[:80]!r}")


def _check_legal(where: str, value: Any, legal: Range | tuple[str, ...] | None, annotation: str) -> None:
    """`value` (already type-checked against `annotation`) in its declared legal values, the one check of Hyper's and
    ModelKnobs' fields: a text field's choices, or a Range for a number, for each number of a `tuple[int, ...]`
    knob, for each value of a Mapping field and for threshold_sweep's first and last; None declares nothing."""
    if value is None or legal is None:
        return
    if isinstance(legal, tuple):
        if value not in legal:
            raise ValueError(f"{where} {value!r}: expected one of {', '.join(legal)}")
        return
    if isinstance(value, Mapping) or annotation == "tuple[int, ...]":
        for key, item in value.items() if isinstance(value, Mapping) else enumerate(value):
            if item not in legal:
                raise ValueError(f"{where}[{key!r}] {item}: expected {legal.describe()}")
        return
    if isinstance(value, tuple | list):  # threshold_sweep: [first, last, step]
        first, last, step = value
        if first not in legal or last not in legal or not (math.isfinite(step) and step > 0):
            raise ValueError(f"{where} {list(value)}: expected [first, last, step] with first and last "
                             f"{legal.describe()} and step > 0")
        return
    if value not in legal:
        nullable = " (or null)" if annotation.endswith("| None") else ""
        raise ValueError(f"{where} {value}: expected {legal.describe()}{nullable}")


def knob(default: Any, legal: Range | tuple[str, ...] | None, **presets: Any) -> Any:
    """A ModelKnobs field: its default (the paper's), its legal values next to it (a Range for a number, or for each
    number of a `tuple[int, ...]`; the choices for text; None only for true/false) and, by preset name, the value it
    takes under an encoder preset where the paper's would not fit, e.g. `tiny=32` for the tiny encoders' widths."""
    return field(default=default, metadata={"legal": legal, "presets": presets})


@dataclass(frozen=True)
class ModelKnobs:
    """The settings a system's `build_model` reads (widths, heads, layers, dropout), one dataclass per system (or per
    task where the models differ) in the system's own file, every field declared with `knob(...)`. Checked whenever
    knobs are resolved (`SystemSpec.knobs_for`: for a run, and for every variant at the system's import); a subclass
    states constraints between knobs in `check`."""

    def __post_init__(self) -> None:
        for item in fields(self):
            where, value = f"{type(self).__name__}.{item.name}", getattr(self, item.name)
            if "legal" not in item.metadata:
                raise TypeError(f"{where}: declare every model knob with knob(default, legal values)")
            legal = item.metadata["legal"]
            if legal is None and item.type != "bool":
                raise TypeError(f"{where}: a {item.type} knob needs its legal values (a Range or the choices)")
            _check_type(where, value, item.type)
            _check_legal(where, value, legal, item.type)
        self.check()

    def check(self) -> None:
        """Constraints between knobs (e.g. a width divisible by the head count): raise ValueError naming both."""

    def values(self) -> dict[str, Any]:
        """Field name -> value (what config.json and results.json record under "model")."""
        return {item.name: getattr(self, item.name) for item in fields(self)}

    @classmethod
    def preset_values(cls, preset: str) -> dict[str, Any]:
        """The knobs that declare a value of their own for `preset` (`knob(..., tiny=...)`)."""
        return {item.name: item.metadata["presets"][preset] for item in fields(cls)
                if preset in item.metadata.get("presets", {})}


@dataclass(frozen=True)
class Variant:
    """One row of the paper's table that is a trained system."""

    name: str  # CLI name, e.g. "audio-global-unfrozen-dropout"
    row: str  # the table's row label, verbatim, e.g. "+ global + unfrozen + dropout"
    inputs: tuple[str, ...]  # encoder names (harness.encoders) or "provided:vit" / "provided:wav2vec2" pickles
    unfrozen: tuple[str, ...] = ()  # subset of inputs fine-tuned end to end
    train_splits: tuple[str, ...] = ("train",)  # ("train", "val") for the train+val rows
    reuse_best_epoch_of: str | None = None  # train+val rows: train for the best epoch count of this train-only variant
    hyper: Mapping[str, Any] = field(default_factory=dict)  # overrides of the system's Hyper (the engine's knobs)
    model: Mapping[str, Any] = field(default_factory=dict)  # overrides of the system's ModelKnobs, e.g. {"dropout": .1}
    # what the row's model is, fixed by the row (e.g. {"global_vector": True}): no knob, no --hyper changes it
    options: Mapping[str, Any] = field(default_factory=dict)
    paper: Mapping[str, float | None] = field(default_factory=dict)  # table figures, e.g. {"val": .386, "test": .461}
    # what every result of this row must say: a departure from the authors' training that the harness cannot close
    # (written to results.json "notes" and shown by `abaw-bench info`)
    notes: tuple[str, ...] = ()
    demo: Mapping[str, Any] = field(default_factory=dict)  # this row's demo schedule, on top of the system's (below)


DATASET_TRANSCRIPT = "dataset"  # `InputSource.transcript` value: the dataset's own "transcript" media


@dataclass(frozen=True)
class InputSource:
    """Where a role-named input comes from under each preset (see the module docstring, "Input names")."""

    encoder: Mapping[str, str]  # preset -> encoder name (harness.encoders) or "provided:<kind>"
    transcript: Mapping[str, str] = field(default_factory=dict)  # text: preset -> asr encoder | DATASET_TRANSCRIPT


@dataclass(frozen=True)
class SystemSpec:
    """A paper's system: its variants per task and how to build its model."""

    name: str
    paper: str  # citation line
    tasks: tuple[str, ...]
    variants: Mapping[str, Mapping[str, Variant]]  # task -> variant name -> Variant
    default_variant: Mapping[str, str]  # task -> variant name
    hyper: Mapping[str, Hyper]  # task -> Hyper
    knobs: Mapping[str, ModelKnobs]  # task -> the model knobs as the paper states them (the same object may serve all)
    build_model: Callable[..., Any]  # (task, variant, input_dims: dict[str, int], knobs, hyper) -> nn.Module
    description: str = ""
    input_sources: Mapping[str, Mapping[str, InputSource]] = field(default_factory=dict)  # task -> role -> source
    # task -> recipe name -> Hyper overrides: a named alternative training recipe for every row of the task, one
    # `--hyper recipe=NAME` away (wen2024 Expr: the paper's stated recipe against the authors' code's)
    recipes: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    # task -> Hyper overrides used on the embedded demo only (a real data root always gets the paper's schedule): the
    # demo's videos last seconds and its encoders are tiny, so the paper's epochs, windows and lr would spend minutes
    # to learn what a few epochs show. Sized so that a default demo run finishes in minutes on 2 cores and still beats
    # its shuffled-label control (the slow test tier runs exactly these schedules). A "recipe" key names the recipe.
    demo: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """A system file's slip fails at its import, naming the system: a task without knobs, a knob that shadows an
        engine knob (a --hyper key must name one setting), a variant overriding a knob its system does not have or
        setting one out of its legal values."""
        engine = {item.name for item in fields(Hyper)}
        for task in self.tasks:
            if task not in self.knobs:
                raise ValueError(f"system {self.name!r}: no model knobs for task {task!r} (SystemSpec.knobs)")
            names = {item.name for item in fields(self.knobs[task])}
            if names & engine:
                raise ValueError(f"system {self.name!r}: model knobs {sorted(names & engine)} are also engine knobs "
                                 "(Hyper fields); rename them")
            for variant in self.variants[task].values():
                if set(variant.model) - names:
                    raise ValueError(f"system {self.name!r} variant {variant.name!r}: unknown model knobs "
                                     f"{sorted(set(variant.model) - names)}; {self.name}'s {task} knobs: "
                                     f"{', '.join(sorted(names))}")
                try:  # a value out of its knob's range, too, is the system file's slip, not a run's --hyper
                    self.knobs_for(task, variant, "paper")
                except ValueError as error:
                    raise ValueError(f"system {self.name!r} variant {variant.name!r}: {error}") from None

    def demo_schedule(self, task: str, variant: Variant) -> dict[str, Any]:
        """The Hyper overrides a demo run of `variant` takes: the system's for the task, except the fields the row
        sets in its own `hyper` (they define the row, e.g. its lr or a floor's 0 epochs), then the row's `demo`."""
        shared = {key: value for key, value in self.demo.get(task, {}).items() if key not in variant.hyper}
        return {**shared, **variant.demo}

    def variant(self, task: str, name: str | None) -> Variant:
        from abaw_bench.harness.errors import AbawError, unknown_name_error

        if task not in self.variants:
            raise AbawError(f"system {self.name!r} has no task {task!r}; its tasks: {', '.join(self.tasks)}")
        name = name or self.default_variant[task]
        if name not in self.variants[task]:
            raise unknown_name_error(f"{self.name} variant", name, self.variants[task])
        return self.variants[task][name]

    def hyper_for(self, task: str, variant: Variant, recipe: str | None = None) -> Hyper:
        """The task's Hyper, then the variant's overrides, then the named recipe's (`recipes[task][recipe]`)."""
        hyper = self.hyper[task].replace(**dict(variant.hyper))
        if recipe is None:
            return hyper
        recipes = self.recipes.get(task, {})
        if recipe not in recipes:
            from abaw_bench.harness.errors import unknown_name_error

            raise unknown_name_error(f"{self.name} {task} recipe", recipe, recipes)
        return hyper.replace(**dict(recipes[recipe]), recipe=recipe)

    def knobs_for(self, task: str, variant: Variant, preset: str,
                  overrides: Mapping[str, Any] | None = None) -> ModelKnobs:
        """The model knobs a run of `variant` builds with: the system's for the task, then the values the knobs
        declare for `preset`, then the variant's `model`, then `overrides` (--hyper); checked once, here."""
        defaults = self.knobs[task]
        return type(defaults)(**{**defaults.values(), **defaults.preset_values(preset), **dict(variant.model),
                                 **dict(overrides or {})})

    def split_overrides(self, task: str, overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """--hyper KEY=VALUE pairs as (engine knobs: Hyper fields, model knobs: the task's ModelKnobs fields); a key
        that is neither is a message naming the close ones and both lists."""
        from abaw_bench.harness.errors import AbawError, did_you_mean

        engine = sorted(item.name for item in fields(Hyper))
        model = sorted(item.name for item in fields(self.knobs[task]))
        for key in overrides:
            if key not in engine and key not in model:
                raise AbawError(f"unknown --hyper key {key!r}.{did_you_mean(key, engine + model)} Model knobs of "
                                f"{self.name} on {task}: {', '.join(model)}. Engine knobs: {', '.join(engine)}.")
        return ({key: value for key, value in overrides.items() if key in engine},
                {key: value for key, value in overrides.items() if key in model})

    def encoder_for(self, task: str, name: str, preset: str) -> str:
        """The encoder (or "provided:<kind>") behind input `name` under `preset`; an encoder name maps to itself."""
        source = self.input_sources.get(task, {}).get(name)
        if source is None:
            return name
        if preset not in source.encoder:
            from abaw_bench.harness.errors import AbawError

            raise AbawError(
                f"system {self.name!r} input {name!r} has no encoder for preset {preset!r}; "
                f"presets: {', '.join(source.encoder)}"
            )
        return source.encoder[preset]

    def transcript_for(self, task: str, name: str, preset: str) -> str | None:
        """For a text input: the asr encoder whose transcript it embeds, or DATASET_TRANSCRIPT; None otherwise."""
        source = self.input_sources.get(task, {}).get(name)
        return None if source is None else source.transcript.get(preset)

    def encoders_needed(self, task: str, variant: Variant, preset: str) -> list[str]:
        """Every encoder a run of `variant` loads under `preset`, in input order: each input's encoder and the asr
        encoder whose transcripts a text input embeds (the organisers' pickles and dataset transcripts need none)."""
        needed: list[str] = []
        for name in variant.inputs:
            transcript = self.transcript_for(task, name, preset)
            for encoder in (self.encoder_for(task, name, preset), transcript):
                if encoder and encoder != DATASET_TRANSCRIPT and not encoder.startswith("provided:") \
                        and encoder not in needed:
                    needed.append(encoder)
        return needed


SYSTEMS: Registry[SystemSpec] = Registry("system", plugin_packages=("abaw_bench.systems", "abaw_bench.baselines"))


def get_system(name: str) -> SystemSpec:
    return SYSTEMS.get(name)
