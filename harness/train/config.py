"""The configuration of one run as the command line gives it; config.json's "run" object (beside the resolved "hyper"
and "model" that harness.train.pipeline writes)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunConfig:
    """What the command line asked for. The pipeline resolves it (harness.train.pipeline: the system's Hyper and
    model knobs with these overrides applied) and writes both to config.json beside `to_json()`."""

    system: str
    task: str
    variant: str
    preset: str  # encoder preset: "paper" or "tiny"
    data_root: str | None  # None = the embedded demo dataset
    out_root: str  # runs/<system>/<task>/<variant>/seed<N> is created below it
    seed: int = 0
    device: str = "cpu"
    precision: str = "auto"  # "auto" = bf16 autocast on CUDA (fp16 + GradScaler without bf16 support), fp32 on CPU
    num_workers: int | None = None  # DataLoader workers; None = the device's default (harness.features.loading)
    deterministic: bool | None = None  # cuDNN deterministic kernels; None = on for the CPU, off on CUDA
    resume: bool = False
    overwrite: bool = False  # --overwrite: replace a run already in the run directory (see harness.train.rundir)
    skip_bad: bool = False  # --skip-bad: items whose media yield no features are left out (harness.train.pipeline)
    epochs: int | None = None  # --epochs; None = the system's value (train+val rows: the reused best epoch)
    batch_size: int | None = None  # global: split across torchrun ranks
    lr: float | None = None
    weights: dict[str, str] = field(default_factory=dict)  # encoder name -> local weights directory
    trust_remote_code: bool = False  # --trust-remote-code: allow a checkpoint's own model code (the GTE models)
    download_root: str | None = None  # --download-root: whisper's checkpoint folder (None: whisper's default)
    hyper_overrides: dict[str, Any] = field(default_factory=dict)  # --hyper KEY=VALUE: a Hyper field or model knob
    shuffle_labels: bool = False  # permute training labels across items (the shuffled-label control)
    progress: bool = True

    def run_dir(self) -> Path:
        return Path(self.out_root) / self.system / self.task / self.variant / f"seed{self.seed}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
