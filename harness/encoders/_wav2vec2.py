"""`wav2vec2-vad`: audeering's wav2vec2-large-robust-12-ft-emotion-msp-dim, per frame (as hallmen2024 uses it).

The published model card defines `EmotionModel` = Wav2Vec2Model + RegressionHead and mean-pools over time; the
hallmen systems instead apply the head to every frame and concatenate, giving [T, 1024 + 3] (arousal, dominance,
valence in the checkpoint's label order). `Wav2Vec2VadModel` reproduces the checkpoint's module names
(`wav2vec2.*`, `classifier.dense`, `classifier.out_proj`) so the real weights load with `from_pretrained`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from abaw_bench.harness.encoders import _audio
from abaw_bench.harness.encoders._common import (
    RANDOM_WEIGHTS_SOURCE,
    TorchEncoder,
    from_pretrained_checked,
    resolve_hf_dir,
    save_files_atomically,
    seeded,
)
from abaw_bench.harness.encoders.base import EncoderInfo
from torch import nn
from transformers import Wav2Vec2Config, Wav2Vec2Model, Wav2Vec2PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput
from transformers.models.wav2vec2.modeling_wav2vec2 import (
    Wav2Vec2EncoderStableLayerNorm,
    Wav2Vec2FeatureEncoder,
    Wav2Vec2PositionalConvEmbedding,
    _compute_mask_indices,
)

# The published checkpoint's config.json (architecture fields; dropouts only matter when fine-tuning).
PAPER_CONFIG: dict[str, Any] = {
    "hidden_size": 1024, "num_hidden_layers": 12, "num_attention_heads": 16, "intermediate_size": 4096,
    "do_stable_layer_norm": True, "feat_extract_norm": "layer", "feat_extract_activation": "gelu", "conv_bias": True,
    "conv_dim": (512,) * 7, "conv_kernel": (10, 3, 3, 3, 3, 2, 2), "conv_stride": (5, 2, 2, 2, 2, 2, 2),
    "num_conv_pos_embeddings": 128, "num_conv_pos_embedding_groups": 16, "hidden_act": "gelu",
    "layer_norm_eps": 1e-5, "hidden_dropout": 0.1, "activation_dropout": 0.1, "attention_dropout": 0.1,
    "feat_proj_dropout": 0.1, "final_dropout": 0.1, "layerdrop": 0.1, "mask_time_prob": 0.05, "vocab_size": 33,
    "id2label": {0: "arousal", 1: "dominance", 2: "valence"},
    "label2id": {"arousal": 0, "dominance": 1, "valence": 2},
}
# Same architecture, small widths; the convolution strides are kept so the frame rate (50 Hz) matches the paper's.
TINY_CONFIG: dict[str, Any] = {
    **PAPER_CONFIG, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
    "conv_dim": (16,) * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2,
}
DEFAULT_MAX_SECONDS = 12.0


class RegressionHead(nn.Module):
    """The model card's head: dropout → dense → tanh → dropout → out_proj (3 outputs)."""

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.final_dropout)
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.out_proj(self.dropout(torch.tanh(self.dense(self.dropout(features)))))


class TimeMajorFeatureEncoder(Wav2Vec2FeatureEncoder):
    """The convolutional feature encoder with the same parameters, computed time-major when no gradient is needed.

    transformers' "layer"-norm conv stack works channel-major [B, C, L] and transposes around every LayerNorm, which
    copies each ~26 MB activation twice per layer. Keeping [B, L, C] and expressing each strided conv as one matmul
    over an unfolded view does the same arithmetic with no transposes (about 20 % less CPU time for this stack).
    Training (gradients, freezing, checkpointing) keeps the original code path.
    """

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__(config)
        self.layer_norm_stack = config.feat_extract_norm == "layer"

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or not self.layer_norm_stack:
            return super().forward(input_values)
        hidden = input_values[:, :, None]
        for layer in self.conv_layers:
            conv = layer.conv
            windows = hidden.unfold(1, conv.kernel_size[0], conv.stride[0])  # [B, L_out, C, kernel]
            hidden = torch.matmul(windows.reshape(*windows.shape[:2], -1), conv.weight.flatten(1).t())
            if conv.bias is not None:
                hidden += conv.bias
            hidden = layer.activation(layer.layer_norm(hidden))
        return hidden.transpose(1, 2)  # the [B, C, L] view Wav2Vec2Model expects; it transposes straight back


class CachedPositionalConvEmbedding(Wav2Vec2PositionalConvEmbedding):
    """The positional convolution, without recomputing its weight norm on every inference call.

    The weight-normalised kernel (1024×64×128, 33 MB) is rebuilt from `weight_g`/`weight_v` by the parametrization
    at every forward (~30 ms of CPU per call here). Without gradients the rebuilt kernel is reused for as long as
    both source tensors are unchanged (same storage and version counter, so an optimiser step invalidates it).
    Training keeps the parametrized path; the parameters and state-dict names are untouched.

    Under `torch.compile` the cache is bypassed: its storage check cannot be traced (dynamo breaks the graph at each
    data-pointer comparison, 5 breaks per forward), and inside a compiled graph the weight norm is a fused kernel
    that costs next to nothing, so the model compiles to one graph.
    """

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__(config)
        self._kernel: tuple[tuple[Any, ...], torch.Tensor] | None = None

    def _inference_kernel(self) -> torch.Tensor:
        sources = self.conv.parametrizations.weight
        key = tuple((t.data_ptr(), t._version, t.device, t.dtype) for t in (sources.original0, sources.original1))
        if self._kernel is None or self._kernel[0] != key:
            self._kernel = (key, self.conv.weight.detach())
        return self._kernel[1]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or torch.compiler.is_compiling() or not hasattr(self.conv, "parametrizations"):
            return super().forward(hidden_states)
        conv = self.conv
        hidden_states = nn.functional.conv1d(hidden_states.transpose(1, 2), self._inference_kernel(), conv.bias,
                                             conv.stride, conv.padding, conv.dilation, conv.groups)
        return self.activation(self.padding(hidden_states)).transpose(1, 2)


class PaddedEncoderStableLayerNorm(Wav2Vec2EncoderStableLayerNorm):
    """transformers' stable-layer-norm encoder, with a padding mask turned into the attention's mask on the device.

    With a padding mask, transformers' mask creation first asks whether every position is valid (`mask.all()`, to skip
    the mask): a device read in every step of a batch that mixes window lengths. Here the 2D mask becomes the 4D
    boolean mask [B, 1, 1, T] (True: attend) that SDPA broadcasts, which transformers passes through unread; padded
    frames are zeroed first, as transformers zeroes them. The rest is transformers' loop (tested equal to it).
    """

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,
                **kwargs: Any) -> BaseModelOutput:
        if attention_mask is None or attention_mask.ndim != 2 or self.config._attn_implementation != "sdpa":
            return super().forward(hidden_states, attention_mask=attention_mask, **kwargs)
        keep = attention_mask.bool()
        hidden_states = hidden_states.masked_fill(~keep[..., None], 0.0)
        hidden_states = self.dropout(hidden_states + self.pos_conv_embed(hidden_states))
        for layer in self.layers:
            if self.training and self.config.layerdrop > 0.0 and bool(torch.rand([]) < self.config.layerdrop):
                continue  # LayerDrop (a host-side draw), as transformers' loop
            hidden_states = layer(hidden_states, attention_mask=keep[:, None, None, :], **kwargs)
        return BaseModelOutput(last_hidden_state=self.layer_norm(hidden_states))


class HostMaskedWav2Vec2Model(Wav2Vec2Model):
    """Wav2Vec2Model that applies a given SpecAugment time mask without a host sync (same parameters and names); its
    stable-layer-norm encoder builds the attention mask without a device read (`PaddedEncoderStableLayerNorm`).

    In training, transformers draws the time mask from the device attention mask (`.tolist()`, a device read), copies
    the NumPy mask to the device with a blocking copy, and writes `masked_spec_embed` through boolean indexing (a
    `nonzero`, in the forward and again in the backward): host syncs at every fine-tuning step. `Wav2Vec2VadModel`
    draws the same mask (transformers' `_compute_mask_indices`: same distribution, same NumPy generator) on the host
    from the frame lengths it has there and copies it without blocking; this applies it with `torch.where`. Without a
    given mask, or with feature masking on (`mask_feature_prob` > 0, off in the published checkpoint), transformers'
    own code runs.
    """

    def _mask_hidden_states(self, hidden_states: torch.Tensor, mask_time_indices: torch.Tensor | None = None,
                            attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask_time_indices is None or not getattr(self.config, "apply_spec_augment", True) \
                or self.config.mask_feature_prob > 0:
            return super()._mask_hidden_states(hidden_states, mask_time_indices, attention_mask)
        return torch.where(mask_time_indices[..., None], self.masked_spec_embed.to(hidden_states.dtype), hidden_states)


class Wav2Vec2VadModel(Wav2Vec2PreTrainedModel):
    """Wav2Vec2Model + the VAD head on every frame → [B, T, hidden + 3]."""

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__(config)
        self.wav2vec2 = Wav2Vec2Model(config)
        # Drop-in replacements with the same parameter names and shapes (so the published weights load unchanged)
        # that skip work transformers' modules redo at every inference call.
        self.wav2vec2.feature_extractor = TimeMajorFeatureEncoder(config)
        self.wav2vec2.encoder.pos_conv_embed = CachedPositionalConvEmbedding(config)
        self.classifier = RegressionHead(config)
        self.post_init()
        # The sync-free training and masking paths: methods only (no parameter or buffer), given after the weights are
        # initialised, so that the seeded random weights stay those of the stock modules.
        self.wav2vec2.__class__ = HostMaskedWav2Vec2Model
        if config.do_stable_layer_norm:
            self.wav2vec2.encoder.__class__ = PaddedEncoderStableLayerNorm

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None,
                frame_lengths: Sequence[int] | None = None) -> torch.Tensor:
        """`frame_lengths` (on the host: each clip's encoder frames) lets training draw SpecAugment's time mask on the
        host (`HostMaskedWav2Vec2Model`); without it transformers draws it from the device mask."""
        mask_time = self._time_mask(input_values, frame_lengths)
        hidden = self.wav2vec2(input_values, attention_mask=attention_mask,
                               mask_time_indices=mask_time).last_hidden_state
        return torch.cat([hidden, self.classifier(hidden)], dim=-1)

    def _time_mask(self, input_values: torch.Tensor, frame_lengths: Sequence[int] | None) -> torch.Tensor | None:
        """transformers' SpecAugment time mask for this batch, drawn on the host and copied without blocking; None
        outside training, without masking, or without host frame lengths."""
        config = self.config
        if frame_lengths is None or not (self.training and getattr(config, "apply_spec_augment", True)
                                         and config.mask_time_prob > 0):
            return None
        frames = int(self.frame_lengths(torch.tensor(input_values.shape[1])))
        valid = torch.arange(frames)[None, :] < torch.tensor(list(frame_lengths))[:, None]
        drawn = _compute_mask_indices((len(frame_lengths), frames), mask_prob=config.mask_time_prob,
                                      mask_length=config.mask_time_length, attention_mask=valid.long(),
                                      min_masks=config.mask_time_min_masks)
        mask = torch.from_numpy(drawn)
        if input_values.device.type == "cuda":
            mask = mask.pin_memory()
        return mask.to(input_values.device, non_blocking=True)

    def frame_lengths(self, sample_lengths: torch.Tensor) -> torch.Tensor:
        return self.wav2vec2._get_feat_extract_output_lengths(sample_lengths).to(torch.long)


class Wav2Vec2VadEncoder(TorchEncoder):
    """Audio → [T, hidden + 3] per 20 ms frame, from the first `max_seconds` of the clip."""

    model: Wav2Vec2VadModel

    def __init__(self, info: EncoderInfo, preset: str, model: Wav2Vec2VadModel, *, weights_path: Path | None,
                 source: str, max_seconds: float = DEFAULT_MAX_SECONDS, normalize: bool = True) -> None:
        super().__init__(info, preset, model, weights_path=weights_path, source=source)
        self.max_seconds = max_seconds
        self.normalize = normalize

    def cache_params(self) -> dict[str, Any]:
        return {"sample_rate": _audio.SAMPLE_RATE, "max_seconds": self.max_seconds, "normalize": self.normalize,
                "pooling": "per-frame last_hidden_state ++ VAD head"}

    def prepare(self, media: Any) -> torch.Tensor:
        wave = _audio.as_waveform(media)[: round(self.max_seconds * _audio.SAMPLE_RATE)]
        _audio.check_length(wave)
        return (_audio.zero_mean_unit_var(wave) if self.normalize else wave).contiguous()

    def collate(self, prepared: Sequence[torch.Tensor]) -> dict[str, Any]:
        return _audio.pad_batch(prepared)

    def forward(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        lengths = batch["lengths"]  # on the host (as collated): reading it costs no device sync, also in training
        values = batch["input_values"].to(self.device, non_blocking=True).contiguous()
        # With equal lengths the mask is all ones: dropping it lets SDPA skip the mask (same result, less work).
        mask = None if bool((lengths == values.shape[1]).all()) \
            else batch["attention_mask"].to(self.device, non_blocking=True)
        frames = self.model.frame_lengths(lengths).tolist()  # host: SpecAugment's mask is drawn from these
        with self.autocast():
            features = self.model(values, attention_mask=mask, frame_lengths=frames)
        return [features[row, :count].float() for row, count in enumerate(frames)]


def _config(preset: str) -> Wav2Vec2Config:
    return Wav2Vec2Config(**(PAPER_CONFIG if preset == "paper" else TINY_CONFIG))


def build_random(info: EncoderInfo, preset: str, *, device: str = "cpu", **options: Any) -> Wav2Vec2VadEncoder:
    """The preset's architecture with seeded random weights (no download); `device="meta"` for FLOP counting."""
    with seeded(), torch.device(device):
        model = Wav2Vec2VadModel._from_config(_config(preset), attn_implementation="sdpa", dtype=torch.float32)
    return Wav2Vec2VadEncoder(info, preset, model, weights_path=None,
                              source=RANDOM_WEIGHTS_SOURCE, **options)


def load(info: EncoderInfo, preset: str, weights: str | Path | None, *, trust_remote_code: bool,
         download_root: str | Path | None, **options: Any) -> Wav2Vec2VadEncoder:
    """Plain transformers model: `trust_remote_code` and `download_root` do not apply."""
    if preset == "tiny" and weights is None:
        return build_random(info, preset, **options)
    directory = resolve_hf_dir(info, weights)
    model = from_pretrained_checked(Wav2Vec2VadModel, directory, info, attn_implementation="sdpa",
                                    dtype=torch.float32)
    options.setdefault("normalize", _audio.checkpoint_normalizes(directory, default=True))
    return Wav2Vec2VadEncoder(info, preset, model, weights_path=directory, source=f"checkpoint {directory}",
                              **options)


def save(encoder: Wav2Vec2VadEncoder, directory: Path) -> Path:
    """Write the checkpoint the way the published one is laid out (save_pretrained + preprocessor config)."""
    from transformers import Wav2Vec2FeatureExtractor

    def write(staging: Path) -> None:
        encoder.model.save_pretrained(staging)
        Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=_audio.SAMPLE_RATE, padding_value=0.0,
                                 do_normalize=encoder.normalize, return_attention_mask=True).save_pretrained(staging)

    return save_files_atomically(directory, write)
