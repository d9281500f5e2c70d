"""The training engine behind `abaw-bench run`.

- `config`: the resolved run configuration (plain data, no torch).
- `data`: datasets over a task's items (cached features, organisers' pickles, or decoded media for unfrozen
  encoders) and the padding collate that produces the model contract's `(padded [B,T,D], lengths [B])` pairs.
- `engine`: the optimisation loop (AdamW, Adam or SGD; a cosine warm-up, plateau or per-epoch step schedule; AMP,
  clipping, validation, early stopping, per-epoch checkpoints and resume).
- `checkpoint`: checkpoints that load with `torch.load(weights_only=True)`, every rank's RNG state included (kept on
  the CPU whatever the device), and the precision check on resume.
- `distributed`: torchrun support for every command (process group and its timeout, the rank's device, rank-0-only
  writes, gathering validation predictions).
- `precision`: what dtype "auto" means on a device, and TF32 on CUDA.
- `pipeline`: builds everything for one system/task/variant and writes the run directory.

Importing this package does not import torch; the submodules do.
"""
