"""Cached per-item encoder features (see `harness.features.cache` for the layout and keys).

    request = FeatureRequest("emi", "wav2vec2-vad", "tiny", root)   # what is wanted (harness.features.request)
    store = ensure_features(request, "train")           # extracts what is missing
    store = open_store(request, "train")                # read-only
    store, why = find_cached_store(request, "train")    # any complete cache that fits, or None
    store.get(store.ids[0])   # np.memmap [T, D] float32

Importing this package does not import torch; extracting does.
"""

from abaw_bench.harness.features.lookup import find_cached_store
from abaw_bench.harness.features.pipeline import (
    ensure_features,
    extract_items,
    finish_distributed,
    open_items,
    open_store,
)
from abaw_bench.harness.features.request import FeatureRequest
from abaw_bench.harness.features.store import FeatureStore

__all__ = ["FeatureRequest", "FeatureStore", "ensure_features", "extract_items", "find_cached_store",
           "finish_distributed", "open_items", "open_store"]
