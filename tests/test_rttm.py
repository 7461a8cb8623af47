"""RTTM and UEM readers (md-eval's parsing rules) and the round trip with the writer."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diarize.errors import RTTMError
from diarize.names import sanitize_field
from diarize.rttm import FileKey, read_rttm, read_uem
from diarize.writers import write_rttm
from diarize.segments import Turn
from conftest import EVAL

SHARED = EVAL
ROUND_TRIP_TOLERANCE = 0.001  # format_rttm writes milliseconds


def write(tmp_path: Path, text: str | bytes, name: str = "x.rttm") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------ RTTM

def test_read_rttm_skips_comments_blanks_and_other_types(tmp_path):
    path = write(tmp_path, """\
# a comment
;; another one

SPKR-INFO f 1 <NA> <NA> <NA> unknown A <NA> <NA>
SPEAKER f 1 1.5 2.0 <NA> <NA> A <NA> <NA>
   SPEAKER  f\t1 0.25   1 <NA> <NA> B <NA>
LEXEME f 1 0.3 0.1 hello lex A <NA> <NA>
speaker g 2 0 1 <NA> <NA> A <NA> <NA> extra fields are fine
""")
    got = read_rttm(path)
    assert got == {
        FileKey("f", "1"): [Turn(1.5, 3.5, "A"), Turn(0.25, 1.25, "B")],
        FileKey("g", "2"): [Turn(0.0, 1.0, "A")],
    }


def test_read_rttm_zero_and_na_durations_are_kept(tmp_path):
    path = write(tmp_path, "SPEAKER f 1 2 0 <NA> <NA> A <NA> <NA>\n"
                           "SPEAKER f 1 3 <NA> <NA> <NA> B <NA> <NA>\n")
    assert read_rttm(path)[FileKey("f")] == [Turn(2, 2, "A"), Turn(3, 3, "B")]


def test_read_rttm_end_is_onset_plus_duration(tmp_path):
    # md-eval computes TEND = TBEG + TDUR in doubles; so do we
    path = write(tmp_path, "SPEAKER f 1 0.678 1.533 <NA> <NA> A <NA> <NA>\n")
    assert read_rttm(path)[FileKey("f")][0].end == 0.678 + 1.533


def test_read_rttm_channel_is_lower_cased(tmp_path):
    path = write(tmp_path, "SPEAKER f A 0 1 <NA> <NA> S <NA> <NA>\n")
    assert list(read_rttm(path)) == [FileKey("f", "a")]


def test_read_rttm_non_ascii(tmp_path):
    path = write(tmp_path, "SPEAKER trñ00 1 0 1 <NA> <NA> MÉO069 <NA> <NA>\n"
                           "SPEAKER 会議\u00a01 1 1 1 <NA> <NA> 話者 <NA> <NA>\n")
    got = read_rttm(path)
    assert got[FileKey("trñ00")] == [Turn(0, 1, "MÉO069")]
    # a non-breaking space is not a field separator (md-eval splits bytes on ASCII space)
    assert got[FileKey("会議\u00a01")] == [Turn(1, 2, "話者")]


def test_read_rttm_directory(tmp_path):
    write(tmp_path, "SPEAKER a 1 0 1 <NA> <NA> A <NA> <NA>\n", "a.rttm")
    write(tmp_path, "SPEAKER b 1 0 1 <NA> <NA> A <NA> <NA>\nSPEAKER a 1 5 1 <NA> <NA> B <NA> <NA>\n", "b.RTTM")
    write(tmp_path, "not an rttm", "notes.txt")
    got = read_rttm(tmp_path)
    assert got == {FileKey("a"): [Turn(0, 1, "A"), Turn(5, 6, "B")], FileKey("b"): [Turn(0, 1, "A")]}


@pytest.mark.skipif(not (SHARED / "real").is_dir(), reason="shared/eval not present")
def test_read_rttm_shared_real_folder():
    got = read_rttm(SHARED / "real")
    assert FileKey("trñ00") in got
    assert "MÉO069" in {t.speaker for t in got[FileKey("trñ00")]}
    assert all(key.uri == path.stem for key, path in
               zip(sorted(got), sorted((SHARED / "real").glob("*.rttm"), key=lambda p: p.stem)))


@pytest.mark.parametrize("line, problem", [
    ("SPEAKER f 1 0 1 <NA> <NA> A", "at least 9 fields"),
    ("SPEAKER f 1 0 -1 <NA> <NA> A <NA>", "negative duration"),
    ("SPEAKER f 1 -2 1 <NA> <NA> A <NA>", "negative onset"),
    ("SPEAKER f 1 zero 1 <NA> <NA> A <NA>", "onset is not a number"),
    ("SPEAKER f 1 0 nan <NA> <NA> A <NA>", "duration is not a number"),
    ("SPEAKER f 1 0 1e999 <NA> <NA> A <NA>", "out of range"),
    ("SPEAKER f 1 0 1_0 <NA> <NA> A <NA>", "not a number"),
    ("SPEEKER f 1 0 1 <NA> <NA> A <NA>", "unknown RTTM record type"),
    ("f 1 0 10", "at least 9 fields"),
])
def test_read_rttm_malformed_line_names_file_and_line(tmp_path, line, problem):
    path = write(tmp_path, "SPEAKER f 1 0 1 <NA> <NA> A <NA> <NA>\n# ok\n" + line + "\n")
    with pytest.raises(RTTMError, match=problem) as info:
        read_rttm(path)
    assert str(info.value).startswith(f"{path}:3: ")


def test_read_rttm_bad_utf8(tmp_path):
    path = write(tmp_path, b"SPEAKER f 1 0 1 <NA> <NA> A <NA> <NA>\nSPEAKER \xff 1 0 1 <NA> <NA> A <NA> <NA>\n")
    with pytest.raises(RTTMError, match=r":2: not valid UTF-8"):
        read_rttm(path)


def test_read_rttm_missing_path(tmp_path):
    with pytest.raises(RTTMError, match="no such file"):
        read_rttm(tmp_path / "nope.rttm")


def test_read_rttm_empty_file(tmp_path):
    assert read_rttm(write(tmp_path, "")) == {}


# ------------------------------------------------------------------------- UEM

@pytest.mark.skipif(not (SHARED / "scoring").is_dir(), reason="shared/eval not present")
def test_read_uem_shared_file():
    # two regions for FILE1, a comment line, FILE2 on the last line without a newline
    assert read_uem(SHARED / "scoring" / "test_load.uem") == {
        FileKey("FILE1", "1"): [(0.0, 15.0), (25.0, 30.4)],
        FileKey("FILE2", "1"): [(4.5, 13.24)],
    }


def test_read_uem_sorts_and_keeps_ids_whole(tmp_path):
    path = write(tmp_path, "rec.1 1 5 6\n# c\nrec.1 1 0 2\nrec.1 B 0 1\n", "x.uem")
    assert read_uem(path) == {FileKey("rec.1", "1"): [(0.0, 2.0), (5.0, 6.0)],
                              FileKey("rec.1", "b"): [(0.0, 1.0)]}


@pytest.mark.parametrize("line, problem", [
    ("f 1 0", "at least 4"),
    ("f 1 2 1", "does not end after it starts"),
    ("f 1 1 1", "does not end after it starts"),
    ("f 1 -1 1", "negative start"),
    ("f 1 a 1", "not a number"),
    ("f 1 0.5 3", "overlaps"),
])
def test_read_uem_malformed(tmp_path, line, problem):
    path = write(tmp_path, "f 1 0 1\n" + line + "\n", "x.uem")
    with pytest.raises(RTTMError, match=problem) as info:
        read_uem(path)
    assert str(info.value).startswith(f"{path}:2: ")


# ------------------------------------------------------------ property-based

FIELD = st.one_of(
    st.sampled_from(["SPEAKER", "speaker", "SPKR-INFO", "LEXEME", "<NA>", "<na>", "1", "A",
                     "0", "-1", "1.5", "1e3", "nan", "inf", "*1.0", ".5", "5.", "#", ";"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(min_size=1, max_size=8),
)
LINE = st.one_of(
    st.text(max_size=80),
    st.lists(FIELD, max_size=12).map(" ".join),
)
SEP = st.sampled_from(["\n", "\r\n", "\r", "\u2028", "\x85", "\x0b"])


def _read_text(reader, data: bytes, suffix: str):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"x{suffix}"
        path.write_bytes(data)
        try:
            reader(path)
        except RTTMError:
            pass


@pytest.mark.slow
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(LINE, SEP), max_size=8))
def test_rttm_parser_raises_only_rttm_error(lines):
    text = "".join(line + sep for line, sep in lines)
    _read_text(read_rttm, text.encode("utf-8", "surrogatepass"), ".rttm")


@pytest.mark.slow
@settings(max_examples=100)
@given(st.binary(max_size=300))
def test_rttm_parser_raw_bytes(data):
    _read_text(read_rttm, data, ".rttm")
    _read_text(read_uem, data, ".uem")


@pytest.mark.slow
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(LINE, SEP), max_size=8))
def test_uem_parser_raises_only_rttm_error(lines):
    text = "".join(line + sep for line, sep in lines)
    _read_text(read_uem, text.encode("utf-8", "surrogatepass"), ".uem")


TURNS = st.lists(
    st.builds(lambda s, d, spk: Turn(s, s + d, spk),
              st.floats(0, 1e5, allow_nan=False), st.floats(0, 1e3, allow_nan=False),
              st.text(min_size=1, max_size=10)),
    max_size=20,
)


@pytest.mark.slow
@settings(max_examples=200)
@given(TURNS, st.text(max_size=10))
def test_format_then_read_round_trip(turns, uri):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.rttm"
        write_rttm(path, turns, uri)
        got = read_rttm(path)
    if not turns:
        assert got == {}
        return
    assert list(got) == [FileKey(sanitize_field(uri), "1")]
    back = got[FileKey(sanitize_field(uri), "1")]
    want = sorted(turns)
    assert len(back) == len(want)
    # format_rttm sorts by (start, end, speaker) before rounding; compare in that order
    for a, b in zip(back, want):
        assert a.speaker == sanitize_field(b.speaker)
        assert abs(a.start - b.start) <= ROUND_TRIP_TOLERANCE / 2 + 1e-9 * max(1, b.start)
        assert abs(a.end - b.end) <= ROUND_TRIP_TOLERANCE + 1e-9 * max(1, b.end)


def test_write_rttm_to_stream_round_trips(tmp_path):
    buf = io.StringIO()
    write_rttm(buf, [Turn(0.5, 1.25, "spk 1")], "my file")
    path = write(tmp_path, buf.getvalue())
    assert read_rttm(path) == {FileKey("my_file"): [Turn(0.5, 1.25, "spk_1")]}
