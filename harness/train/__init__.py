"""The training engine behind `abaw-bench run`.

- `config`: the resolved run configuration (plain data, no torch).
- `data`: datasets over a task's items (cached features, organisers' pickles, or decoded media for unfrozen
  encoders) and the padding collate that produces the model contract's `(padded [B,T,D], lengths [B])` pairs.
- `engine`: the optimisation loop (AdamW, cosine warm-up schedule, AMP, clipping, validation, early stopping,
  per-epoch checkpoints and resume).
- `checkpoint`: checkpoints that load with `torch.load(weights_only=True)`, RNG states included.
- `distributed`: torchrun support (process group, rank-0-only writes, gathering validation predictions).
- `pipeline`: builds everything for one system/task/variant and writes the run directory.

Importing this package does not import torch; the submodules do.
"""
