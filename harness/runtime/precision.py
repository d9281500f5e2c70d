"""Fast numerics on CUDA: which dtype "auto" means, and TF32 for the fp32 matmuls and convolutions.

bf16 autocast is the default on CUDA for training and for feature extraction (fp32 stays available by asking for it):
on an H100 a ViT-H/14 forward runs about ten times faster in bf16 than in fp32. TF32 keeps fp32's range with a
10-bit mantissa in the tensor cores, for whatever still runs in fp32 (the LSTM heads, optimiser-side matmuls).
"""

from __future__ import annotations

import torch
from abaw_bench.harness.errors import AbawError

DTYPE_CHOICES = ("auto", "fp32", "bf16", "fp16")


def resolve_dtype(dtype: str, device: str | torch.device) -> str:
    """"auto" → bf16 on a CUDA device with bf16 support, fp16 on an older GPU, fp32 elsewhere; others unchanged.

    Call after the rank's device is selected (`distributed.setup`): the bf16 check queries the current GPU.
    """
    if dtype not in DTYPE_CHOICES:
        raise AbawError(f"dtype {dtype!r}: expected one of {', '.join(DTYPE_CHOICES)}")
    if dtype != "auto":
        return dtype
    if torch.device(device).type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def configure_cuda_fast_paths() -> None:
    """TF32 tensor cores for fp32 matmuls (cuBLAS) and cuDNN convolutions/RNNs; a no-op without CUDA."""
    if not torch.cuda.is_available():
        return
    torch.set_float32_matmul_precision("high")
    torch.backends.cudnn.allow_tf32 = True
