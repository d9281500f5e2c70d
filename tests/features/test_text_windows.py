"""Centred text windows: word times, the cut at both ends, the [ATTENTION] token's place and vector, the content cache.

The encoder is the real all-MiniLM-L6-v2 (the tiny preset's text encoder), built once per module.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.features.request import ASR_ENCODER, FeatureRequest
from abaw_bench.harness.features.text_windows import (
    ATTENTION_TOKEN,
    WindowBounds,
    build_text_windows,
    select_windows,
    spread_chunk,
    trim_window,
    words_from_transcript,
)
from abaw_bench.harness.systems import DATASET_TRANSCRIPT
from abaw_bench.harness.tasks.base import Item

FPS = 25.0
SPAN = 20.0


def _minilm(data_root: Path, **fields) -> FeatureRequest:
    """The tiny preset's text encoder on `data_root`, without a progress bar."""
    return FeatureRequest("bah", "minilm", "tiny", data_root, progress=False, **fields)

# Ten words of four letters in one chunk over 0–20 s: each word gets 2 s, midpoints 1, 3, ..., 19 s.
TEN_WORDS = ("able", "bake", "calm", "dark", "east", "fair", "gold", "hill", "iron", "jump")


def _texts_and_times(transcript: dict) -> tuple[list[str], np.ndarray]:
    words = words_from_transcript(transcript, "test")
    assert words is not None
    return [word.text for word in words], np.array([word.time for word in words])


def _window(transcript: dict, centre: float) -> tuple[list[str], list[str]]:
    """(words before the token, words after it) of the window centred on `centre` seconds."""
    texts, times = _texts_and_times(transcript)
    (bounds,) = select_windows(times, np.array([centre]), SPAN)
    return texts[bounds.first:bounds.marker], texts[bounds.marker:bounds.stop]


ONE_CHUNK = {"text": " ".join(TEN_WORDS), "chunks": [{"timestamp": [0.0, 20.0], "text": " " + " ".join(TEN_WORDS)}]}


def test_a_chunk_is_shared_between_its_words_in_proportion_to_their_length() -> None:
    words = spread_chunk(" a bbb cc.", 1.0, 8.0)  # 1 + 3 + 3 = 7 characters over 7 s
    assert [(word.text, word.start, word.end) for word in words] == [
        ("a", 1.0, 2.0), ("bbb", 2.0, 5.0), ("cc.", 5.0, 8.0)]
    assert [word.time for word in words] == [1.5, 3.5, 6.5]


def test_transcript_formats() -> None:
    chunks = {"chunks": [{"timestamp": [0.0, 2.0], "text": " ab cd"}, {"timestamp": [0.0, 1.0], "text": "ef"},
                         {"timestamp": [1.5, None], "text": "gh ij"}]}
    words = words_from_transcript(chunks, "t")
    # the second chunk restarts the clock at 0 (Whisper long-form output): it is moved to start at 2.0 s, and so is
    # every later chunk; the last chunk has no end: 0.4 s per word
    assert [word.text for word in words] == ["ab", "cd", "ef", "gh", "ij"]
    assert [bound for word in words for bound in (word.start, word.end)] == pytest.approx(
        [0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.5, 3.9, 3.9, 4.3])
    asr = {"text": "x y", "words": [{"word": " x", "start": 0.5, "end": 0.7}, {"word": " y", "start": 1.0, "end": 1.4}],
           "segments": [{"start": 0.0, "end": 2.0, "text": "x y"}]}
    assert [(w.text, w.start, w.end) for w in words_from_transcript(asr, "t")] == [("x", 0.5, 0.7), ("y", 1.0, 1.4)]
    segments = {"segments": [{"start": 1.0, "end": 3.0, "text": "pq rs"}]}
    assert [(w.text, w.start, w.end) for w in words_from_transcript(segments, "t")] == [("pq", 1.0, 2.0),
                                                                                        ("rs", 2.0, 3.0)]
    assert words_from_transcript({"text": "no timestamps"}, "t") is None
    with pytest.raises(AbawError, match=r"f.json: chunks\[1\].timestamp\[0\]: expected a time in seconds"):
        words_from_transcript({"chunks": [{"timestamp": [0, 1], "text": "a"}, {"timestamp": ["x", 2], "text": "b"}]},
                              "f.json")


def test_window_cuts_words_by_timestamp_at_both_ends() -> None:
    # Centre 6 s: the window is [-4, 16] s, so the chunk's words with midpoints up to 15 s stay (8 of 10). The
    # authors' cut kept int(10 * 4/20) = 2 words here: the fraction of the chunk *after* the window's end.
    before, after = _window(ONE_CHUNK, 6.0)
    assert before == ["able", "bake", "calm"] and after == ["dark", "east", "fair", "gold", "hill"]
    # Centre 14 s: [4, 24] s drops the first two words (midpoints 1 and 3 s) and keeps the chunk's end.
    before, after = _window(ONE_CHUNK, 14.0)
    assert before == ["calm", "dark", "east", "fair", "gold"] and after == ["hill", "iron", "jump"]
    # Both ends inclusive: centre 16 s is [6, 26] s; centre 25 s is [15, 35] s (a word at exactly 15 s stays).
    assert _window(ONE_CHUNK, 16.0)[0][0] == "dark"
    assert _window(ONE_CHUNK, 25.0) == (["hill", "iron", "jump"], [])


def test_token_goes_after_every_word_at_or_before_the_centre() -> None:
    assert _window(ONE_CHUNK, 3.0)[0] == ["able", "bake"]  # "bake" is centred on 3 s exactly: before the token
    assert _window(ONE_CHUNK, 2.99)[0] == ["able"]
    assert _window(ONE_CHUNK, 0.0) == ([], ["able", "bake", "calm", "dark", "east"])


def test_trimming_drops_the_word_farther_from_the_centre_and_keeps_the_token_inside() -> None:
    times, counts = np.arange(7.0), np.full(7, 2)
    # centre 4.5: distances 4.5, 3.5, 2.5 (dropped first), then 1.5 vs 1.5 (tie: the later word goes)
    assert trim_window(WindowBounds(0, 5, 7), times, counts, 4.5, budget=6) == WindowBounds(3, 5, 6)
    assert trim_window(WindowBounds(0, 0, 7), times, counts, -1.0, budget=4) == WindowBounds(0, 0, 2)
    assert trim_window(WindowBounds(0, 7, 7), times, counts, 9.0, budget=4) == WindowBounds(5, 7, 7)
    assert trim_window(WindowBounds(0, 3, 7), times, counts, 2.5, budget=0) == WindowBounds(3, 3, 3)


# --------------------------------------------------------------------------------------------------- with MiniLM

def _item(folder: Path, video: str, transcript: dict | None) -> Item:
    media = {}
    if transcript is not None:
        path = folder / (video.replace("/", "_") + ".json")
        path.write_text(json.dumps(transcript), encoding="utf-8")
        media["transcript"] = path
    return Item(id=video, split="train", media=media)


SECOND = {"text": "", "chunks": [{"timestamp": [0.5, 2.5], "text": " well, um maybe I guess."},
                                 {"timestamp": [3.0, 4.0], "text": " I walk every day."}]}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("text-windows")
    items = [_item(folder, "1/a.mp4", ONE_CHUNK), _item(folder, "1/b.mp4", ONE_CHUNK), _item(folder, "2/c.mp4", SECOND)]
    frames = {"1/a.mp4": [0, 75, 150, 151, 350], "1/b.mp4": [150, 151, 200], "2/c.mp4": list(range(0, 125, 5))}
    cache = folder / "cache"
    windows = build_text_windows(_minilm(folder), items, DATASET_TRANSCRIPT, FPS, SPAN, frames, cache_dir=cache)
    return windows, items, frames, cache


def test_window_text_through_the_builder(built) -> None:
    windows = built[0]
    assert windows.dim == 384
    assert windows.window_text("1/a.mp4", 150) == f"able bake calm {ATTENTION_TOKEN} dark east fair gold hill"
    assert windows.window_text("2/c.mp4", 0) == f"{ATTENTION_TOKEN} well, um maybe I guess. I walk every day."
    with pytest.raises(AbawError, match=r"no text window was built for frame 1 of item '1/a\.mp4'"):
        windows.window("1/a.mp4", 1)


def test_the_vector_is_the_last_hidden_state_at_the_token(built) -> None:
    import torch
    from abaw_bench.harness.encoders._text import minilm_dir
    from transformers import AutoModel, AutoTokenizer

    windows = built[0]
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir(), local_files_only=True)
    model = AutoModel.from_pretrained(minilm_dir(), local_files_only=True).eval()
    vocabulary = model.get_input_embeddings().weight.shape[0]
    tokenizer.add_tokens([ATTENTION_TOKEN], special_tokens=True)
    model.resize_token_embeddings(len(tokenizer))
    with torch.no_grad():
        weights = model.get_input_embeddings().weight
        weights[vocabulary] = weights[:vocabulary].mean(dim=0)
        for item_id, frame in (("1/a.mp4", 150), ("2/c.mp4", 60)):
            text = windows.window_text(item_id, frame)
            encoded = tokenizer(text, return_tensors="pt")
            tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
            position = tokens.index(ATTENTION_TOKEN)
            hidden = model(**encoded).last_hidden_state[0]
            vector = windows.window(item_id, frame)
            assert vector.shape == (1, 384)
            np.testing.assert_allclose(vector[0], hidden[position].numpy(), rtol=1e-4, atol=1e-5)
            for other in (0, position - 1, position + 1):  # not the CLS vector, not a neighbouring token's
                assert not np.allclose(vector[0], hidden[other].numpy(), atol=1e-3)


def test_each_window_content_is_encoded_once_and_then_read_from_the_cache(built) -> None:
    windows, items, frames, cache = built
    texts = {windows.window_text(item_id, frame) for item_id, item_frames in frames.items() for frame in item_frames}
    # "1/b.mp4" repeats "1/a.mp4"'s transcript, and frames 150 and 151 fall between the same two words
    assert windows.stats["distinct_windows"] == windows.stats["encoded"] == len(texts) < 33
    np.testing.assert_array_equal(windows.window("1/a.mp4", 150), windows.window("1/b.mp4", 151))
    again = build_text_windows(_minilm(cache.parent), items, DATASET_TRANSCRIPT, FPS, SPAN, frames, cache_dir=cache)
    assert again.stats["encoded"] == 0 and again.stats["from_cache"] == len(texts)
    for item_id, item_frames in frames.items():
        for frame in item_frames:
            np.testing.assert_array_equal(again.window(item_id, frame), windows.window(item_id, frame))


def test_the_dataset_transcript_preset_needs_a_timed_transcript_per_item(tmp_path: Path) -> None:
    items = [_item(tmp_path, "1/a.mp4", ONE_CHUNK), _item(tmp_path, "3/x.mp4", {"text": "untimed"})]
    with pytest.raises(AbawError, match=r"1 of 2 items have no transcript with word or chunk timestamps \(first: "
                                        r"'3/x.mp4'"):
        build_text_windows(_minilm(tmp_path), items, DATASET_TRANSCRIPT, FPS, SPAN, {"1/a.mp4": [0], "3/x.mp4": [0]},
                           cache_dir=tmp_path / "cache")


def test_asr_words_come_from_what_extract_cached_in_another_dtype(tmp_path: Path, demo_root,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`extract` cached the transcripts in bf16 (its default on a GPU); a run in fp32 reads them, never re-extracts.
    The asr is the tone stand-in of test_whole_clip_transcript, keeping its dtype (the tiny Whisper takes ~20 s)."""
    import shutil

    from abaw_bench.harness.features import ensure_features, pipeline
    from abaw_bench.harness.tasks import get_task

    from tests.features.test_whole_clip_transcript import ToneTranscriber

    class Transcriber(ToneTranscriber):
        def __init__(self, dtype: str) -> None:
            super().__init__()
            self.dtype = dtype

    root = tmp_path / "bah"  # the demo without its transcripts, so that every item needs the asr's words
    shutil.copytree(demo_root("bah"), root, ignore=shutil.ignore_patterns("transcription", "cropped-aligned-faces"))
    monkeypatch.setenv("ABAW_BENCH_CACHE", str(tmp_path / "cache"))
    real_load = pipeline.load_requested
    monkeypatch.setattr(pipeline, "load_requested", lambda request, device, dtype: Transcriber(dtype)
                        if request.encoder == ASR_ENCODER else real_load(request, device, dtype))
    ensure_features(FeatureRequest("bah", ASR_ENCODER, "tiny", root, dtype="bf16", num_workers=0, progress=False),
                    "val")

    def no_extraction(*args, **kwargs):
        raise AssertionError("the run extracted the transcripts again")

    monkeypatch.setattr(pipeline, "extract_items", no_extraction)
    items = get_task("bah").reader(root).items("val")[:2]
    windows = build_text_windows(_minilm(root), items, ASR_ENCODER, FPS, 2.0, {item.id: [0, 50] for item in items})
    assert windows.stats["words_from"] == {"dataset": 0, "asr": 2} and windows.stats["dtype"] == "fp32"
    assert "calm" in windows.window_text(items[0].id, 50)  # the stand-in's words, read from the bf16 cache


def test_an_unreadable_video_stops_the_asr_words_or_is_skipped_with_skip_bad(tmp_path: Path, demo_root,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's --skip-bad reaches the asr transcription of the centred text windows: without it the video's
    MediaError (naming the file and --skip-bad) stops the build; with it the video is listed in `skipped`, its
    windows hold no words, and the other video keeps its words."""
    import shutil

    from abaw_bench.harness.features import pipeline
    from abaw_bench.harness.media import MediaError
    from abaw_bench.harness.tasks import get_task

    from tests.features.test_whole_clip_transcript import ToneTranscriber

    root = tmp_path / "bah"  # the demo without its transcripts, so that every item needs the asr's words
    shutil.copytree(demo_root("bah"), root, ignore=shutil.ignore_patterns("transcription", "cropped-aligned-faces"))
    monkeypatch.setenv("ABAW_BENCH_CACHE", str(tmp_path / "cache"))
    real_load = pipeline.load_requested
    monkeypatch.setattr(pipeline, "load_requested", lambda request, *args: ToneTranscriber()
                        if request.encoder == ASR_ENCODER else real_load(request, *args))
    good, bad = get_task("bah").reader(root).items("val")[:2]
    bad.media["video"].write_bytes(b"not an mp4")
    frames = {item.id: [0, 50] for item in (good, bad)}
    with pytest.raises(MediaError, match=re.escape(str(bad.media["video"])) + ".*pass --skip-bad"):
        build_text_windows(_minilm(root), [good, bad], ASR_ENCODER, FPS, 2.0, frames)
    windows = build_text_windows(_minilm(root, skip_bad=True), [good, bad], ASR_ENCODER, FPS, 2.0, frames)
    assert list(windows.skipped) == [bad.id] and str(bad.media["video"]) in windows.skipped[bad.id]
    assert windows.stats["words_from"] == {"dataset": 0, "asr": 1}
    assert "calm" in windows.window_text(good.id, 50) and windows.window_text(bad.id, 50) == ATTENTION_TOKEN


# --------------------------------------------------------------------------------------------------- fine-tuned path

@pytest.fixture(scope="module")
def trainable(built):
    from abaw_bench.harness.features.text_windows import MarkerTextEncoder, build_token_windows

    _, items, frames, cache = built
    encoder = MarkerTextEncoder("minilm", "tiny", weights=None, device="cpu", trust_remote_code=False)
    return encoder, build_token_windows(encoder, _minilm(cache.parent), items, DATASET_TRANSCRIPT, FPS, SPAN, frames)


def test_token_windows_hold_the_frozen_windows_and_start_at_their_vectors(built, trainable) -> None:
    """The fine-tuned path serves the same words as the cached one, and before any step its encoder gives the cached
    vector at the marker (same weights, same marker row, padding masked)."""
    import torch

    windows, _, frames, _ = built
    encoder, tokens = trainable
    samples = [(item_id, frame) for item_id, item_frames in frames.items() for frame in item_frames]
    assert [tokens.window_text(*sample) for sample in samples] == [windows.window_text(*sample) for sample in samples]
    assert tokens.stats["distinct_windows"] == windows.stats["distinct_windows"]
    prepared = [tokens(item_id, np.array([frame])) for item_id, frame in samples]
    for sample in prepared:
        assert sample["input_ids"][sample["marker"]] == encoder.token_id
    vocabulary = encoder.model.get_input_embeddings().weight[:encoder.token_id]
    torch.testing.assert_close(encoder.marker_embedding().detach(), vocabulary.mean(dim=0).detach())
    assert sum(p.numel() for p in encoder.model.parameters() if p.requires_grad) == 22_565_760  # MiniLM + 1 row
    encoder.model.eval()
    with torch.no_grad():
        vectors = torch.cat(encoder.forward(encoder.collate(prepared)))
    expected = np.concatenate([windows.window(*sample) for sample in samples])
    np.testing.assert_allclose(vectors.numpy(), expected, rtol=1e-4, atol=2e-5)


def test_a_bf16_autocast_step_trains_the_marker_row_and_the_encoder(trainable) -> None:
    """One step of the head + encoder under CPU bf16 autocast (what a CUDA run's autocast does on its device):
    finite, fp32 outputs, a gradient on the marker's embedding row, and that row moves with the optimiser step."""
    import torch
    from abaw_bench.harness.train.engine import TrainableModel
    from abaw_bench.systems._heads import Branch, BranchFusionRegressor

    encoder, tokens = trainable
    head = BranchFusionRegressor([Branch("text", "mean", None)], {"text": encoder.output_dim}, fusion_hidden=8,
                                 outputs=1, dropout=0.0)
    model = TrainableModel(head, {"text": encoder}).train()
    before = encoder.marker_embedding().detach().clone()
    layer = next(p for name, p in encoder.model.named_parameters() if "encoder.layer.0" in name)
    layer_before = layer.detach().clone()
    batch = encoder.collate([tokens("2/c.mp4", np.array([frame])) for frame in (0, 20, 60, 120)])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model({}, {"text": batch})
    assert logits.shape == (4, 1)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), torch.tensor([[0.], [1.], [0.], [1.]]))
    loss.backward()
    assert torch.isfinite(loss)
    gradient = encoder.model.get_input_embeddings().weight.grad[encoder.token_id]
    assert torch.isfinite(gradient).all() and gradient.abs().sum() > 0
    # every encoder parameter gets a gradient (the unread pooler is gone), as DistributedDataParallel requires
    assert all(p.grad is not None for p in encoder.model.parameters()) and encoder.model.pooler is None
    optimizer.step()
    assert not torch.equal(encoder.marker_embedding().detach(), before)
    assert not torch.equal(layer.detach(), layer_before)
