"""Two gloo ranks under torchrun, where the defects were multi-process: every rank calling `ensure_features` on an
empty cache (rank 0 alone used to extract while the others waited: a deadlock) finishes with the single-process
result on every rank, and DDP fine-tuning of a trainable wav2vec2 (layerdrop off) runs its steps."""

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
               "--data", str(root), "--out", str(reports)]
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
    from abaw_bench.harness.features import ensure_features

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
        alone = ensure_features("emi", "vit-h14", "tiny", demo_root("emi"), "val", images_per_batch=64,
                                num_workers=0, progress=False)
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
