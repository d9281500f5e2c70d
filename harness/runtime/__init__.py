"""The compute runtime that feature extraction and training share, below both.

- `distributed`: torchrun support for every command (process group and its timeout, the rank's device, rank-0-only
  writes, gathering validation predictions).
- `precision`: what dtype "auto" means on a device, and TF32 on CUDA.

Importing this package does not import torch; the submodules do.
"""
