"""The organisers' EMI baselines (ABAW 6; seed 000's Table 1) and the constant-mean floor, as one system "baseline".

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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from abaw_bench.harness.systems import SYSTEMS, Hyper, SystemSpec, Variant

OUTPUTS = {"emi": 6}
VISION, AUDIO = "provided:vit", "provided:wav2vec2"
REGRESSOR_HIDDEN = 256

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


def build_model(task: str, variant: Variant, preset: str, input_dims: Mapping[str, int]) -> Any:
    """Mean-pooled provided features → MLP; the constant-mean variant → a ConstantRegressor."""
    from abaw_bench.harness.heads import Branch, BranchFusionRegressor, ConstantRegressor

    if variant.options.get("constant"):
        return ConstantRegressor(OUTPUTS[task], reference_input=variant.inputs[0])
    branches = [Branch(name, "mean") for name in variant.inputs]
    return BranchFusionRegressor(branches, input_dims, fusion_hidden=REGRESSOR_HIDDEN, outputs=OUTPUTS[task])


SPEC = SYSTEMS.register("baseline")(
    SystemSpec(
        name="baseline",
        paper="Kollias et al. The 6th Affective Behavior Analysis in-the-wild (ABAW) Competition. CVPR Workshops, "
        "2024 (EMI baselines; figures as quoted in Hallmen et al. 2024, Table 1).",
        tasks=("emi",),
        variants={"emi": {variant.name: variant for variant in _VARIANTS}},
        default_variant={"emi": "multimodal"},
        hyper={"emi": HYPER},
        build_model=build_model,
        description="The organisers' provided ViT / wav2vec2 features, mean-pooled → MLP; and the constant-mean floor.",
    )
)
