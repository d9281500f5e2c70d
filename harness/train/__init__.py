"""The training engine behind `abaw-bench run`; it knows systems only through `harness.systems` (the registry, the
engine's knobs `Hyper` and the systems' `ModelKnobs`).

- `pipeline`: one run end to end: resolves the system/variant, its Hyper and model knobs, builds the inputs, trains,
  predicts and writes the run directory (config.json, results.json, predictions, submissions).
- `config`: the run as the command line gives it (`RunConfig`; plain data, no torch).
- `inputs`: one source per variant input (cached features, the organisers' pickles, decoded media for unfrozen
  encoders) and the encoders' provenance.
- `datasets`, `data`, `windows`, `sampler`: the three splits in the shape the Hyper's sampling declares ("clip",
  "windows", "centred"), the padding collate that produces the model contract's `(padded [B,T,D], lengths [B])`
  pairs, the frame grids and windows over them, and each epoch's seeded, rank-sharded sample order.
- `engine`: the optimisation loop (`FitSettings`: the resolved Hyper plus the run's own settings; AdamW, Adam or SGD;
  a cosine warm-up, plateau or per-epoch step schedule; AMP, clipping, validation, early stopping, per-epoch
  checkpoints and resume).
- `losses`: the masked losses a Hyper's `loss` names.
- `checkpoint`: checkpoints that load with `torch.load(weights_only=True)`, every rank's RNG state included (kept on
  the CPU whatever the device), and the precision check on resume.
- `outputs`, `calibration`: prediction tables, submissions per level, and the decision threshold swept on validation.
- `rundir`: who may write a run directory (`run.lock`), and how a run already in it is resumed or replaced.

The process group, device claims and autocast dtypes it uses live in `harness.runtime`, shared with feature
extraction. Importing this package does not import torch; the submodules do.
"""
