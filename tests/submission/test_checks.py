"""One test (or a few) per validator check: the check fires on its case, names the line, what it expected and what it
found, and does not fire on a valid file."""

from __future__ import annotations

import codecs

import pytest
from abaw_bench.harness.submission import ValidationReport


def only(report: ValidationReport, check: str) -> list:
    found = [p for p in report.problems if p.check == check]
    assert found, f"expected a {check!r} problem, got {[p.check for p in report.problems]}"
    return found


@pytest.mark.parametrize(("task", "level"), [("emi", None), ("bah", "frame"), ("bah", "video"), ("va", None),
                                             ("expr", None)])
def test_valid_files_have_no_problems(check, valid_text, task, level):
    report = check(task, valid_text(task, level), level=level)
    assert report.ok and report.problems == [], report.render()
    assert report.table is not None and len(report.table) == len(report.table.ids) > 0


def test_crlf_and_missing_final_newline_are_accepted(check, valid_text):
    text = valid_text("va").rstrip("\n").replace("\n", "\r\n")
    report = check("va", text)
    assert report.ok and report.problems == []


def test_file_size_limit_explicit_and_default(check, valid_text):
    report = check("emi", valid_text("emi"), max_bytes=50)
    problem = only(report, "file-size")[0]
    assert "at most 50 bytes" in problem.expected and "bytes" in problem.found
    enormous = valid_text("emi") + "\n" * (3 * 2**20)  # 3 MiB of blank lines: far beyond 6 rows' default limit
    assert not check("emi", enormous).ok
    assert only(check("emi", enormous), "file-size")


@pytest.mark.parametrize("content", [b"", b"\n \r\n\t\n"])
def test_empty_file(check, content):
    problem = only(check("emi", content), "empty")[0]
    assert "empty" in problem.found or "whitespace" in problem.found


@pytest.mark.parametrize(("encode", "name"), [(lambda t: t.encode("utf-16"), "UTF-16"),
                                              (lambda t: t.encode("utf-32"), "UTF-32")])
def test_utf16_and_utf32_boms_are_clear_errors(check, valid_text, encode, name):
    report = check("va", encode(valid_text("va")))
    problem = only(report, "encoding")[0]
    assert name in problem.found and problem.expected == "UTF-8 text" and problem.line == 1
    assert len(report.problems) == 1  # no cascade of follow-on complaints


def test_undecodable_bytes_name_line_and_offset(check, valid_text):
    data = valid_text("va").encode()
    lines = data.split(b"\n")
    lines[2] = lines[2].replace(b"-0.5", b"-0\xe9")  # Latin-1 é on line 3
    data = b"\n".join(lines)
    offset = data.index(b"\xe9")
    problem = only(check("va", data), "encoding")[0]
    assert problem.line == 3
    assert f"byte offset {offset}" in problem.found and "e9" in problem.found


def test_utf8_bom_is_a_warning_only(check, valid_text):
    report = check("emi", codecs.BOM_UTF8 + valid_text("emi").encode())
    assert report.ok
    assert only(report, "encoding")[0].severity == "warning"


def test_nul_bytes_are_binary(check, valid_text):
    data = valid_text("emi").encode()
    data = data.replace(b"0.3", b"0\x003", 1)  # first data row = line 2
    problem = only(check("emi", data), "binary")[0]
    assert problem.line == 2 and "NUL" in problem.found


def test_utf16_without_bom_gets_a_hint(check, valid_text):
    problem = only(check("emi", valid_text("emi").encode("utf-16-le")), "binary")[0]
    assert "UTF-16" in problem.found


def test_bare_cr_line_breaks(check, valid_text):
    problem = only(check("va", valid_text("va").replace("\n", "\r")), "line-endings")[0]
    assert problem.line == 1 and "CR" in problem.found


def test_wrong_header(check, valid_text, headers):
    text = valid_text("emi").replace("Empathic Pain", "EmpathicPain")
    problem = only(check("emi", text), "header")[0]
    assert problem.line == 1 and headers["emi"] in problem.expected and "EmpathicPain" in problem.found


def test_missing_header_keeps_the_first_row(check, valid_text):
    text = valid_text("va").split("\n", 1)[1]
    report = check("va", text)
    assert "header is missing" in only(report, "header")[0].found
    assert [p.check for p in report.problems] == ["header"]  # line 1 was still read as data: no id missing


def test_expr_header_names_eight_classes_but_rows_hold_one_index(check, valid_text):
    report = check("expr", valid_text("expr"))
    assert report.ok and report.table.values.shape == (6, 1)
    one_hot = valid_text("expr").replace("/00001.jpg,0", "/00001.jpg,1,0,0,0,0,0,0,0")
    problem = only(check("expr", one_hot), "column-count")[0]
    assert problem.line == 2 and "2 fields" in problem.expected and "9 fields" in problem.found


def test_headerless_format_with_a_header(check, valid_text):
    report = check("bah", "video,label\n" + valid_text("bah", "frame"), level="frame")
    problem = only(report, "header")[0]
    assert problem.line == 1 and "no header" in problem.expected and "video,label" in problem.found
    assert [p.check for p in report.problems] == ["header"]


def test_column_count_and_interior_blank_line(check, valid_text):
    lines = valid_text("va").splitlines()
    lines[2] += ",0.1"
    lines.insert(4, "")
    problems = only(check("va", "\n".join(lines)), "column-count")
    assert len(problems) == 1 and problems[0].line == 3 and problems[0].count == 2  # one kind: one record
    assert "3 fields" in problems[0].expected
    assert "line 3: 4 fields" in problems[0].found and "line 5: an empty line" in problems[0].found


def test_ids_missing_extra_duplicated(check, valid_text, references):
    lines = valid_text("emi").splitlines()
    lines[2] = lines[2].replace("08073", "99999")  # 08073 missing, 99999 extra (line 3)
    lines.append(lines[1].replace("08072", "8072"))  # 08072 again, without leading zero (line 8)
    report = check("emi", "\n".join(lines))
    missing = only(report, "ids-missing")[0]
    assert missing.line is None and "1 missing" in missing.found and "'08073'" in missing.found
    assert "6 reference" in missing.expected
    extra = only(report, "ids-extra")[0]
    assert extra.line == 3 and "'99999' (line 3)" in extra.found
    duplicated = only(report, "ids-duplicated")[0]
    assert duplicated.line == 8 and "'08072' at lines 2, 8" in duplicated.found


def test_many_missing_ids_are_counted_not_listed(check, valid_text):
    reference = [f"v/{i:05d}.jpg" for i in range(1, 4001)]
    report = check("va", "image_location,valence,arousal\nv/00001.jpg,0,0\n", reference=reference)
    problems = only(report, "ids-missing")
    assert len(problems) == 1 and "3,999 missing" in problems[0].found and problems[0].found.endswith(", …")
    assert len(problems[0].found) < 200


def test_emi_ids_without_leading_zeros_any_order(check, valid_text):
    lines = valid_text("emi").splitlines()
    body = [line.lstrip("0") for line in lines[1:]][::-1]
    report = check("emi", "\n".join([lines[0], *body]))
    assert report.ok and report.problems == []
    assert sorted(report.table.ids) == sorted(f"{i:05d}" for i in range(8072, 8078))


def test_id_format(check, valid_text):
    text = valid_text("emi").replace("08072,", "clip8072,")
    problem = only(check("emi", text), "id-format")[0]
    assert problem.line == 2 and "5 digits" in problem.expected and "clip8072" in problem.found


def test_row_order_where_fixed(check, valid_text):
    lines = valid_text("va").splitlines()
    lines[2], lines[3] = lines[3], lines[2]
    report = check("va", "\n".join(lines))
    problem = only(report, "row-order")[0]
    assert problem.line == 3 and "00002.jpg" in problem.expected and "00003.jpg" in problem.found
    assert "2 of 6 rows" in problem.found
    assert [p.check for p in report.problems] == ["row-order"]


def test_row_order_not_confused_by_a_missing_row(check, valid_text):
    lines = valid_text("va").splitlines()
    del lines[3]
    assert [p.check for p in check("va", "\n".join(lines)).problems] == ["ids-missing"]


@pytest.mark.parametrize(("task", "level", "old", "new", "expected"), [
    ("emi", None, "0.3", "high", "Determination as a number"),
    ("expr", None, "/00003.jpg,2", "/00003.jpg,2.5", "expression as an integer"),
    ("bah", "frame", "frame-00001.jpg,1", "frame-00001.jpg,0.7", "pred as an integer"),
])
def test_value_type(check, valid_text, task, level, old, new, expected):
    report = check(task, valid_text(task, level).replace(old, new, 1), level=level)
    problem = only(report, "value-type")[0]
    assert expected in problem.expected and new.rsplit(",", 1)[-1] in problem.found and problem.line > 0
    assert report.table is None


@pytest.mark.parametrize("bad", ["nan", "inf", "-Infinity"])
def test_nan_and_inf(check, valid_text, bad):
    problem = only(check("va", valid_text("va").replace("0.25", bad, 1)), "nan-inf")[0]
    assert problem.line == 2 and "finite" in problem.expected and bad in problem.found


def test_range(check, valid_text):
    report = check("emi", valid_text("emi").replace("0.6\n", "1.5\n", 1))
    problem = only(report, "range")[0]
    assert problem.line == 2 and "Joy in [0, 1]" in problem.expected and "1.5" in problem.found
    va = only(check("va", valid_text("va").replace("-0.5", "-1.01", 1)), "range")[0]
    assert "valence in [-1, 1]" in va.expected


def test_repeated_problems_are_summarised_in_one_line(check):
    reference = [f"v/{i:05d}.jpg" for i in range(1, 101)]
    text = "image_location,valence,arousal\n" + "".join(f"{r},2,0\n" for r in reference)
    report = check("va", text, reference=reference)
    problem, = only(report, "range")
    assert problem.line == 2 and problem.count == 100 and problem.to_json()["count"] == 100
    assert problem.found.startswith("100 lines with this problem, the first: line 2: '2'; line 3: '2'; line 4: '2'")
    assert problem.found.endswith("; …") and "line 5" not in problem.found
    assert len([line for line in report.render() if "[range]" in line]) == 1


def test_bah_probability_sum_with_tolerance(check, valid_text):
    text = valid_text("bah", "video")
    problem = only(check("bah", text.replace("0.25,0.75", "0.3,0.75", 1), level="video"), "probability-sum")[0]
    assert problem.line == 1 and "1e-06" in problem.expected and "0.3 + 0.75" in problem.found


def test_bah_probability_sum_not_exactly_one_is_a_warning_naming_the_organisers(check, valid_text):
    text = valid_text("bah", "video").replace("0.25,0.75", "0.2500004,0.75", 1)
    text = text.replace("0.25,0.75", "0.25,0.7500000001", 1)  # within 1e-6 of 1, but not 1: the organisers' == fails
    report = check("bah", text, level="video")
    problem, = only(report, "probability-sum")
    assert report.ok and problem.severity == "warning" and problem.count == 2 and problem.line == 1
    assert "exactly" in problem.expected and "organisers" in problem.expected and "1 - p1" in problem.expected


def test_bah_video_ids_without_the_release_prefix_are_accepted_with_one_warning(check, references):
    videos = references[("bah", "video")]
    report = check("bah", "".join(f"{v},0.25,0.75,1\n" for v in videos), level="video")
    problem, = report.problems
    assert report.ok and problem.check == "id-spelling" and problem.severity == "warning" and problem.line == 1
    assert f"'Videos/{videos[0]}'" in problem.expected
    assert "3 id(s)" in problem.found and "organisers' validator compares ids in full" in problem.found
    spelt = check("bah", "".join(f"Videos/{v},1\n" for v in videos), level="video")
    assert spelt.ok and spelt.problems == [] and spelt.table.ids == videos  # canonical ids inside


def test_bah_pred_against_argmax_is_a_warning(check, valid_text):
    report = check("bah", valid_text("bah", "video").replace("0.25,0.75,1", "0.25,0.75,0", 1), level="video")
    assert report.ok
    assert only(report, "pred-argmax")[0].severity == "warning"


def test_bah_video_ids_compared_in_full(check, references):
    videos = references[("bah", "video")]
    same_first_character = [video.replace("Question_1", "Question_9") for video in videos]
    report = check("bah", "".join(f"{v},1\n" for v in same_first_character), level="video")
    assert only(report, "ids-missing") and only(report, "ids-extra")


def test_bah_video_short_layout_and_mixed_layouts(check, references):
    videos = references[("bah", "video")]
    assert check("bah", "".join(f"{v},1\n" for v in videos), level="video").ok
    mixed = f"{videos[0]},0.5,0.5,1\n{videos[1]},1\n{videos[2]},0.1,0.9,1\n"
    problem = only(check("bah", mixed, level="video"), "column-count")[0]
    assert problem.line == 2 and "as on the first data line" in problem.expected


def test_bah_paths_under_the_release_prefix_match(check, references):
    frames = references[("bah", "frame")]
    text = "".join(f"./cropped-aligned-faces/{frame},0\n" for frame in frames)
    assert check("bah", text, level="frame").ok


def test_bah_level_detected_from_the_lines(check, valid_text, references):
    frame = check("bah", valid_text("bah", "frame"), reference=references[("bah", "frame")])
    video = check("bah", valid_text("bah", "video"), reference=references[("bah", "video")])
    assert (frame.level, frame.level_source) == ("frame", "detected")
    assert (video.level, video.level_source) == ("video", "detected")
    assert "level video (detected: 3 of 3 non-blank lines look like video-level rows)" in video.summary()
    assert frame.ok and video.ok


def test_missing_file_and_directory(tmp_path):
    from abaw_bench.harness.submission import validate_file

    missing = validate_file("emi", tmp_path / "nope.csv", ["00001"])
    assert not missing.ok and missing.problems[0].check == "file"
    directory = validate_file("emi", tmp_path, ["00001"])
    assert "directory" in directory.problems[0].found


def test_rendering_and_json(check, valid_text):
    report = check("emi", valid_text("emi").replace("0.6\n", "1.5\n", 1))
    lines = report.render()
    assert lines[0].endswith("sub.csv:2: [range] expected Joy in [0, 1], found '1.5'")
    assert "INVALID: 1 error(s), 0 warning(s)" in lines[-1]
    body = report.to_json()
    assert body["ok"] is False and body["errors"] == 1
    assert body["problems"] == [{"check": "range", "severity": "error", "line": 2, "count": 1,
                                 "expected": "Joy in [0, 1]", "found": "'1.5'"}]


@pytest.mark.parametrize("cell", ["1_0", "\u0661", "0x1", "", "1,5"])
def test_only_plain_ascii_numbers(check, valid_text, cell):
    report = check("va", valid_text("va").replace("-0.5", cell, 1))
    assert not report.ok and report.problems[0].line == 2


def test_huge_quoted_field_is_reported_not_raised(check, valid_text):
    report = check("va", valid_text("va") + '"' + "a" * 200_000 + "\n")
    assert only(report, "column-count")[0].line == 8


def test_bah_frame_file_with_a_broken_first_line_is_judged_at_frame_level(check, valid_text, references):
    report = check("bah", "garbage, not a frame\n" + valid_text("bah", "frame"), reference=references[("bah", "frame")])
    assert (report.level, report.level_source) == ("frame", "detected")
    assert report.level_reason == "detected: 6 of 7 non-blank lines look like frame-level rows"
    assert [(p.check, p.line) for p in report.problems] == [("header", 1)]  # the broken line alone, no unknown ids


def test_level_is_detected_from_the_whole_file_and_picks_that_levels_reference(tmp_path, valid_text, references):
    from abaw_bench.harness.submission import validate_file

    rows = {"frame": references[("bah", "frame")], "video": references[("bah", "video")]}
    path = tmp_path / "video.txt"
    path.write_text("p01/Visite_1/p01_Question_1_Video.mp4/frame-00000.jpg,1\n" + valid_text("bah", "video"))
    report = validate_file("bah", path, rows.__getitem__)
    assert (report.level, report.reference_rows) == ("video", 3)
    assert "level video (detected: 3 of 4 non-blank lines look like video-level rows)" in report.summary()
    assert report.to_json()["level_reason"] == report.level_reason


def test_a_file_refused_before_reading_reports_the_level_whose_limit_was_checked(tmp_path, references):
    from abaw_bench.harness.submission import default_max_bytes, get_format, validate_file

    videos = references[("bah", "video")]
    limits = {level: default_max_bytes(get_format("bah", level), videos) for level in ("frame", "video")}
    checked = max(limits, key=limits.__getitem__)
    path = tmp_path / "huge.txt"
    path.write_bytes(b"x" * (limits[checked] + 1))
    report = validate_file("bah", path, videos)
    assert (report.level, report.level_source) == (checked, "size-limit") and checked in report.level_reason
    assert [p.check for p in report.problems] == ["file-size"]
    assert f"at most {limits[checked]:,} bytes" in report.problems[0].expected and report.file_sha256 is None
    given = validate_file("bah", path, videos, level="frame")
    assert (given.level, given.level_source) == ("frame", "given")
    assert f"at most {limits['frame']:,} bytes" in given.problems[0].expected


def test_a_file_over_its_detected_levels_limit_names_that_level(tmp_path, references):
    from abaw_bench.harness.submission import default_max_bytes, get_format, validate_file

    videos = references[("bah", "video")]
    frame_limit = default_max_bytes(get_format("bah", "frame"), videos)
    assert frame_limit < default_max_bytes(get_format("bah", "video"), videos)
    frame_row = b"p01/Visite_1/p01_Question_1_Video.mp4/frame-00000.jpg,1\n"
    path = tmp_path / "frames.txt"
    path.write_bytes(frame_row * (frame_limit // len(frame_row) + 1))
    report = validate_file("bah", path, videos)
    assert (report.level, report.level_source) == ("frame", "detected")
    assert [p.check for p in report.problems] == ["file-size"]
    assert f"at most {frame_limit:,} bytes for the frame level" in report.problems[0].expected
