"""`bert-tokens`: one BERT vector per wordpiece of a whole transcript, as the BAH dataset authors make their text
features (github.com/sbelharbi/bah-dataset: `abaw5_pre_processing/base/speech.py`, `extract_word_embedding`,
`tokenize`, `calculate_token_embeddings`, `exclude_padding`).

Their recipe: the video's transcript is split into sentences; each sentence goes through bert-base-uncased on its own
(`encode_plus` with [CLS] and [SEP], padded to 256 tokens, attention mask); a token's vector is the sum of the last 4
hidden layers (the embedding output, hidden state 0, never enters it); the [CLS] and [SEP] rows and the padding are
dropped and the sentences' rows are concatenated: [wordpieces, 768] per video, with no timing. The engine spreads
those rows over the video's label frames (the "spread" alignment, harness/train/windows.py).

Presets: `paper` is bert-base-uncased (12 layers, 768-d) from its hub repository; `tiny` is a BertModel of 5 layers,
32-d with seeded random weights (5 layers, so that the sum of the last 4 leaves out a layer and the embeddings), on
the same uncased WordPiece vocabulary, taken from the bundled MiniLM (no download).

Where this departs from their code, and why:
- Sentences: they split with NLTK's Punkt (`sent_tokenize`); the harness does not depend on NLTK, whose Punkt model is
  a separate download, and splits after ".", "!" or "?" followed by white space (`sentences`). Punkt also keeps
  abbreviations such as "Dr." inside a sentence; this split does not.
- A sentence longer than 256 tokens ([CLS] and [SEP] included) is truncated to 256 here; their `exclude_padding`
  stops with "The sentence is too long" for any sentence that fills its 256 positions.
- Batches are padded to their longest sentence rather than to 256; with the attention mask the real tokens' vectors
  are the same up to floating-point rounding.
- A transcript without any wordpiece (empty, or punctuation the tokenizer drops) gives one zero row, which spreads
  to zeros on every frame: what their alignment writes for a video without word embeddings (their
  `extract_word_embedding` asserts a non-empty transcript instead). A cache entry cannot be empty.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from abaw_bench.harness.encoders._common import (
    RANDOM_WEIGHTS_SOURCE,
    TorchEncoder,
    check_output_dim,
    from_pretrained_checked,
    resolve_hf_dir,
    save_files_atomically,
    seeded,
)
from abaw_bench.harness.encoders._text import minilm_dir
from abaw_bench.harness.encoders.base import EncoderInfo
from abaw_bench.harness.errors import AbawError

MAX_TOKENS = 256  # per sentence, [CLS] and [SEP] included (their `max_length`)
SUMMED_LAYERS = 4  # a token's vector: the sum of the last 4 hidden layers
SENTENCES_PER_FORWARD = 32  # their DataLoader's batch size; bounds one forward's memory
TINY_CONFIG = {"hidden_size": 32, "num_hidden_layers": 5, "num_attention_heads": 2, "intermediate_size": 64,
               "vocab_size": 30522}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    """`text` cut after every ".", "!" or "?" followed by white space; blank pieces dropped."""
    return [piece.strip() for piece in _SENTENCE_END.split(text) if piece.strip()]


class BertTokenEncoder(TorchEncoder):
    """A transcript string → [wordpieces, D]: the sum of the last `SUMMED_LAYERS` hidden layers per wordpiece, sentence
    by sentence, [CLS] and [SEP] dropped."""

    def __init__(self, info: EncoderInfo, preset: str, model: torch.nn.Module, tokenizer: Any, *,
                 weights_path: Path | None, source: str) -> None:
        super().__init__(info, preset, model, weights_path=weights_path, source=source)
        self.tokenizer = tokenizer

    def cache_params(self) -> dict[str, Any]:
        return {"max_tokens": MAX_TOKENS, "summed_layers": SUMMED_LAYERS, "sentences": "split after . ! ?",
                "rows": "one per wordpiece, [CLS] and [SEP] dropped"}

    def prepare(self, media: str) -> list[list[int]]:
        """The token ids of each sentence, [CLS] and [SEP] included."""
        if not isinstance(media, str):
            raise AbawError(f"expected a transcript string for encoder {self.info.name!r}, got {type(media).__name__}")
        return [self.tokenizer(sentence, truncation=True, max_length=MAX_TOKENS)["input_ids"]
                for sentence in sentences(media)]

    def collate(self, prepared: Sequence[list[list[int]]]) -> dict[str, Any]:
        """Every item's sentences in one padded batch; `counts` says how many sentences each item has."""
        flat = [ids for item in prepared for ids in item]
        batch: dict[str, Any] = {"counts": [len(item) for item in prepared]}
        if flat:
            batch.update(self.tokenizer.pad({"input_ids": flat}, return_tensors="pt"))
        return batch

    def forward(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        rows: list[torch.Tensor] = []
        if "input_ids" in batch:
            ids = batch["input_ids"].to(self.device, non_blocking=True)
            mask = batch["attention_mask"].to(self.device, non_blocking=True)
            for chunk_ids, chunk_mask in zip(ids.split(SENTENCES_PER_FORWARD), mask.split(SENTENCES_PER_FORWARD),
                                             strict=True):
                with self.autocast():
                    hidden = self.model(input_ids=chunk_ids, attention_mask=chunk_mask,
                                        output_hidden_states=True).hidden_states
                summed = torch.stack(hidden[-SUMMED_LAYERS:]).sum(0).float()  # [S, L, D]
                for sentence, length in zip(summed, chunk_mask.sum(1).tolist(), strict=True):
                    rows.append(sentence[1:length - 1])  # without [CLS] (first) and [SEP] (last real token)
        outputs, start = [], 0
        for count in batch["counts"]:
            pieces, start = rows[start:start + count], start + count
            item = torch.cat(pieces) if pieces else None
            outputs.append(item if item is not None and len(item) else
                           torch.zeros((1, self.output_dim), device=self.device))
        return outputs


def _random(info: EncoderInfo, preset: str, device: str) -> BertTokenEncoder:
    """The preset's BertModel with seeded random weights (paper: transformers' BertConfig defaults, which are
    bert-base-uncased's sizes), on bert-base-uncased's WordPiece vocabulary, which the bundled MiniLM also uses (no
    download)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    with seeded(), torch.device(device):
        model = BertModel._from_config(BertConfig(**(TINY_CONFIG if preset == "tiny" else {})),
                                       add_pooling_layer=False, attn_implementation="sdpa", dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir(), local_files_only=True)
    return BertTokenEncoder(info, preset, model, tokenizer, weights_path=None, source=RANDOM_WEIGHTS_SOURCE)


def build_random(info: EncoderInfo, preset: str, *, device: str = "cpu") -> BertTokenEncoder:
    return _random(info, preset, device)


def load(info: EncoderInfo, preset: str, weights: str | Path | None, *, trust_remote_code: bool,
         download_root: str | Path | None) -> BertTokenEncoder:
    """The tiny preset without --weights: random weights. Otherwise a save_pretrained directory (model and tokenizer):
    the one given, or bert-base-uncased's hub snapshot (downloaded first unless HF_HUB_OFFLINE=1)."""
    if preset == "tiny" and weights is None:
        return _random(info, preset, "cpu")
    from transformers import AutoTokenizer, BertModel

    directory = resolve_hf_dir(info, weights)
    model = from_pretrained_checked(BertModel, directory, info, add_pooling_layer=False, dtype=torch.float32)
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError) as error:
        raise AbawError(f"cannot load the tokenizer of encoder {info.name!r} from {directory}: {error}") from error
    check_output_dim(info, preset, model.config.hidden_size, f"the checkpoint in {directory}")
    return BertTokenEncoder(info, preset, model, tokenizer, weights_path=directory, source=f"checkpoint {directory}")


def save(encoder: BertTokenEncoder, directory: Path) -> Path:
    """save_pretrained layout (model + tokenizer), what `load` reads back."""

    def write(staging: Path) -> None:
        encoder.model.save_pretrained(staging)
        encoder.tokenizer.save_pretrained(staging)

    return save_files_atomically(directory, write)
