"""Face-image preprocessing shared by the image encoders: resize, normalise, stack; batches are concatenations.

Images are independent of each other in every image encoder here, so a batch is all its items' images stacked
(no padding); `forward` splits the outputs back per item by count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from abaw_bench.harness.errors import AbawError


def to_rgb_array(image: Any) -> np.ndarray:
    """An H×W×3 uint8 array from a numpy array or a PIL image."""
    array = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise AbawError(f"expected an RGB image as an H×W×3 array, got shape {array.shape}")
    return array.astype(np.uint8, copy=False)


def preprocess(images: Sequence[Any], size: int, mean: Sequence[float], std: Sequence[float], *,
               resample: str = "bilinear", center_crop: bool = False) -> torch.Tensor:
    """[N, 3, size, size] float32: resize (shortest side + centre crop, or straight to size²) then normalise."""
    from PIL import Image

    method = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}[resample]
    out = np.empty((len(images), size, size, 3), dtype=np.float32)
    for index, image in enumerate(images):
        pil = Image.fromarray(to_rgb_array(image))
        if center_crop:
            scale = size / min(pil.size)
            pil = pil.resize((max(size, round(pil.width * scale)), max(size, round(pil.height * scale))), method)
            left, top = (pil.width - size) // 2, (pil.height - size) // 2
            pil = pil.crop((left, top, left + size, top + size))
        else:
            pil = pil.resize((size, size), method)
        out[index] = np.asarray(pil, dtype=np.float32) / 255.0
    out = (out - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def stack(prepared: Sequence[torch.Tensor]) -> dict[str, Any]:
    counts = [int(p.shape[0]) for p in prepared]
    pixels = torch.cat(list(prepared)) if prepared else torch.empty(0)
    return {"pixel_values": pixels, "counts": counts}


def split(features: torch.Tensor, counts: Sequence[int]) -> list[torch.Tensor]:
    return [part.float() for part in torch.split(features, list(counts))]
