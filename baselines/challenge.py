"""The challenge baselines as one system "baseline": the organisers' EMI baselines and, for every task, the floor.

EMI (the organisers' baselines as quoted in hallmen2024, Table 1):

The organisers trained regressors on their provided features (`vit/<id>.pkl`, T × 384 ViT face features;
`wav2vec2/<id>.pkl`, T × 768 wav2vec2 audio features), read here through `harness.safepickle` because dataset
pickles are untrusted. Each input is averaged over time (masked mean), the modalities are concatenated (vision, then
audio), and the vector is regressed by Linear(D → 256) → Tanh → Linear(256 → 6).
Our reading, stated because the sources do not give it: the regressor's exact form and its training schedule are not
published with the figures, so the regressor is this small MLP, trained with AdamW lr 1e-3, 30 epochs, batch 32, MSE.

"constant-mean" predicts the training labels' column means for every clip: the floor. Its model has no trainable
parameter; the engine fixes the prediction through the `init_from_train_labels` hook and, with `epochs=0`, takes no
optimiser step (harness/systems.py, "Optional model hooks"). A constant column has an undefined Pearson r; the EMI
metric's documented handling of that case decides the floor's score.

Frame tasks (BAH, Aff-Wild2 VA and Expr), trained on the engine's "windows" sampling:
- "constant": the floor — the training frames' majority class (BAH, Expr) or mean (VA) for every frame;
- "frame-head": the organisers' baselines are per-frame CNNs; here a per-frame head (Linear → ReLU → Linear) on a
  frozen image encoder's face-crop features (ViT-H/14 under "paper", its tiny random stand-in on the demo), trained
  with the task's loss (BAH: BCE, its decision threshold swept on validation; VA: 1 − CCC; Expr: cross-entropy).
  Our reading, stated because the sources do not give it: encoder, head and schedule (AdamW lr 1e-3, 10 epochs,
  windows of 64 frames, stride 32, batch 16) are the harness's choices, not the organisers'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from abaw_bench.harness.systems import DROPOUT, SYSTEMS, Hyper, ModelKnobs, Range, SystemSpec, Variant, knob

VISION, AUDIO = "provided:vit", "provided:wav2vec2"
FRAME_TASKS = ("bah", "va", "expr")
FACE_ENCODER = "vit-h14"


@dataclass(frozen=True)
class BaselineKnobs(ModelKnobs):
    """The trained heads' settings (the floors have none to set): EMI's regressor Linear(D → 256) → Tanh →
    Linear(256 → 6), the frame tasks' per-frame head Linear(D → 128) → ReLU → Linear(128 → K)."""

    hidden: int = knob(256, Range(1, 2**16))  # the hidden layer's width (EMI 256; frame tasks 128, SPEC below)
    dropout: float = knob(0.0, DROPOUT)

_VARIANTS = (
    Variant("vision", "Baseline vision", (VISION,), paper={"val": None, "test": 0.090}),
    Variant("audio", "Baseline audio", (AUDIO,), paper={"val": None, "test": 0.240}),
    Variant("multimodal", "Baseline multimodal", (VISION, AUDIO), paper={"val": None, "test": 0.250}),
    Variant(
        "constant-mean",
        "constant train mean (harness floor; not in the paper)",
        (VISION,),  # only read for the batch size
        hyper={"epochs": 0},
        options={"constant": True},
    ),
)

HYPER = Hyper(lr=1e-3, weight_decay=0.01, epochs=30, batch_size=32, warmup_epochs=1.0, schedule="cosine", loss="mse")

_FRAME_VARIANTS = (
    Variant("constant", "constant floor: train majority class / train mean (harness; not in a paper)", (FACE_ENCODER,),
            hyper={"epochs": 0}, options={"constant": True}),
    Variant("frame-head", "per-frame head on frozen face-crop features (harness baseline)", (FACE_ENCODER,)),
)
_FRAME_LOSS = {"bah": "bce", "va": "ccc", "expr": "ce"}


def _frame_hyper(task: str) -> Hyper:
    return Hyper(lr=1e-3, weight_decay=0.01, epochs=10, batch_size=16, warmup_epochs=1.0, loss=_FRAME_LOSS[task],
                 sampling="windows", window=64, stride=32,
                 threshold_sweep=(0.05, 0.95, 0.01) if task == "bah" else None)


def build_model(task: str, variant: Variant, input_dims: Mapping[str, int], knobs: BaselineKnobs,
                hyper: Hyper) -> Any:
    """EMI: mean-pooled provided features → MLP, or the constant mean. Frame tasks: a per-frame head or the floor."""
    from abaw_bench.harness.tasks import get_task
    from abaw_bench.systems._heads import Branch, BranchFusionRegressor, ConstantRegressor, FrameConstant, FrameHead

    facts = get_task(task)
    if task in FRAME_TASKS:
        if variant.options.get("constant"):
            return FrameConstant(facts.output_width, reference_input=variant.inputs[0],
                                 kind="regression" if facts.class_names is None else "classes")
        return FrameHead(input_dims[variant.inputs[0]], knobs.hidden, facts.output_width, variant.inputs[0],
                         dropout=knobs.dropout)
    if variant.options.get("constant"):
        return ConstantRegressor(facts.output_width, reference_input=variant.inputs[0])
    branches = [Branch(name, "mean") for name in variant.inputs]
    return BranchFusionRegressor(branches, input_dims, fusion_hidden=knobs.hidden, outputs=facts.output_width,
                                 dropout=knobs.dropout)


SPEC = SYSTEMS.register("baseline")(
    SystemSpec(
        name="baseline",
        paper="Kollias et al. The 6th Affective Behavior Analysis in-the-wild (ABAW) Competition. CVPR Workshops, "
        "2024 (EMI baselines; figures as quoted in Hallmen et al. 2024, Table 1).",
        tasks=("emi", *FRAME_TASKS),
        variants={"emi": {variant.name: variant for variant in _VARIANTS},
                  **{task: {variant.name: variant for variant in _FRAME_VARIANTS} for task in FRAME_TASKS}},
        default_variant={"emi": "multimodal", **dict.fromkeys(FRAME_TASKS, "frame-head")},
        hyper={"emi": HYPER, **{task: _frame_hyper(task) for task in FRAME_TASKS}},
        knobs={"emi": BaselineKnobs(), **dict.fromkeys(FRAME_TASKS, BaselineKnobs(hidden=128))},
        # the embedded demo only (SystemSpec.demo): EMI 5 epochs of batch 16 at lr 5e-3 (the tiny random-weight
        # features vary little from clip to clip; measured: multimodal .445 against a shuffled-label control of
        # .122); BAH 20 epochs at lr 3e-3
        demo={"emi": {"epochs": 5, "batch_size": 16, "lr": 5e-3}, "bah": {"epochs": 20, "lr": 3e-3}},
        build_model=build_model,
        description="EMI: the organisers' provided ViT / wav2vec2 features, mean-pooled → MLP. Every task: the "
        "constant floor. BAH, VA, Expr: a per-frame head on frozen face-crop features.",
    )
)
