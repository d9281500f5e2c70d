"""Published weights: listing, the offline message, and the download path against a local server in the hub's layout.

The download test builds a tiny ViT, saves it with save_pretrained and serves it from 127.0.0.1 as the repository
google/vit-huge-patch14-224-in21k, answering what huggingface_hub asks: `GET /api/models/{repo}/revision/{rev}`
(the repository's commit and files) and `HEAD`/`GET /{repo}/resolve/{rev}/{file}` with X-Repo-Commit, ETag and
Content-Length. A subprocess with HF_ENDPOINT pointing there (huggingface_hub reads it at import) loads the paper
encoder, which downloads it into the cache on first use, then runs `abaw-bench weights --download`, which finds it
there and downloads nothing more. The server answers a bounded number of requests and is shut down by the test, or
by itself after a few minutes.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from abaw_bench.harness.cli import main
from abaw_bench.harness.encoders import weights
from abaw_bench.harness.errors import AbawError

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO = "google/vit-huge-patch14-224-in21k"
MAX_REQUESTS = 60
MAX_SERVE_SECONDS = 300  # the server shuts itself down after this even if a test never reaches its teardown


class HubServer:
    """A tiny read-only hub: one repository at one commit, files from a folder; counts what it was asked."""

    def __init__(self, repo: str, folder: Path) -> None:
        self.repo = repo
        self.files = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, *, body: bool) -> None:
                server.requests.append(f"{self.command} {self.path}")
                status, headers, payload = server.route(self.path.split("?", 1)[0])
                if len(server.requests) > MAX_REQUESTS:
                    status, headers, payload = 503, {}, b"request budget exhausted"
                self.send_response(status)
                for key, value in {**headers, "Content-Length": str(len(payload))}.items():
                    self.send_header(key, value)
                self.end_headers()
                if body:
                    self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.watchdog = threading.Timer(MAX_SERVE_SECONDS, self.httpd.shutdown)
        self.watchdog.daemon = True

    def route(self, path: str) -> tuple[int, dict[str, str], bytes]:
        info_prefix = f"/api/models/{self.repo}/revision/"
        resolve_prefix = f"/{self.repo}/resolve/"
        if path.startswith(info_prefix):
            siblings = [{"rfilename": name, "size": len(data),
                         "lfs": {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}}
                        for name, data in sorted(self.files.items())]
            document = {"id": self.repo, "modelId": self.repo, "sha": COMMIT, "siblings": siblings}
            return 200, {"Content-Type": "application/json"}, json.dumps(document).encode()
        if path.startswith(resolve_prefix):
            _, _, name = path[len(resolve_prefix):].partition("/")
            if name in self.files:
                data = self.files[name]
                return 200, {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}, data
        return 404, {"X-Error-Code": "EntryNotFound"}, b"not found"

    def __enter__(self) -> HubServer:
        self.thread.start()
        self.watchdog.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.watchdog.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def tiny_vit(tmp_path: Path) -> Path:
    from abaw_bench.harness.encoders import load_encoder, save_checkpoint

    return save_checkpoint(load_encoder("vit-h14", "tiny"), tmp_path / "served")


CHILD = """
import json, sys
import numpy as np
from abaw_bench.harness.cli import main
from abaw_bench.harness.encoders import load_encoder, encoder_info
encoder = load_encoder("vit-h14", "paper")  # not in the cache: downloaded on first use
features = encoder.forward(encoder.collate([encoder.prepare([np.zeros((60, 60, 3), dtype=np.uint8)])]))
code = main(["weights", "--system", "hallmen2025", "--task", "emi", "--variant", "vision", "--download", "--json"])
print(json.dumps({"code": code, "source": encoder.weights_source, "shape": list(features[0].shape)}))
"""


def test_download_lands_in_the_hf_cache_and_loads(tiny_vit: Path, tmp_path: Path) -> None:
    with HubServer(REPO, tiny_vit) as hub:
        env = {key: value for key, value in os.environ.items() if key not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
        env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf"), HF_HUB_DISABLE_TELEMETRY="1",
                   HF_HUB_DISABLE_XET="1")
        done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    listing_text, result_text = done.stdout.rsplit("\n{", 1)[0], "{" + done.stdout.rsplit("\n{", 1)[1]
    listing, result = json.loads(listing_text), json.loads(result_text)
    snapshot = tmp_path / "hf" / "hub" / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT
    served = (tiny_vit / "model.safetensors").read_bytes()
    cached = snapshot / "model.safetensors"
    assert cached.is_file() and cached.read_bytes() == served
    assert cached.resolve().name == hashlib.sha256(served).hexdigest()  # blob named by its sha256 (provenance)
    (row,) = listing["models"]
    assert (row["id"], row["found"], row["resolved_commit"]) == (REPO, str(snapshot), COMMIT)
    assert row["size_bytes"] == sum(len(data) for data in hub.files.values())
    assert result == {"code": 0, "source": f"checkpoint {snapshot}", "shape": [1, 32]}
    downloads = [request for request in hub.requests if request.startswith("GET") and "resolve" in request]
    assert sorted(downloads) == sorted(f"GET /{REPO}/resolve/main/{name}" for name in hub.files)  # each file once


def test_whisper_checkpoint_is_verified_then_renamed(tmp_path: Path) -> None:
    payload = b"not really a whisper checkpoint"
    sha = hashlib.sha256(payload).hexdigest()
    with HubServer("unused/repo", tmp_path) as hub:
        hub.route = lambda path: (200, {}, payload) if path.endswith("/large-v3.pt") else (404, {}, b"")
        good = weights.WhisperCheckpoint("large-v3", f"{hub.url}/{sha}/large-v3.pt")
        assert weights.fetch_whisper(good, tmp_path / "root").read_bytes() == payload
        bad = weights.WhisperCheckpoint("large-v3", f"{hub.url}/{'0' * 64}/large-v3.pt")
        with pytest.raises(AbawError, match=r"sha256.*nothing was kept"):
            weights.fetch_whisper(bad, tmp_path / "other")
    left = [path.name for path in (tmp_path / "other").iterdir() if path.name != ".large-v3.pt.lock"]
    assert left == []  # no partial file under any name


def test_an_unreachable_hub_is_a_message_naming_the_model(empty_caches: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with socket.socket() as closed:  # a port nothing listens on: the connection is refused at once
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{closed.getsockname()[1]}")
        with pytest.raises(AbawError, match=f"cannot download {REPO} .*set HF_HUB_OFFLINE=1"):
            weights.fetch(weights.main_repo("vit-h14"))


def test_whisper_url_is_the_installed_packages() -> None:
    import whisper

    (checkpoint,) = weights.sources("whisper-large-v3")
    assert whisper._MODELS["large-v3"] == checkpoint.url


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    yield tmp_path


def test_listing_names_the_paper_models_of_a_row(empty_caches: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "--system", "hallmen2025", "--task", "bah", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["offline"] is True
    models = {(row["encoder"], row["id"]): row for row in listing["models"]}
    assert set(models) == {("vit-h14", REPO), ("gte-large", "Alibaba-NLP/gte-large-en-v1.5"),
                           ("gte-large", "Alibaba-NLP/new-impl"),
                           ("wav2vec2-vad", "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim"),
                           ("whisper-large-v3", "openai-whisper:large-v3")}
    assert all(row["found"] == "missing" and row["size_bytes"] is None for row in models.values())
    assert models[("whisper-large-v3", "openai-whisper:large-v3")]["pinned"] is True
    assert "bah/text-vision" in models[("gte-large", "Alibaba-NLP/gte-large-en-v1.5")]["rows"]
    assert main(["weights", "--system", "hallmen2025", "--task", "bah", "--download"]) == AbawError.exit_code != 0
    assert "downloads are off (HF_HUB_OFFLINE is set)" in capsys.readouterr().err


def test_listing_finds_a_whisper_checkpoint_and_a_given_directory(empty_caches: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (empty_caches / "xdg" / "whisper").mkdir(parents=True)
    (empty_caches / "xdg" / "whisper" / "large-v3.pt").write_bytes(b"x" * 10)
    assert main(["weights", "--system", "hallmen2025", "--task", "emi", "--variant", "text-vision",
                 "--weights", f"vit-h14={empty_caches}", "--json"]) == 0
    rows = {row["encoder"]: row for row in json.loads(capsys.readouterr().out)["models"]}
    assert rows["whisper-large-v3"]["found"].endswith("whisper/large-v3.pt")
    assert rows["whisper-large-v3"]["size_bytes"] == 10
    assert rows["vit-h14"]["found"] == str(empty_caches) and rows["vit-h14"]["role"] == "weights (--weights)"


def test_weights_listing_does_not_import_torch() -> None:
    code = ("import sys; from abaw_bench.harness.cli import main; "
            "main(['weights', '--system', 'wen2024', '--json']); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)
