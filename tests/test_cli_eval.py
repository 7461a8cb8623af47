"""``diarize eval``: formats, output file, errors and warnings."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from diarize.cli import main
from conftest import EVAL

SHARED = EVAL
SCORING = SHARED / "scoring"
KEYS = {"der", "jer", "missed", "false_alarm", "confusion", "scored", "ref_speakers", "hyp_speakers"}

REF = """\
SPEAKER f1 1 0 10 <NA> <NA> A <NA> <NA>
SPEAKER f1 1 5 10 <NA> <NA> B <NA> <NA>
SPEAKER f2 1 0 5 <NA> <NA> A <NA> <NA>
"""
HYP = """\
SPEAKER f1 1 0 10 <NA> <NA> x <NA> <NA>
SPEAKER f1 1 10 5 <NA> <NA> y <NA> <NA>
SPEAKER f2 1 0 5 <NA> <NA> s <NA> <NA>
"""


@pytest.fixture
def files(tmp_path):
    ref = tmp_path / "ref.rttm"
    hyp = tmp_path / "hyp.rttm"
    ref.write_text(REF)
    hyp.write_text(HYP)
    return ref, hyp


def run(*args):
    return CliRunner().invoke(main, ["eval", *map(str, args)])


def test_table(files):
    result = run("--ref", files[0], "--hyp", files[1])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["File", "DER%", "Miss%", "FA%", "Conf%", "Scored(s)", "Ref", "Hyp", "JER%"]
    # f1: missed 5 of 20 s (see test_metrics); f2 perfect; total 5 / 25 = 20 %
    row = {line.split()[0]: line.split() for line in lines if line and not line.startswith("-")}
    assert row["f1"][1:6] == ["25.00", "25.00", "0.00", "0.00", "20.00"]
    assert row["f2"][1] == "0.00"
    # the total counts files (2 with a reference, 2 with an output), not speakers
    assert row["TOTAL"][1:] == ["20.00", "20.00", "0.00", "0.00", "25.00", "2", "2", "16.67"]
    assert lines[-1].startswith("Ref/Hyp: ") and "JER: Jaccard error rate" in lines[-1]
    assert result.stderr == ""


def test_only_scored_leaves_out_references_without_output(files, tmp_path):
    ref, hyp = files
    ref.write_text(REF + "SPEAKER f3 1 0 50 <NA> <NA> A <NA> <NA>\n")
    all_files = run("--ref", ref, "--hyp", hyp)
    only = run("--ref", ref, "--hyp", hyp, "--only-scored")
    assert all_files.exit_code == only.exit_code == 0, only.output
    rows_all = {line.split()[0]: line.split() for line in all_files.stdout.splitlines()}
    rows_only = {line.split()[0]: line.split() for line in only.stdout.splitlines()}
    assert "f3" in rows_all and "f3" not in rows_only
    assert rows_all["TOTAL"][1] == f"{100 * 55 / 75:.2f}"  # f3's 50 s all missed
    assert rows_only["TOTAL"][1] == "20.00"  # as if f3 were not in the reference
    assert rows_all["TOTAL"][6:8] == ["3", "2"] and rows_only["TOTAL"][6:8] == ["2", "2"]
    assert "f3 (channel 1): no hypothesis" in all_files.stderr
    assert only.stderr.count("\n") == 1 and "1 of 3 reference files" in only.stderr
    assert "(f3)" in only.stderr and "warning" not in only.stderr


def test_show_mapping_in_every_format(files):
    table = run("--ref", files[0], "--hyp", files[1], "--show-mapping")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    at = lines.index("speaker mapping (reference = output; -: none):")
    assert lines[at + 1:] == ["  f1: A = x, B = y", "  f2: A = s"]
    data = json.loads(run("--ref", files[0], "--hyp", files[1], "--show-mapping",
                          "--format", "json").stdout)
    assert data["files"]["f2"]["mapping"] == [{"reference": "A", "output": "s"}]
    assert "mapping" not in data["total"]
    rows = list(csv.DictReader(io.StringIO(run("--ref", files[0], "--hyp", files[1],
                                               "--show-mapping", "--format", "csv").stdout)))
    assert [r["mapping"] for r in rows] == ["A=x B=y", "A=s", ""]
    plain = json.loads(run("--ref", files[0], "--hyp", files[1], "--format", "json").stdout)
    assert "mapping" not in plain["files"]["f1"]  # the JSON is unchanged without the option


def test_show_mapping_names_unmatched_speakers(tmp_path):
    ref, hyp = tmp_path / "r.rttm", tmp_path / "h.rttm"
    ref.write_text("SPEAKER f 1 0 5 <NA> <NA> A <NA> <NA>\nSPEAKER f 1 5 5 <NA> <NA> B <NA> <NA>\n")
    hyp.write_text("SPEAKER f 1 0 10 <NA> <NA> x <NA> <NA>\nSPEAKER f 1 20 1 <NA> <NA> z <NA> <NA>\n")
    out = run("--ref", ref, "--hyp", hyp, "--show-mapping").stdout
    assert out.splitlines()[-1] in ("  f: A = x, B = -, - = z", "  f: B = x, A = -, - = z")


def test_the_new_options_are_in_the_help():
    text = run("--help").stdout
    assert "--only-scored" in text and "--show-mapping" in text


def test_json(files):
    result = run("--ref", files[0], "--hyp", files[1], "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert set(data) == {"files", "total"}
    assert set(data["files"]) == {"f1", "f2"}
    assert set(data["files"]["f1"]) == KEYS and set(data["total"]) == KEYS
    assert data["total"]["der"] == pytest.approx(20.0)
    assert data["files"]["f1"]["scored"] == pytest.approx(20.0)
    assert data["total"]["ref_speakers"] == 3


def test_csv(files):
    result = run("--ref", files[0], "--hyp", files[1], "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["file"] for r in rows] == ["f1", "f2", "TOTAL"]
    assert float(rows[-1]["der"]) == pytest.approx(20.0)


def test_output_file(files, tmp_path):
    out = tmp_path / "report.json"
    result = run("--ref", files[0], "--hyp", files[1], "--format", "json", "-o", out)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert json.loads(out.read_text())["total"]["der"] == pytest.approx(20.0)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []   # no temp file left


def test_output_directory_missing(files, tmp_path):
    result = run("--ref", files[0], "--hyp", files[1], "-o", tmp_path / "nope" / "r.txt")
    assert result.exit_code == 1
    assert result.stderr.startswith("diarize: error: ")
    assert "Traceback" not in result.output


def test_collar_and_skip_overlap(files):
    # f1 with -1: [5,10] dropped -> no error left
    result = run("--ref", files[0], "--hyp", files[1], "--skip-overlap", "--collar", "0.25", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["total"]["der"] == pytest.approx(0.0, abs=1e-9)


def test_uem_option(files, tmp_path):
    uem = tmp_path / "x.uem"
    uem.write_text("f1 1 0 5\nf2 1 0 5\n")        # f1 [0,5]: A only, correct
    result = run("--ref", files[0], "--hyp", files[1], "--uem", uem, "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["total"] == pytest.approx(
        {"der": 0.0, "jer": 0.0, "missed": 0.0, "false_alarm": 0.0, "confusion": 0.0,
         "scored": 10.0, "ref_speakers": 2, "hyp_speakers": 2})


def test_directories(files, tmp_path):
    refs, hyps = tmp_path / "refs", tmp_path / "hyps"
    refs.mkdir()
    hyps.mkdir()
    (refs / "a.rttm").write_text(REF)
    (hyps / "b.rttm").write_text(HYP)
    result = run("--ref", refs, "--hyp", hyps, "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["total"]["der"] == pytest.approx(20.0)


def test_malformed_rttm_is_one_line_error(files, tmp_path):
    bad = tmp_path / "bad.rttm"
    bad.write_text("SPEAKER f1 1 0 10 <NA> <NA> x <NA> <NA>\nSPEAKER f1 1 0 -3 <NA> <NA> x <NA> <NA>\n")
    result = run("--ref", files[0], "--hyp", bad)
    assert result.exit_code == 1
    assert result.stderr == f"diarize: error: {bad}:2: negative duration -3\n"
    assert result.stdout == ""


def test_malformed_uem(files, tmp_path):
    uem = tmp_path / "x.uem"
    uem.write_text("f1 1 5\n")
    result = run("--ref", files[0], "--hyp", files[1], "--uem", uem)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"diarize: error: {uem}:1: ")


def test_missing_input(files, tmp_path):
    result = run("--ref", tmp_path / "nope.rttm", "--hyp", files[1])
    assert result.exit_code == 1
    assert result.stderr.startswith("diarize: error: ") and "no such file" in result.stderr


def test_negative_collar_is_usage_error(files):
    result = run("--ref", files[0], "--hyp", files[1], "--collar", "-0.5")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_missing_required_option():
    result = run("--ref", "x.rttm")
    assert result.exit_code == 2


def test_hypothesis_only_file_warns(files, tmp_path):
    hyp = tmp_path / "more.rttm"
    hyp.write_text(HYP + "SPEAKER extra 1 0 5 <NA> <NA> s <NA> <NA>\n")
    result = run("--ref", files[0], "--hyp", hyp)
    assert result.exit_code == 0
    assert "diarize: warning: extra (channel 1): in the hypothesis but not in the reference" in result.stderr
    assert "extra" not in result.stdout


def test_md_eval_region_records_in_the_reference_are_named_in_a_warning(tmp_path):
    # NOSCORE and LEXEME lines change md-eval's scored region; only SPEAKER lines are read
    # here, so the user is told, once per file, and the score is that of the SPEAKER lines.
    ref = tmp_path / "ref.rttm"
    ref.write_text("SPEAKER f 1 0 10 <NA> <NA> A <NA> <NA>\n"
                   "NOSCORE f 1 2 2 <NA> <NA> <NA> <NA>\n"
                   "LEXEME f 1 0 6 hello lex A <NA>\nLEXEME f 1 6 1 so lex A <NA>\n"
                   "SPKR-INFO f 1 <NA> <NA> <NA> unknown A <NA> <NA>\n")
    hyp = tmp_path / "hyp.rttm"
    hyp.write_text("SPEAKER f 1 0 2 <NA> <NA> X <NA> <NA>\nSPEAKER f 1 4 6 <NA> <NA> X <NA> <NA>\n")
    result = run("--ref", ref, "--hyp", hyp, "--format", "json")
    assert result.exit_code == 0
    warned = [line for line in result.stderr.splitlines() if "not used" in line]
    assert len(warned) == 1 and "1 NOSCORE, 2 LEXEME" in warned[0] and "SPKR-INFO" not in warned[0]
    assert json.loads(result.stdout)["total"]["der"] == pytest.approx(20.0)
    # a hypothesis with such records is not a reference: nothing to say
    result = run("--ref", hyp, "--hyp", ref)
    assert result.exit_code == 0 and "not used" not in result.stderr


@pytest.mark.skipif(not (SCORING / "ref.rttm").exists(), reason="shared/eval/scoring not present")
def test_dscore_fixture_through_the_cli(tmp_path):
    uem = tmp_path / "file1.uem"
    uem.write_text("FILE1 1 0 43\n")
    result = run("--ref", SCORING / "ref.rttm", "--hyp", SCORING / "sys.rttm", "--uem", uem, "--format", "json")
    assert result.exit_code == 0
    total = json.loads(result.stdout)["total"]
    assert total["der"] == pytest.approx(26.39309, abs=1e-4)
    assert total["jer"] == pytest.approx(33.24631, abs=1e-4)


@pytest.mark.skipif(not (SHARED / "real").is_dir(), reason="shared/eval/real not present")
def test_reference_against_itself_non_ascii(tmp_path):
    out = tmp_path / "r.json"
    result = run("--ref", SHARED / "real", "--hyp", SHARED / "real", "--uem", SHARED / "real",
                 "--format", "json", "-o", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert "trñ00" in data["files"]
    assert data["total"]["der"] == 0.0 and data["total"]["jer"] == 0.0
