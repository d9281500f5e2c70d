"""`bert-tokens` (harness/encoders/_bert_tokens.py): one vector per wordpiece, the sum of BERT's last 4 hidden layers
sentence by sentence, checked against a direct transformers computation on the tiny random BERT."""

from __future__ import annotations

import pytest
import torch
from abaw_bench.harness.encoders import encoder_info, load_encoder
from abaw_bench.harness.encoders._bert_tokens import MAX_TOKENS, sentences
from abaw_bench.harness.errors import AbawError

TRANSCRIPT = "I would like to start walking. Um, maybe I'm not sure! Well?  I guess so"


def encode(encoder, texts: list[str]) -> list[torch.Tensor]:
    with torch.no_grad():
        return encoder.forward(encoder.collate([encoder.prepare(text) for text in texts]))


def test_sentences_are_cut_after_terminal_punctuation() -> None:
    assert sentences(TRANSCRIPT) == ["I would like to start walking.", "Um, maybe I'm not sure!", "Well?",
                                     "I guess so"]
    assert sentences("  ") == [] and sentences("no stop here") == ["no stop here"]


def test_rows_are_the_sum_of_the_last_four_layers_per_wordpiece_without_cls_and_sep() -> None:
    encoder = load_encoder("bert-tokens", "tiny")
    assert encoder.is_random and encoder.model.config.num_hidden_layers == 5  # the sum leaves out layer 1
    assert encoder_info("bert-tokens").output_dims == {"paper": 768, "tiny": 32}
    expected = []
    with torch.no_grad():
        for sentence in sentences(TRANSCRIPT):  # each sentence alone, unpadded: the authors' per-sentence forward
            ids = encoder.tokenizer(sentence, return_tensors="pt")["input_ids"]
            hidden = encoder.model(input_ids=ids, output_hidden_states=True).hidden_states
            assert len(hidden) == 6  # the embeddings' output, then 5 layers
            expected.append((hidden[2] + hidden[3] + hidden[4] + hidden[5])[0, 1:-1])
    # batched with a longer and a shorter transcript: padding must not change an item's rows
    longer, alone, short = encode(encoder, ["A much longer first sentence than any of the others here, truly. " * 3,
                                            TRANSCRIPT, "OK."])
    reference = torch.cat(expected)
    assert alone.shape == (len(encoder.tokenizer.tokenize(TRANSCRIPT)), 32)
    torch.testing.assert_close(alone, reference, rtol=1e-4, atol=1e-5)
    assert short.shape == (2, 32) and longer.shape[0] == 3 * len(encoder.tokenizer.tokenize(
        "A much longer first sentence than any of the others here, truly."))


def test_a_transcript_without_wordpieces_is_one_zero_row_and_long_sentences_are_truncated() -> None:
    encoder = load_encoder("bert-tokens", "tiny")
    empty, long = encode(encoder, ["", "word " * 400])
    assert empty.shape == (1, 32) and not empty.any()
    assert long.shape == (MAX_TOKENS - 2, 32)  # 256 positions, [CLS] and [SEP] among them


def test_paper_preset_is_bert_base_sized() -> None:
    from abaw_bench.harness.encoders import build_random

    encoder = build_random("bert-tokens", "paper", device="meta")
    config = encoder.model.config
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.vocab_size) == \
        (768, 12, 12, 30522)
    assert "random weights" in encoder.describe()
    with pytest.raises(AbawError, match="expected a transcript string for encoder 'bert-tokens', got bytes"):
        encoder.prepare(b"not text")
