"""The training engine behind `abaw-bench run`.

- `config`: the resolved run configuration (plain data, no torch).
- `data`: datasets over a task's items (cached features, organisers' pickles, or decoded media for unfrozen
  encoders) and the padding collate that produces the model contract's `(padded [B,T,D], lengths [B])` pairs.
- `engine`: the optimisation loop (AdamW, Adam or SGD; a cosine warm-up, plateau or per-epoch step schedule; AMP,
  clipping, validation, early stopping, per-epoch checkpoints and resume).
- `checkpoint`: checkpoints that load with `torch.load(weights_only=True)`, every rank's RNG state included (kept on
  the CPU whatever the device), and the precision check on resume.
- `pipeline`: builds everything for one system/task/variant and writes the run directory.

The process group, device claims and autocast dtypes it uses live in `harness.runtime`, shared with feature
extraction. Importing this package does not import torch; the submodules do.
"""
