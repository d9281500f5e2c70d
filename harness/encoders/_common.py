"""Torch-side machinery shared by the encoder families: weight lookup, fingerprints, device/dtype handling.

It imports torch only inside its functions, so that a module declaring an encoder can subclass `TorchEncoder` at its
top and still be listed without torch (harness/encoders/base.py: adding an encoder).

Every family loads real and tiny checkpoints through the same path (`resolve_hf_dir` or `read_plain_state` → a local
path → the family's `from_pretrained`-style loader), so a test that saves and reloads a tiny checkpoint exercises the
exact code that loads the published weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abaw_bench.harness import torchfiles
from abaw_bench.harness.encoders import weights
from abaw_bench.harness.encoders.base import Encoder, EncoderInfo
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.jsonio import BadJson, read_json
from abaw_bench.harness.paths import file_sha256

if TYPE_CHECKING:
    import torch

# the --dtype names and the torch dtypes they stand for
DTYPES: dict[str, str] = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
RANDOM_SEED = 0
# what a randomly initialised encoder says of its weights in every output that uses it
RANDOM_WEIGHTS_SOURCE = f"random weights (seed {RANDOM_SEED}), not the published checkpoint"


def torch_dtype(dtype: str) -> torch.dtype:
    if dtype not in DTYPES:
        raise AbawError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    import torch

    return getattr(torch, DTYPES[dtype])


def check_device(device: str) -> str:
    """Validate a device string early, with a message instead of a deep torch traceback."""
    if device == "cpu":
        return device
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise AbawError(f"device {device!r} requested but CUDA is not available in this torch build/machine; "
                            "use --device cpu")
        return device
    raise AbawError(f"unknown device {device!r}; expected 'cpu', 'cuda' or 'cuda:N'")


def missing_weights_error(info: EncoderInfo, looked_in: str, how_to_get: str) -> AbawError:
    offline = " Downloads are off on this machine (HF_HUB_OFFLINE=1)." if weights.is_offline() else ""
    return AbawError(f"weights for encoder {info.name!r} (model id {info.model_id}) not found: looked in "
                     f"{looked_in}.{offline} {how_to_get}")


def hf_how_to_get(info: EncoderInfo) -> str:
    repo = weights.main_repo(info.name)
    repo_dir = "models--" + repo.repo_id.replace("/", "--")
    text = (f"On a machine with internet run `abaw-bench weights --system S --task T --download` (or `hf download "
            f"{repo.repo_id} --revision {repo.revision}`) and copy ~/.cache/huggingface/hub/{repo_dir} into "
            f"{weights.hf_cache_dir()}/{repo_dir}, or unset HF_HUB_OFFLINE here to download on first use, or save "
            f"the model with save_pretrained and pass --weights DIR (a directory holding config.json and "
            f"model.safetensors or pytorch_model.bin).")
    if info.remote_code is not None:
        text += (f" This model's architecture is defined by code in the repository {info.remote_code.repo_id}, "
                 "which must be in the cache too: also pass --trust-remote-code.")
    return text


def hub_snapshot(info: EncoderInfo, how_to_get: str) -> Path:
    """The cached snapshot folder of `info`'s hub repository at its pinned revision, with the other repositories it
    needs (remote code); downloaded into the Hugging Face cache first when missing and downloads are on."""
    parts = weights.sources(info.name)
    if weights.is_offline():
        missing = [part for part in parts if weights.locate(part) is None]
        if missing:
            raise missing_weights_error(
                info, f"the Hugging Face cache {weights.hf_cache_dir()} (offline; missing "
                      f"{', '.join(weights.describe_part(part) for part in missing)})", how_to_get)
    paths = [weights.fetch(part) for part in parts]
    return paths[0]


def resolve_hf_dir(info: EncoderInfo, given: str | Path | None) -> Path:
    """A local save_pretrained directory for `info`: the given one, or its hub snapshot (see `hub_snapshot`)."""
    if given is not None:
        path = Path(given).expanduser()
        if not (path / "config.json").is_file():
            raise missing_weights_error(info, f"{path} (expected a save_pretrained directory with config.json)",
                                        hf_how_to_get(info))
        return path
    return hub_snapshot(info, hf_how_to_get(info))


def weights_file_sha256(path: Path) -> str:
    """A weight file's sha256; free for Hugging Face cache snapshots, whose files link to blobs named by it."""
    target = path.resolve()
    if path.is_symlink() and len(target.name) == 64 and all(c in "0123456789abcdef" for c in target.name):
        return target.name
    return file_sha256(path)


def sha256_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(weights_file_sha256(path).encode())
    return digest.hexdigest()


def sha256_state_dict(module: torch.nn.Module) -> str:
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".json", ".txt", ".model")


def checkpoint_files(path: Path) -> list[Path]:
    """The files whose bytes define a checkpoint (weights, configs, tokenizer files)."""
    if path.is_file():
        return [path]
    return [p for p in path.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES]


class TorchEncoder(Encoder):
    """An encoder wrapping one `torch.nn.Module`; handles device/dtype, autocast and the fingerprint.

    Weights stay in fp32; bf16/fp16 run under autocast so that the same module can be fine-tuned (the "unfrozen"
    system variants train `self.model` directly).
    """

    def __init__(self, info: EncoderInfo, preset: str, model: torch.nn.Module, *, weights_path: Path | None,
                 source: str) -> None:
        self.info = info
        self.preset = preset
        self.model = model.eval()
        self.weights_path = weights_path
        self.weights_source = source
        self.device = "cpu"
        self.dtype = "fp32"
        self._weights_hash: str | None = None

    def to(self, device: str, dtype: str) -> TorchEncoder:
        torch_dtype(dtype)
        self.device = check_device(device)
        self.dtype = dtype
        self.model.to(self.device)
        return self

    def make_trainable(self) -> TorchEncoder:
        """Prepare for fine-tuning end to end: every parameter requires grad, and layerdrop is off.

        Layerdrop (wav2vec2-vad and wavlm-large ship with 0.1) skips whole transformer layers at random in training
        mode. Under DistributedDataParallel a skipped layer's parameters get no gradient on that rank, and DDP stops
        with "Expected to have finished reduction in the prior iteration" (or, with find_unused_parameters, pays a
        graph traversal per step and averages zeros into that layer's gradient). With layerdrop off every step
        updates the whole encoder on every rank, so a run means the same thing on one GPU and on eight; dropout and
        SpecAugment masking still regularise.
        """
        for parameter in self.model.parameters():
            parameter.requires_grad_(True)
        config = getattr(self.model, "config", None)
        if getattr(config, "layerdrop", 0.0):
            config.layerdrop = 0.0
        return self

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Mixed precision for bf16/fp16; plain fp32 otherwise (CPU default: no native bf16 here)."""
        if self.dtype == "fp32":
            yield
            return
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        import torch

        with torch.autocast(device_type=device_type, dtype=torch_dtype(self.dtype)):
            yield

    def weights_hash(self) -> str:
        if self._weights_hash is None:
            if self.weights_path is not None:
                self._weights_hash = sha256_files(checkpoint_files(self.weights_path))
            else:
                self._weights_hash = sha256_state_dict(self.model)
        return self._weights_hash

    def fingerprint(self) -> str:
        payload = {"encoder": self.info.name, "preset": self.preset, "weights": self.weights_hash(),
                   "source": "random weights" if self.is_random else "checkpoint", "params": self.cache_params()}
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return f"random-{digest}" if self.is_random else digest

    def describe(self) -> str:
        return f"{super().describe()}; {self.device} {self.dtype}"


@contextlib.contextmanager
def seeded() -> Iterator[None]:
    """Deterministic random init that does not disturb the caller's global RNG."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        yield


def quiet_transformers() -> None:
    """transformers' per-shard progress bars are noise in extract/profile logs (our own progress goes to stderr)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def from_pretrained_checked(model_class: Any, directory: Path, info: EncoderInfo, **kwargs: Any) -> Any:
    """`model_class.from_pretrained` offline, failing loudly if the checkpoint lacks some of the model's weights
    (transformers would otherwise initialise them randomly with only a log warning)."""
    quiet_transformers()
    # transformers reads a pytorch_model.bin with torch.load(weights_only=True): a pickle of objects is refused there
    with torchfiles.reading(directory, f"checkpoint of encoder {info.name!r}"):
        try:
            model, loading = model_class.from_pretrained(directory, local_files_only=True, output_loading_info=True,
                                                         **kwargs)
        except (OSError, ValueError) as error:
            raise AbawError(f"cannot load encoder {info.name!r} ({info.model_id}) from {directory}: {error}") \
                from error
    if loading.get("missing_keys"):
        missing = sorted(loading["missing_keys"])
        raise AbawError(f"the checkpoint in {directory} is not a {info.model_id} checkpoint for encoder "
                        f"{info.name!r}: {len(missing)} weights are missing, e.g. {', '.join(missing[:3])}")
    return model


def check_output_dim(info: EncoderInfo, preset: str, found: int, source: str) -> None:
    """AbawError when the network built or loaded for `preset` (`source`: what set its width) does not give the
    feature width the encoder declares: the cache and every system head are sized from the declared one."""
    if found != info.output_dims[preset]:
        raise AbawError(f"encoder {info.name!r} [{preset}] expects {info.output_dims[preset]}-d features, {source} "
                        f"gives {found}-d")


def read_config_json(path: Path, what: str) -> dict[str, Any]:
    """A checkpoint's JSON side file (`what`: e.g. "timm config.json") as an object, through the harness's bounded
    JSON reader, so a damaged or hostile file is an AbawError naming it rather than a traceback."""
    try:
        config = read_json(path)
    except BadJson as error:
        raise AbawError(f"{path}: not a readable {what} ({error.reason})") from None
    if not isinstance(config, dict):
        raise AbawError(f"{path}: expected a JSON object, found {type(config).__name__}")
    return config


def save_files_atomically(directory: Path, write: Callable[[Path], None]) -> Path:
    """Run `write(tmp_dir)` (e.g. a save_pretrained call), then move each file into `directory` with an atomic
    rename, so a killed save never leaves a half-written weight file under its final name."""
    quiet_transformers()
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".saving-", dir=directory) as staging:
        write(Path(staging))
        for path in sorted(Path(staging).rglob("*")):
            if path.is_file():
                target = directory / path.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
    return directory


def retain_freed_memory() -> bool:
    """Make glibc keep freed blocks instead of returning large ones to the kernel after every op.

    By default each tensor over 128 KiB is a fresh mmap whose pages are faulted in and zeroed on first touch and
    unmapped on free: for wav2vec2-large that is ~0.5 GB of page faults per 4 s clip (≈ 7 % of the CPU time here).
    Raising the mmap and trim thresholds lets the heap reuse those pages. Returns False where this does not apply
    (non-glibc platforms). Meant for dedicated processes (profile, extract), as it changes process-wide malloc.
    """
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from <malloc.h>
    return bool(mallopt(m_mmap_threshold, 1 << 30)) and bool(mallopt(m_trim_threshold, (1 << 31) - 1))


PLAIN_WEIGHTS = "model.safetensors"  # a plain-torch family's saved checkpoint (ir-resnet50, vggish)


def read_plain_state(info: EncoderInfo, preset: str, weights: str | Path | None,
                     how_to_get: str) -> tuple[Path, dict[str, torch.Tensor]]:
    """(path, state dict) of a plain-torch family's checkpoint given by --weights: a directory `save_plain_state`
    wrote, or the authors' `.pth` state dict. These checkpoints are on no hub, so nothing is looked up elsewhere."""
    if weights is None:
        raise missing_weights_error(info, "--weights (no hub copy exists)", how_to_get)
    path = Path(weights).expanduser()
    weight_file = path / PLAIN_WEIGHTS if path.is_dir() else path
    if not weight_file.is_file():
        raise missing_weights_error(info, str(weight_file), how_to_get)
    import torch
    from safetensors.torch import load_file

    with torchfiles.reading(weight_file, f"checkpoint of encoder {info.name}"):
        state = load_file(str(weight_file)) if path.is_dir() else torch.load(weight_file, map_location="cpu",
                                                                                weights_only=True)
    if not isinstance(state, dict):
        raise AbawError(f"{weight_file}: expected a state dict, found {type(state).__name__}")
    return path, state


def load_plain_state(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, info: EncoderInfo,
                     preset: str) -> torch.nn.Module:
    """`model` with `state` loaded strictly (in eval mode); AbawError naming the checkpoint when it does not fit."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:  # missing, unexpected or mis-shaped weights
        raise AbawError(f"the checkpoint {path} is not a checkpoint of {info.name} [{preset}]: {str(error)[:400]}") \
            from error
    return model.eval()


def save_plain_state(encoder: TorchEncoder, directory: Path, config: dict[str, Any]) -> Path:
    """model.safetensors + config.json (the encoder, its preset and `config`), what `read_plain_state` reads back."""
    from abaw_bench.harness.atomic import atomic_path, write_json
    from safetensors.torch import save_file

    state = {name: tensor.detach().cpu().contiguous() for name, tensor in encoder.model.state_dict().items()}
    with atomic_path(directory / PLAIN_WEIGHTS) as temporary:
        save_file(state, str(temporary))
    write_json(directory / "config.json", {"encoder": encoder.info.name, "preset": encoder.preset, **config})
    return directory
