"""EMI — Emotional Mimicry Intensity (ABAW 6th/8th, Hume-Vidmimic2): six intensities in [0, 1] per clip.

The official layout under a data root:
    train_split.csv, valid_split.csv        labels: `Filename,Admiration,…,Joy`, one row per clip
    raw/<id>.mp4  audio/<id>.mp3  face_images/<id>/*.jpg  vit/<id>.pkl  wav2vec2/<id>.pkl   (train and val clips)
    test_data/{raw,audio,face_images}/…     test clips, no labels
Transcripts are not part of the release (participants ran Whisper). A demo root ships `transcripts/<id>.json` (and
`test_data/transcripts/`) with `{"text", "words": [{"word", "start", "end"}]}` standing in for Whisper output; the
reader exposes a "transcript" path only where such a file exists. It also reads `test_data/vit` and
`test_data/wav2vec2` where present (the demo has them; whether the real release does is unconfirmed).

Splits come from manifests shipped in `harness/splits/`: `emi-v1.json` for the real release (train and val as id
ranges; the test ids are the clips present under `test_data/audio`, else `test_data/raw`, because the test list ships
with the test media), `emi-demo-v1.json` for the generated demo (explicit ranges for all three splits).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.metrics.result import MetricResult
from abaw_bench.harness.paths import is_demo_root
from abaw_bench.harness.tasks import TASKS
from abaw_bench.harness.tasks._common import DECIMAL_NUMBER, check_aligned
from abaw_bench.harness.tasks.base import SPLITS, DatasetReader, Item, Manifest, Table, Task
from abaw_bench.harness.tasks.spec import DEFAULT_LEVEL, Column, LabelFigure, SubmissionFormat

EMOTIONS = ("Admiration", "Amusement", "Determination", "Empathic Pain", "Excitement", "Joy")
LABEL_HEADER = ("Filename", *EMOTIONS)
LABEL_FILES = {"train": "train_split.csv", "val": "valid_split.csv"}
TEST_DIR = "test_data"
SPLITS_DIR = Path(__file__).resolve().parent.parent / "splits"
REAL_MANIFEST = "emi-v1"
DEMO_MANIFEST = "emi-demo-v1"

# media kind (as in Item.media) → (folder, file suffix); None marks a folder of frames per clip.
MEDIA_LAYOUT: dict[str, tuple[str, str | None]] = {
    "video": ("raw", ".mp4"),
    "audio": ("audio", ".mp3"),
    "faces": ("face_images", None),
    "vit": ("vit", ".pkl"),
    "wav2vec2": ("wav2vec2", ".pkl"),
    "transcript": ("transcripts", ".json"),
}
_ID_PATTERN = re.compile(r"\d{5}")
_EXAMPLES = 5  # ids quoted per disagreement message


def normalise_emi_id(raw: str) -> str | None:
    """'42', '0042' and '00042' → '00042'; None if `raw` is not a clip id. Ids written as integers (leading zeros
    lost, as a top team's submission had them) are the same clip, so every reader of EMI ids goes through this."""
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 5:
        return None
    return text.zfill(5)


def _examples(ids: list[str]) -> str:
    shown = ", ".join(ids[:_EXAMPLES])
    return f"{shown}, …" if len(ids) > _EXAMPLES else shown


def _id_range(first: str, last: str, where: str) -> tuple[str, ...]:
    if not (_ID_PATTERN.fullmatch(first) and _ID_PATTERN.fullmatch(last)) or int(first) > int(last):
        raise ValueError(f"{where}: bad id range [{first!r}, {last!r}]")
    return tuple(f"{i:05d}" for i in range(int(first), int(last) + 1))


def load_manifest_spec(name: str) -> dict[str, Any]:
    """The raw JSON of a shipped manifest (`harness/splits/<name>.json`)."""
    return json.loads((SPLITS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def resolve_manifest(name: str, discover: Callable[[list[str]], tuple[str, ...]] | None = None) -> Manifest:
    """The shipped manifest `name` with its id ranges expanded; `discover(folders)` supplies the ids of a split that
    the manifest says ships with the media (the real test split). Without it such a split is an error."""
    spec = load_manifest_spec(name)
    splits: dict[str, tuple[str, ...]] = {}
    for split in SPLITS:
        rule = spec["splits"][split]
        if "range" in rule:
            splits[split] = _id_range(*rule["range"], where=f"{name}.json splits.{split}")
        elif discover is not None:
            splits[split] = discover(rule["discover"])
        else:
            raise ValueError(f"{name}.json: the {split} split is discovered from a data root; none was given")
    from_root = any("discover" in rule for rule in spec["splits"].values())
    return Manifest(task="emi", version=spec["version"], splits=splits,
                    source="repository+data-root" if from_root else "repository")


def media_ids(folder: Path, suffix: str | None) -> tuple[dict[str, Path], list[str]]:
    """Clip id → path for the media in `folder` (one directory listing), plus the names that are not clip media."""
    found: dict[str, Path] = {}
    strays: list[str] = []
    if not folder.is_dir():
        return found, strays
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if suffix is None:
                stem, matches = entry.name, entry.is_dir()
            else:
                stem, ext = os.path.splitext(entry.name)
                matches = ext.lower() == suffix and entry.is_file()
            if matches and _ID_PATTERN.fullmatch(stem):
                found[stem] = Path(entry.path)
            else:
                strays.append(entry.name)
    return dict(sorted(found.items())), sorted(strays)


def read_label_csv(path: Path) -> dict[str, tuple[int, np.ndarray]]:
    """Clip id → (line number, the six intensities) from an official label CSV, checked field by field."""
    if not path.is_file():
        raise AbawError(f"{path}: label file not found (the EMI release has it at the dataset root)")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AbawError(f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded); expected a CSV file") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise AbawError(f"{path}: the file is empty; expected the header {','.join(LABEL_HEADER)}")
    if tuple(field.strip() for field in header) != LABEL_HEADER:
        raise AbawError(f"{path}, line 1: header is {','.join(header)!r}, expected {','.join(LABEL_HEADER)!r}")
    rows: dict[str, tuple[int, np.ndarray]] = {}
    for fields in reader:
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(LABEL_HEADER):
            raise AbawError(f"{path}, line {line}: {len(fields)} fields, expected {len(LABEL_HEADER)} "
                            f"({','.join(LABEL_HEADER)})")
        clip = normalise_emi_id(fields[0])
        if clip is None:
            raise AbawError(f"{path}, line {line}, field Filename: {fields[0]!r} is not a clip id "
                            "(expected up to 5 digits, e.g. 00042)")
        if clip in rows:
            raise AbawError(f"{path}, line {line}, field Filename: clip {clip} already has a row on line "
                            f"{rows[clip][0]}")
        values = np.empty(len(EMOTIONS), dtype=np.float64)
        for k, (emotion, raw) in enumerate(zip(EMOTIONS, fields[1:], strict=True)):
            if not DECIMAL_NUMBER.fullmatch(raw):
                raise AbawError(f"{path}, line {line}, field {emotion}: {raw!r} is not a number "
                                "(expected an intensity in [0, 1])")
            value = float(raw)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise AbawError(f"{path}, line {line}, field {emotion}: {raw.strip()} is outside [0, 1]")
            values[k] = value
        rows[clip] = (line, values)
    return rows


class EmiReader(DatasetReader):
    """Reads an EMI root in the official layout; the demo manifest governs a generated demo root."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._manifest: Manifest | None = None
        self._media: dict[tuple[str, str], tuple[dict[str, Path], list[str]]] = {}

    # -- manifest -------------------------------------------------------------------------------------------------

    def manifest(self) -> Manifest:
        if self._manifest is None:
            name = DEMO_MANIFEST if is_demo_root(self.root) else REAL_MANIFEST
            self._manifest = resolve_manifest(name, self._discover)
        return self._manifest

    def _discover(self, folders: list[str]) -> tuple[str, ...]:
        """The ids of the media in the first of `folders` (e.g. "test_data/audio") that exists under the root."""
        kind_of_folder = {f"{TEST_DIR}/{folder}": kind for kind, (folder, _) in MEDIA_LAYOUT.items()}
        for folder in folders:
            if (self.root / folder).is_dir():
                return tuple(self._media_of("test", kind_of_folder[folder])[0])
        return ()

    # -- media ----------------------------------------------------------------------------------------------------

    def _base(self, split: str) -> Path:
        return self.root / TEST_DIR if split == "test" else self.root

    def _media_of(self, split: str, kind: str) -> tuple[dict[str, Path], list[str]]:
        """Media of one kind for a split's folder (train and val share the top-level folders), listed once."""
        where = "test" if split == "test" else "trainval"
        if (where, kind) not in self._media:
            folder, suffix = MEDIA_LAYOUT[kind]
            self._media[(where, kind)] = media_ids(self._base(split) / folder, suffix)
        return self._media[(where, kind)]

    def _check_split(self, split: str) -> None:
        if split not in SPLITS:
            raise AbawError(f"unknown split {split!r}; EMI has {', '.join(SPLITS)}")

    def items(self, split: str) -> list[Item]:
        self._check_split(split)
        media = {kind: self._media_of(split, kind)[0] for kind in MEDIA_LAYOUT}
        return [
            Item(id=clip, split=split, media={kind: paths[clip] for kind, paths in media.items() if clip in paths})
            for clip in self.manifest().splits[split]
        ]

    # -- labels ---------------------------------------------------------------------------------------------------

    def labels(self, split: str, level: str | None = None) -> Table:
        self._check_split(split)
        _check_level(level)
        if split == "test":
            raise AbawError("the test split has no labels: EMI test labels are held by the organisers "
                            "(score on --split val, or validate a test submission without labels)")
        path = self.root / LABEL_FILES[split]
        rows = read_label_csv(path)
        ids = list(self.manifest().splits[split])
        missing = [clip for clip in ids if clip not in rows]
        if missing:
            raise AbawError(f"{path}: no label row for {len(missing)} of the {len(ids)} {split} clips "
                            f"(e.g. {_examples(missing)}); `abaw-bench splits --task emi --data-root {self.root}` "
                            "lists every disagreement")
        values = np.stack([rows[clip][1] for clip in ids]) if ids else np.empty((0, len(EMOTIONS)))
        return Table(ids=ids, values=values, columns=EMOTIONS)

    def reference_rows(self, split: str, level: str | None = None) -> list[str]:
        self._check_split(split)
        _check_level(level)
        return list(self.manifest().splits[split])

    def reference_source(self, split: str, level: str | None = None) -> str:
        if split != "test":
            return f"the {split} clip ids of the split manifest"
        test = self.root / TEST_DIR
        return f"the test clips in {test / MEDIA_LAYOUT['audio'][0]} or {test / MEDIA_LAYOUT['video'][0]}"

    # -- consistency ----------------------------------------------------------------------------------------------

    def check(self) -> list[str]:
        manifest = self.manifest()
        problems: list[str] = []
        test_rule = load_manifest_spec(DEMO_MANIFEST if is_demo_root(self.root) else REAL_MANIFEST)["splits"]["test"]
        if "discover" in test_rule:
            found = len(manifest.splits["test"])
            if not found:
                problems.append(f"test: no test media found (looked for {' and '.join(test_rule['discover'])} "
                                f"under {self.root}); the test ids ship with the test media")
            elif found != test_rule["official_count"]:
                problems.append(f"test: {found} clips found under the test media folder; the official release has "
                                f"{test_rule['official_count']}")
        problems += self._check_labels(manifest)
        problems += self._check_media(manifest)
        return problems

    def _check_labels(self, manifest: Manifest) -> list[str]:
        problems: list[str] = []
        split_of = {clip: split for split, ids in manifest.splits.items() for clip in ids}
        for split, filename in LABEL_FILES.items():
            try:
                rows = read_label_csv(self.root / filename)
            except AbawError as exc:
                problems.append(str(exc))
                continue
            missing = [clip for clip in manifest.splits[split] if clip not in rows]
            if missing:
                problems.append(f"{filename}: no label row for {len(missing)} {split} clips "
                                f"(e.g. {_examples(missing)})")
            for other in SPLITS:
                if other != split and (misplaced := [c for c in rows if split_of.get(c) == other]):
                    belongs = f"in {LABEL_FILES[other]}" if other in LABEL_FILES else "in no label file (test)"
                    problems.append(f"{filename}: {len(misplaced)} rows are {other} clips, whose labels belong "
                                    f"{belongs} (e.g. {_examples(misplaced)})")
            if unknown := [clip for clip in rows if clip not in split_of]:
                problems.append(f"{filename}: {len(unknown)} rows have ids in no split of manifest "
                                f"{manifest.version} (e.g. {_examples(unknown)})")
        return problems

    def _check_media(self, manifest: Manifest) -> list[str]:
        problems: list[str] = []
        for splits in (("train", "val"), ("test",)):
            expected = [clip for split in splits for clip in manifest.splits[split]]
            expected_set = set(expected)
            base = self._base(splits[0])
            present_kinds = 0
            for kind, (folder, _) in MEDIA_LAYOUT.items():
                if not (base / folder).is_dir():
                    continue
                present_kinds += 1
                found, strays = self._media_of(splits[0], kind)
                shown = (base / folder).relative_to(self.root).as_posix()
                if missing := [clip for clip in expected if clip not in found]:
                    problems.append(f"{shown}/: {len(missing)} {'/'.join(splits)} clips of the manifest have no "
                                    f"{kind} media (e.g. {_examples(missing)})")
                if extra := [clip for clip in found if clip not in expected_set]:
                    problems.append(f"{shown}/: {len(extra)} clips are not {'/'.join(splits)} clips of manifest "
                                    f"{manifest.version} (e.g. {_examples(extra)})")
                if strays:
                    problems.append(f"{shown}/: {len(strays)} entries are not <5-digit id>"
                                    f"{MEDIA_LAYOUT[kind][1] or '/'} media (e.g. {_examples(strays)})")
            if expected and not present_kinds:
                problems.append(f"{'/'.join(splits)}: no media folder found under {base} (expected any of "
                                f"{', '.join(folder + '/' for folder, _ in MEDIA_LAYOUT.values())})")
        return problems


def _check_level(level: str | None) -> None:
    if level not in (None, DEFAULT_LEVEL):
        raise AbawError(f"EMI has one submission level, {DEFAULT_LEVEL!r}; got {level!r}")


def _submission_id(raw: str) -> str:
    """EMI ids are 5-digit zero-padded; a team that wrote them as integers lost the zeros, so both spellings count."""
    return raw.zfill(5) if raw.isdigit() and raw.isascii() else raw


SUBMISSION = SubmissionFormat(
    task="emi",
    level=DEFAULT_LEVEL,
    title="EMI CSV (Filename + 6 emotion intensities)",
    id_name="Filename",
    header=LABEL_HEADER,
    layouts=(tuple(Column(name, 0.0, 1.0) for name in EMOTIONS),),
    ordered=False,
    normalise_id=_submission_id,
    id_pattern=re.compile(r"[0-9]{1,5}"),
    id_rule="a clip id of up to 5 digits (leading zeros optional)",
    template_values=(0.0,) * len(EMOTIONS),
    notes="one row per test clip in any order; ids with or without leading zeros; values finite in [0, 1]",
)


class EmiTask(Task):
    name = "emi"
    title = "Emotional Mimicry Intensity (Hume-Vidmimic2): 6 intensities per clip"
    columns = EMOTIONS
    headline_metric = "mean_pearson"
    higher_is_better = True
    formats = (SUBMISSION,)
    dataset = "emi"
    label_figure = LabelFigure("boxes", "EMI label intensities per emotion", axis="intensity")
    column_noun = "emotion"

    def reader(self, root: Path) -> EmiReader:
        return EmiReader(root)

    def score(self, predictions: Table, labels: Table, level: str | None = None) -> MetricResult:
        from abaw_bench.harness.metrics import emi_metric  # deferred: the metrics module is only needed when scoring

        _check_level(level)
        check_aligned(predictions, labels)
        return emi_metric(predictions.values, labels.values, self.columns)


TASKS.register("emi")(EmiTask())
