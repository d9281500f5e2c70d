"""Two gloo ranks under torchrun, where the defects were multi-process: every rank calling `ensure_features` on an
empty cache (rank 0 alone used to extract while the others waited: a deadlock) finishes with the single-process
result on every rank, DDP fine-tuning of a trainable wav2vec2 (layerdrop off) runs its steps, and the ranks split the
encoding of hallmen2025's text windows."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HELPER = Path(__file__).with_name("_ranks.py")


@pytest.fixture(scope="module")
def ranks(demo_root, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    root = demo_root("emi")
    env = {**os.environ, "ABAW_BENCH_CACHE": str(tmp_path_factory.mktemp("ranks-cache")), "OMP_NUM_THREADS": "1"}
    reports = tmp_path_factory.mktemp("ranks-reports")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(HELPER),
               "--data", str(root), "--bah", str(demo_root("bah")), "--out", str(reports)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        _, err = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    assert process.returncode == 0, err[-3000:]
    return [json.loads((reports / f"rank{rank}.json").read_text(encoding="utf-8")) for rank in (0, 1)]


@pytest.mark.distributed
def test_every_rank_extracts_its_shard_and_returns_the_single_process_store(ranks: list[dict], demo_root,
                                                                            tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from abaw_bench.harness.features import FeatureRequest, ensure_features

    assert [line["rank"] for line in ranks] == [0, 1] and all(line["world_size"] == 2 for line in ranks)
    first, second = ranks
    assert first["summary"] == second["summary"] and first["ids"] == second["ids"]
    assert first["summary"]["world_size"] == 2 and first["summary"]["extracted"] == 80 == len(first["ids"])
    assert first["digest"] == second["digest"]
    # The same extraction in one process, with one thread like each torchrun rank: the same bytes.
    monkeypatch.setenv("ABAW_BENCH_CACHE", str(tmp_path))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        alone = ensure_features(FeatureRequest("emi", "vit-h14", "tiny", demo_root("emi"), images_per_batch=64,
                                               num_workers=0, progress=False), "val")
    finally:
        torch.set_num_threads(threads)
    digest = hashlib.sha256()
    for item_id in alone.ids:
        digest.update(alone.path(item_id).read_bytes())
    assert alone.ids == first["ids"] and digest.hexdigest() == first["digest"]


@pytest.mark.distributed
def test_ddp_fine_tunes_a_trainable_wav2vec2_on_two_ranks(ranks: list[dict]) -> None:
    for line in ranks:
        assert len(line["losses"]) == 8 and all(loss == loss and loss < 10 for loss in line["losses"])
    # Each rank trained on its own data; DDP averaged the gradients, so the weights stayed identical.
    assert ranks[0]["losses"] != ranks[1]["losses"]
    assert ranks[0]["weights"] == ranks[1]["weights"]


@pytest.mark.distributed
def test_ranks_split_the_text_windows_and_return_the_single_process_vectors(ranks: list[dict], demo_root, tmp_path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    from abaw_bench.harness.features import FeatureRequest, text_windows
    from abaw_bench.harness.systems import DATASET_TRANSCRIPT
    from abaw_bench.harness.tasks import get_task

    first, second = (line["windows"] for line in ranks)
    assert first["vectors"] == second["vectors"] and first["texts"] == second["texts"]
    shares = [first["stats"]["encoded_by_this_rank"], second["stats"]["encoded_by_this_rank"]]
    assert min(shares) > 0 and sum(shares) == first["stats"]["encoded"] == first["stats"]["distinct_windows"]
    monkeypatch.setenv("ABAW_BENCH_CACHE", str(tmp_path))
    bah = demo_root("bah")
    items = get_task("bah").reader(bah).items("val")[:2]
    frames = {item.id: range(0, 100, 4) for item in items}
    alone = text_windows.build_text_windows(FeatureRequest("bah", "minilm", "tiny", bah, progress=False), items,
                                            DATASET_TRANSCRIPT, 25.0, 2.0, frames)
    assert alone.texts == first["texts"]
    np.testing.assert_allclose(alone.vectors, np.array(first["vectors"], dtype=np.float32), atol=1e-5)
