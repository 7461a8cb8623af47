"""scripts/benchmark.py: variants, speaker-count buckets and the per-file count table.

The pure functions run on synthetic scores; one end-to-end run diarizes two short
recordings of ``../shared/eval/sim`` (skipped when the shared data is absent).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from diarize.metrics import DiarizationScore
from conftest import EVAL

REPO = Path(__file__).resolve().parents[1]
SIM = EVAL / "sim"




def score(scored=10.0, missed=0.0, false_alarm=0.0, confusion=0.0, ref=2, hyp=2):
    return DiarizationScore(uri="f", scored=scored, missed=missed, false_alarm=false_alarm,
                            confusion=confusion, ref_speakers=ref, hyp_speakers=hyp)


def file_score(bench, name, ref, hyp, fair_error=0.0, full_error=0.0, scored=10.0, error=None):
    return bench.FileScore(name, {
        "fair": score(scored=scored, confusion=fair_error, ref=ref, hyp=hyp),
        "full": score(scored=scored, missed=full_error, ref=ref, hyp=hyp),
    }, error)


def folder_result(bench, files):
    """A FolderResult holding `files` (totals are not looked at by the tables tested)."""
    return bench.FolderResult(
        name="set", n_files=len(files), audio_seconds=60.0,
        scores=bench.aggregate(files).scores, per_file={}, exact=0.0, mae=0.0, rtf=0.01,
        peak_mb=100.0, failed=[], files=files, buckets=bench.bucket_scores(files))


# ------------------------------------------------------------------- buckets

@pytest.mark.parametrize("ref, bucket", [(0, "0"), (1, "1"), (2, "2"), (3, "3-4"), (4, "3-4"),
                                         (5, "5+"), (9, "5+")])
def test_count_bucket(bench, ref, bucket):
    assert bench.count_bucket(ref) == bucket


def test_aggregate_is_total_error_over_total_scored_time(bench):
    files = [file_score(bench, "a", ref=2, hyp=2, fair_error=1.0, scored=10.0),     # 10 %
             file_score(bench, "b", ref=3, hyp=5, fair_error=45.0, scored=90.0)]    # 50 %
    s = bench.aggregate(files)
    assert s.n_files == 2
    assert s.scores["fair"].der == pytest.approx(46.0)       # not the mean, 30 %
    assert s.scores["fair"].scored == pytest.approx(100.0)
    assert s.exact == pytest.approx(50.0) and s.mae == pytest.approx(1.0)


def test_aggregate_of_nothing(bench):
    s = bench.aggregate([])
    assert (s.n_files, s.exact, s.mae, s.scores["fair"].der) == (0, 0.0, 0.0, 0.0)


def test_bucket_scores_groups_by_reference_count_in_order(bench):
    files = [file_score(bench, "six", ref=6, hyp=4, fair_error=2.0, full_error=4.0),
             file_score(bench, "one", ref=1, hyp=1),
             file_score(bench, "three", ref=3, hyp=3, fair_error=1.0),
             file_score(bench, "four", ref=4, hyp=2, fair_error=3.0, scored=30.0),
             file_score(bench, "five", ref=5, hyp=5)]
    buckets = bench.bucket_scores(files)
    assert list(buckets) == ["1", "3-4", "5+"]            # no "2": empty buckets are left out
    assert [b.n_files for b in buckets.values()] == [1, 2, 2]
    assert buckets["3-4"].scores["fair"].der == pytest.approx(100.0 * 4.0 / 40.0)
    assert buckets["3-4"].exact == pytest.approx(50.0) and buckets["3-4"].mae == pytest.approx(1.0)
    assert buckets["5+"].scores["full"].der == pytest.approx(100.0 * 4.0 / 20.0)
    assert buckets["5+"].mae == pytest.approx(1.0)


# -------------------------------------------------------------------- tables

def two_variants(bench):
    a = [file_score(bench, "x|1.wav", ref=2, hyp=2, fair_error=1.0),
         file_score(bench, "y.wav", ref=4, hyp=4)]
    b = [file_score(bench, "x|1.wav", ref=2, hyp=3, fair_error=2.5),
         file_score(bench, "y.wav", ref=4, hyp=0, fair_error=10.0, error="RuntimeError: boom")]
    return {"base": folder_result(bench, a), "other": folder_result(bench, b)}


def test_count_table_marks_wrong_counts(bench):
    lines = bench.count_table(two_variants(bench))
    assert lines[0] == ("| file | ref spk | base spk | base fair DER | other spk | other fair DER |")
    assert lines[2] == "| x\\|1.wav | 2 | 2 | 10.00 | **3** | 25.00 |"
    assert lines[3] == "| y.wav | 4 | 4 | 0.00 | failed | 100.00 |"
    assert len(lines) == 4


def test_bucket_table_one_row_per_bucket_and_variant(bench):
    lines = bench.bucket_table(two_variants(bench))
    assert lines[0].split(" | ")[:3] == ["| ref speakers", "files", "variant"]
    assert [line.split(" | ")[:3] for line in lines[2:]] == [
        ["| 2", "1", "base"], ["| 2", "1", "other"], ["| 3-4", "1", "base"], ["| 3-4", "1", "other"]]
    assert lines[3] == "| 2 | 1 | other | 25.00 | 0.00 | 0.0 | 1.00 |"


def test_markdown_has_the_four_tables(bench):
    text = bench.markdown("set", two_variants(bench), jobs=1)
    assert text.startswith("### set (2 recordings, 1.0 min)")
    assert "#### set: by reference speaker count" in text
    assert "#### set: speaker count per file" in text
    assert "#### set: where the full-condition error is" in text
    rows = [line.split(" | ")[0] for line in text.splitlines()]
    assert rows.count("| base") == 2 and rows.count("| other") == 2       # totals, breakdown
    assert text.count("| base |") == 4                                   # and two buckets


def test_json_has_buckets_and_counts(bench):
    data = bench.to_json(two_variants(bench), {"other": {"cluster.link_method": "ubm"}}, jobs=2)
    assert data["base"]["overrides"] == {} and data["other"]["overrides"] == {"cluster.link_method": "ubm"}
    assert set(data["other"]["buckets"]) == {"2", "3-4"}
    assert data["other"]["buckets"]["2"]["files"] == 1
    assert data["other"]["buckets"]["2"]["total"]["fair"]["der"] == pytest.approx(25.0)
    assert data["other"]["speaker_counts"]["x|1.wav"] == {
        "ref_speakers": 2, "hyp_speakers": 3, "fair_der": pytest.approx(25.0), "full_der": 0.0,
        "failed": False}
    assert data["other"]["speaker_counts"]["y.wav"]["failed"] is True
    json.dumps(data)


# ------------------------------------------------------------------ variants

def test_parse_variant(bench):
    assert bench.parse_variant("bic-only:cluster.link_method=none") == (
        "bic-only", {"cluster.link_method": "none"})
    assert bench.parse_variant("v2: cluster.bic_penalty=0.2; reseg.iterations=0;") == (
        "v2", {"cluster.bic_penalty": 0.2, "reseg.iterations": 0})
    assert bench.parse_variant("base:") == ("base", {})


@pytest.mark.parametrize("text", ["no-colon", ":cluster.bic_penalty=1", "a/b:x=1", "..:x=1",
                                  "ok:cluster.bic_penalty"])
def test_parse_variant_rejects(bench, text):
    with pytest.raises(bench.UsageError, match="--variant"):
        bench.parse_variant(text)


def test_variant_overrides(bench):
    assert bench.variant_overrides([]) == {}
    assert bench.variant_overrides(["b:x=1", "a:"]) == {"b": {"x": 1}, "a": {}}
    assert list(bench.variant_overrides(["b:x=1", "a:"])) == ["b", "a"]
    with pytest.raises(bench.UsageError, match="twice"):
        bench.variant_overrides(["a:x=1", "a:x=2"])


@pytest.mark.parametrize("argv, message", [
    (["--variant", "bad:cluster.no_such_key=1"], "no_such_key"),
    (["--variant", "nocolon"], "--variant expects"),
])
def test_bad_variants_are_usage_errors(bench, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        bench.main([str(tmp_path)] + argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


# ---------------------------------------------------------------- end to end

@pytest.mark.slow
@pytest.mark.skipif(not SIM.is_dir(), reason="../shared/eval/sim is absent")
def test_two_variants_end_to_end(bench, tmp_path, capsys):
    folder = tmp_path / "tiny"
    folder.mkdir()
    for stem in ("dev000", "dev013"):          # 20 s with 2 speakers, 22 s with 3
        for suffix in (".flac", ".rttm", ".uem"):
            shutil.copy(SIM / f"{stem}{suffix}", folder)
    out = tmp_path / "out.json"
    rc = bench.main([str(folder), "--variant", "base:", "--variant", "two:num_speakers=2",
                     "--json", str(out), "--save-rttm", str(tmp_path / "rttm")])
    assert rc == 0
    text = capsys.readouterr().out
    for heading in ("### tiny (2 recordings", "#### tiny: by reference speaker count",
                    "#### tiny: speaker count per file"):
        assert heading in text
    assert "| file | ref spk | base spk | base fair DER | two spk | two fair DER |" in text
    row = next(line for line in text.splitlines() if line.startswith("| dev013.flac |"))
    assert row.split(" | ")[1] == "3" and row.split(" | ")[4] == "**2**"   # forced to 2: wrong
    data = json.loads(out.read_text())
    for variant in ("base", "two"):
        result = data["tiny"][variant]
        assert set(result["buckets"]) == {"2", "3-4"}
        assert {"files", "total", "speaker_count_exact", "speaker_count_mae"} <= set(result["buckets"]["2"])
        assert {f: c["ref_speakers"] for f, c in result["speaker_counts"].items()} == {
            "dev000.flac": 2, "dev013.flac": 3}
    assert data["tiny"]["two"]["overrides"] == {"num_speakers": 2}
    assert data["tiny"]["two"]["speaker_counts"]["dev013.flac"]["hyp_speakers"] == 2
    assert sorted(p.name for p in (tmp_path / "rttm").iterdir()) == ["base", "two"]
