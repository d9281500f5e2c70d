"""The transcribed paper tables: exact figures, full citations, schema, agreement with the systems' `Variant.paper`.

The numbers live in two places (the table files and the system files); these tests are what keeps them equal.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.systems import SYSTEMS
from abaw_bench.harness.tasks import TASKS
from abaw_bench.leaderboard.tables import TABLES_DIR, load_table, load_tables

# The papers' tables as printed, one paragraph per table ("–": the paper prints no figure).
PAPER_TABLES = """\
hallmen2024, Table 1 (EMI; ρ_VAL, ρ_TEST): Baseline vision –/.090; Baseline audio –/.240; Baseline multimodal –/.250;
Vision-only train .031/–; Multimodal train .198/–; Audio-only train .262/–; + global vector .280/–;
+ global + unfrozen .386/.461; + global + unfrozen + dropout .389/.465; train+val global+unfrozen –/.522;
train+val global+unfrozen+dropout –/.554.
hallmen2025, Table 1 (EMI; ρ_VAL, ρ_TEST): Baseline vision –/.090; Baseline audio –/.240; Yu et al. .328/.359;
Hallmen et al. .389/.465; Zhang et al. .463/.718; Ours vision .138; audio .376; text .523; text+audio .520;
text+vision .529; text+audio+vision .522; Ours† text+vision (train+val) –/–.
hallmen2025, Table 2 (BAH; F1_VAL): Baseline .700; vision .674; audio .662; text .718; text+audio .696;
text+vision .725; text+audio+vision .720; Ours† text+vision –.
wen2024, Table 1 (VA val CCC; hidden 256, dropout 0.2, loss weight 0.5, grad clip 0.8, lr 1e-3):
Attention ResNet/– .5342; Attention SENet/– .5513; Attention CLIP-large/– .6347; Attention EVA02/– .6082;
Attention CLIP-large/WavLM .6523; MFN CLIP-large/WavLM .6874; MFN EVA02/WavLM .6523; MCTN CLIP-large/WavLM .6943;
MCTN EVA02/WavLM .6645.
wen2024, Table 2 (Expr val F1; batch 16, 30 epochs): Attention EfficientNetV2 lr .001 .255; EfficientNetV2 lr .0005
.274; MobileNetV3 lr .001 .289; MobileNetV3 lr .0005 .263.
"""

N = None
# Full literal expectation per table: (label, figures in column order, "system/variant" or None).
EXPECTED = {
    "hallmen2024-emi": ("hallmen2024, Table 1", "emi", ["ρ_VAL", "ρ_TEST"], [
        ("Baseline vision", (N, .090), "baseline/vision"),
        ("Baseline audio", (N, .240), "baseline/audio"),
        ("Baseline multimodal", (N, .250), "baseline/multimodal"),
        ("Vision-only train", (.031, N), "hallmen2024/vision"),
        ("Multimodal train", (.198, N), "hallmen2024/multimodal"),
        ("Audio-only train", (.262, N), "hallmen2024/audio"),
        ("+ global vector", (.280, N), "hallmen2024/audio-global"),
        ("+ global + unfrozen", (.386, .461), "hallmen2024/audio-global-unfrozen"),
        ("+ global + unfrozen + dropout", (.389, .465), "hallmen2024/audio-global-unfrozen-dropout"),
        ("train+val global+unfrozen", (N, .522), "hallmen2024/trainval-audio-global-unfrozen"),
        ("train+val global+unfrozen+dropout", (N, .554), "hallmen2024/trainval-audio-global-unfrozen-dropout"),
    ]),
    "hallmen2025-emi": ("hallmen2025, Table 1", "emi", ["ρ_VAL", "ρ_TEST"], [
        ("Baseline vision", (N, .090), "baseline/vision"),
        ("Baseline audio", (N, .240), "baseline/audio"),
        ("Yu et al.", (.328, .359), None),
        ("Hallmen et al.", (.389, .465), "hallmen2024/audio-global-unfrozen-dropout"),
        ("Zhang et al.", (.463, .718), None),
        ("Ours vision", (.138, N), "hallmen2025/vision"),
        ("Ours audio", (.376, N), "hallmen2025/audio"),
        ("Ours text", (.523, N), "hallmen2025/text"),
        ("Ours text+audio", (.520, N), "hallmen2025/text-audio"),
        ("Ours text+vision", (.529, N), "hallmen2025/text-vision"),
        ("Ours text+audio+vision", (.522, N), "hallmen2025/text-audio-vision"),
        ("Ours† text+vision", (N, N), "hallmen2025/trainval-text-vision"),
    ]),
    "hallmen2025-bah": ("hallmen2025, Table 2", "bah", ["F1_VAL"], [
        ("Baseline", (.700,), "bah-challenge/vision-audio-text"),
        ("Ours vision", (.674,), "hallmen2025/vision"),
        ("Ours audio", (.662,), "hallmen2025/audio"),
        ("Ours text", (.718,), "hallmen2025/text"),
        ("Ours text+audio", (.696,), "hallmen2025/text-audio"),
        ("Ours text+vision", (.725,), "hallmen2025/text-vision"),
        ("Ours text+audio+vision", (.720,), "hallmen2025/text-audio-vision"),
        ("Ours† text+vision", (N,), "hallmen2025/trainval-text-vision"),
    ]),
    "wen2024-va": ("wen2024, Table 1", "va", ["CCC val"], [
        ("Attention ResNet/–", (.5342,), "wen2024/attention-resnet"),
        ("Attention SENet/–", (.5513,), "wen2024/attention-senet"),
        ("Attention CLIP-large/–", (.6347,), "wen2024/attention-clip"),
        ("Attention EVA02/–", (.6082,), "wen2024/attention-eva02"),
        ("Attention CLIP-large/WavLM", (.6523,), "wen2024/attention-clip-wavlm"),
        ("MFN CLIP-large/WavLM", (.6874,), "wen2024/mfn-clip-wavlm"),
        ("MFN EVA02/WavLM", (.6523,), "wen2024/mfn-eva02-wavlm"),
        ("MCTN CLIP-large/WavLM", (.6943,), "wen2024/mctn-clip-wavlm"),
        ("MCTN EVA02/WavLM", (.6645,), "wen2024/mctn-eva02-wavlm"),
    ]),
    "wen2024-expr": ("wen2024, Table 2", "expr", ["F1 val"], [
        ("Attention EfficientNetV2 lr .001", (.255,), "wen2024/efficientnetv2-lr1e-3"),
        ("Attention EfficientNetV2 lr .0005", (.274,), "wen2024/efficientnetv2-lr5e-4"),
        ("Attention MobileNetV3 lr .001", (.289,), "wen2024/mobilenetv3-lr1e-3"),
        ("Attention MobileNetV3 lr .0005", (.263,), "wen2024/mobilenetv3-lr5e-4"),
    ]),
}

# The papers' full citations (authors, title, venue, year), as a reader of the papers knows them.
CITATIONS = {
    "hallmen2024": 'T. Hallmen, F. Deuser, N. Oswald, E. André. "Unimodal Multi-Task Fusion for Emotional Mimicry '
                   'Intensity Prediction." CVPR Workshops (ABAW 6), 2024. arXiv:2403.11879.',
    "hallmen2025": 'T. Hallmen, R.-N. Kampa, F. Deuser, N. Oswald, E. André. "Semantic Matters: Multimodal Features '
                   'for Affective Analysis." CVPR Workshops (ABAW 8), 2025.',
    "wen2024": 'Z. Wen, F. Zhang, S. Zhang, H. Sun, M. Xu, L. Sun, Z. Lian, B. Liu, J. Tao. "Multimodal Fusion with '
               'Pre-Trained Model Features in Affective Behaviour Analysis In-the-wild." CVPR Workshops (ABAW 6), '
               '2024.',
}

TABLES = {table.name: table for table in load_tables()}


def test_every_table_file_is_expected_and_in_paper_order() -> None:
    assert sorted(TABLES) == sorted(EXPECTED)
    assert [table.reference for table in load_tables()] == sorted(source for source, *_ in EXPECTED.values())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_table_cites_its_paper_in_full_and_nothing_outside_the_repository(name: str) -> None:
    table = TABLES[name]
    assert table.citation == CITATIONS[table.paper]
    text = table.path.read_text(encoding="utf-8")
    for outside in ("REFERENCE", "seed 00", "Seed 00", "§"):
        assert outside not in text, f"{table.path} mentions {outside!r}, which a user of the repository cannot look up"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_table_matches_the_literal_expectation(name: str) -> None:
    source, task, column_labels, rows = EXPECTED[name]
    table = TABLES[name]
    assert (table.reference, table.task) == (source, task)
    assert [column.label for column in table.columns] == column_labels
    actual = [(row.label, tuple(row.figures[column.key] for column in table.columns),
               f"{row.system}/{row.variant}" if row.linked else None) for row in table.rows]
    assert actual == rows


def _paper_paragraph(reference: str) -> str:
    """The paragraph of one table, without its header (whose settings hold numbers that are no figures)."""
    paragraphs = re.split(r"(?=^\w+, Table \d)", PAPER_TABLES, flags=re.MULTILINE)
    paragraph = next(p for p in paragraphs if p.startswith(f"{reference} ("))
    return paragraph.split("):", 1)[1]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_figures_appear_in_the_paper_table_in_order(name: str) -> None:
    """Every non-missing figure of the table is, in row order, a figure token of the paper's table."""
    table = TABLES[name]
    paragraph = _paper_paragraph(table.reference)
    tokens = re.findall(r"(?<![\w.])(?<!lr )(\.\d+)(?=[/;.\s]|$)", paragraph)
    figures = [value for row in table.rows for value in (row.figures[column.key] for column in table.columns)
               if value is not None]
    assert [float(token) for token in tokens] == figures
    assert all(len(token) - 1 == table.decimals for token in tokens)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_structural_invariants(name: str) -> None:
    table = TABLES[name]
    assert table.task in TASKS
    assert TASKS.get(table.task).headline_metric == table.harness_metric
    assert table.path == TABLES_DIR / f"{name}.json"
    labels = [row.label for row in table.rows]
    assert len(set(labels)) == len(labels)
    assert table.columns[0].key == "val"
    for row in table.rows:
        assert list(row.figures) == [column.key for column in table.columns]
    # the JSON round-trip of the loaded table is the file itself (nothing dropped or renamed by the loader)
    on_disk = json.loads(table.path.read_text(encoding="utf-8"))
    for row in on_disk["rows"]:
        row.setdefault("system", None)
        row.setdefault("variant", None)
    assert table.to_json() == on_disk


def _linked_rows():
    return [(table, row) for table in TABLES.values() for row in table.rows if row.linked]


@pytest.mark.parametrize(("table", "row"), _linked_rows(), ids=lambda item: getattr(item, "name", None)
                         or getattr(item, "label", None))
def test_linked_rows_agree_with_the_systems_variant_paper(table, row) -> None:
    spec = SYSTEMS.get(row.system)
    assert table.task in spec.tasks
    variant = spec.variant(table.task, row.variant)
    declared = dict(variant.paper)
    assert set(declared) <= set(row.figures), f"{row.system}/{row.variant} declares splits the table lacks"
    for key, value in row.figures.items():
        assert declared.get(key) == value, f"{table.name} {row.label!r} {key}: table {value}, system {declared}"
    if spec.name == table.paper:  # the system's own paper: its Variant.row is this row's label
        assert variant.row == row.label


def test_every_variant_with_paper_figures_is_linked_from_a_table() -> None:
    linked = {(table.task, row.system, row.variant) for table, row in _linked_rows()}
    missing = [f"{name}/{task}/{variant.name}" for name, spec in SYSTEMS for task in spec.tasks
               for variant in spec.variants[task].values()
               if variant.paper and (task, name, variant.name) not in linked]
    assert not missing, f"variants with paper figures that no leaderboard table row links to: {missing}"


def _write(tmp_path: Path, document: dict, name: str = "hallmen2024-broken") -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _valid() -> dict:
    document = json.loads((TABLES_DIR / "hallmen2024-emi.json").read_text(encoding="utf-8"))
    return document | {"name": "hallmen2024-broken"}


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d: d.pop("task"), "(top level): missing field 'task'"),
    (lambda d: d.update(name="other"), "name: expected the file's stem 'hallmen2024-broken'"),
    (lambda d: d.update(paper="wen2024"), "paper: expected the start of the table's name 'hallmen2024-broken'"),
    (lambda d: d.update(decimals=True), "decimals: expected an integer"),
    (lambda d: d["columns"].append({"key": "train", "label": "x"}), "columns[2].key"),
    (lambda d: d["rows"][3]["figures"].update(val="0.031"), "rows[3].figures.val: expected a number"),
    (lambda d: d["rows"][3]["figures"].update(val=31), "rows[3].figures.val: expected a number in [-1, 1]"),
    (lambda d: d["rows"][2]["figures"].pop("test"), "rows[2].figures: expected exactly the column keys"),
    (lambda d: d["rows"][1].pop("variant"), "rows[1]: 'system' and 'variant' go together"),
    (lambda d: d["rows"][0].update(sytem="x"), "rows[0].sytem: expected only the fields"),
    (lambda d: d["rows"][4].update(label="Baseline vision"), "rows[4].label: expected a label not used"),
    (lambda d: d.update(rows=[]), "rows: expected a non-empty list"),
])
def test_malformed_table_names_file_and_field(tmp_path: Path, mutate, field: str) -> None:
    document = _valid()
    mutate(document)
    path = _write(tmp_path, document)
    with pytest.raises(AbawError) as error:
        load_table(path)
    assert str(error.value).startswith(f"{path}: {field}")


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "hallmen2024-broken.json"
    path.write_text('{\n  "name": "hallmen2024-broken",\n  oops\n}', encoding="utf-8")
    with pytest.raises(AbawError, match=r"broken\.json: line 3, column 3: invalid JSON"):
        load_table(path)
