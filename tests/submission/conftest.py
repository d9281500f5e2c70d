"""Fixtures for the submission tests: write a file's bytes and validate it against a hand-made reference list, or run
hostile input in a subprocess under an address-space cap."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from abaw_bench.harness.submission import ValidationReport, validate_file

EMI_HEADER = "Filename,Admiration,Amusement,Determination,Empathic Pain,Excitement,Joy"
EXPR_HEADER = "image_location,Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other"
EMI_REFERENCE = [f"{i:05d}" for i in range(8072, 8078)]
BAH_FRAMES = [f"p01/Visite_1/p01_Question_{q}_Video.mp4/frame-{i:05d}.jpg" for q in (1, 2) for i in range(3)]
BAH_VIDEOS = [f"p0{p}/Visite_1/p0{p}_Question_1_Video.mp4" for p in (1, 2, 3)]
AFFWILD_FRAMES = [f"{video}/{i:05d}.jpg" for video in ("10-60-1280x720", "video2_left") for i in range(1, 4)]

REFERENCES = {("emi", None): EMI_REFERENCE, ("bah", "frame"): BAH_FRAMES, ("bah", "video"): BAH_VIDEOS,
              ("va", None): AFFWILD_FRAMES, ("expr", None): AFFWILD_FRAMES}


def valid_text(task: str, level: str | None = None) -> str:
    """A small valid submission for the hand-made references above."""
    if task == "emi":
        return "\n".join([EMI_HEADER, *(f"{i},0.1,0.2,0.3,0.4,0.5,0.6" for i in EMI_REFERENCE)]) + "\n"
    if task == "bah" and level == "frame":
        return "".join(f"{frame},{i % 2}\n" for i, frame in enumerate(BAH_FRAMES))
    if task == "bah":
        return "".join(f"Videos/{video},0.25,0.75,1\n" for video in BAH_VIDEOS)  # as the release spells them
    if task == "va":
        return "\n".join(["image_location,valence,arousal", *(f"{f},-0.5,0.25" for f in AFFWILD_FRAMES)]) + "\n"
    return "\n".join([EXPR_HEADER, *(f"{f},{i}" for i, f in enumerate(AFFWILD_FRAMES))]) + "\n"


@pytest.fixture
def check(tmp_path: Path) -> Callable[..., ValidationReport]:
    """check(task, content, level=None, reference=None, max_bytes=None) → the report for that file content."""

    def run(task: str, content: str | bytes, level: str | None = None, reference: list[str] | None = None,
            max_bytes: int | None = None, name: str = "sub.csv") -> ValidationReport:
        path = tmp_path / name
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        if reference is None:
            reference = REFERENCES[(task, level if task == "bah" else None)]
        return validate_file(task, path, reference, level=level, max_bytes=max_bytes)

    return run


@pytest.fixture(name="valid_text")
def _valid_text() -> Callable[..., str]:
    return valid_text


@pytest.fixture(name="references")
def _references() -> dict[tuple[str, str | None], list[str]]:
    return REFERENCES


@pytest.fixture(name="headers")
def _headers() -> dict[str, str]:
    return {"emi": EMI_HEADER, "expr": EXPR_HEADER, "va": "image_location,valence,arousal"}


# ------------------------------------------------------------------------------------- hostile input, run capped

@pytest.fixture(scope="session")
def run_capped(capped_python: Callable[..., subprocess.CompletedProcess[str]]
               ) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`capped_python` (tests/conftest.py) with the validator and numpy loaded before the cap."""

    def run(code: str, headroom: int = 256 << 20, timeout: float = 60,
            before_cap: str = "") -> subprocess.CompletedProcess[str]:
        return capped_python(code, headroom=headroom, timeout=timeout,
                             before_cap="from abaw_bench.harness.submission import validate_file\n" + before_cap)

    return run
