"""Transcripts: the Whisper JSON, SRT and WebVTT readers, the writers, cue grouping and
``diarize words``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diarize.cli import main
from diarize.errors import TranscriptError
from diarize.segments import AssignedWord, Diarization, Turn
from diarize.transcript import (DEFAULT_CUE_RULES, Cue, CueRules, TranscriptItem, cues_for,
                                detect_format, format_srt, format_transcript, format_vtt,
                                format_words_json, group_cues, parse_srt, parse_transcript,
                                parse_vtt, parse_whisper_json, read_transcript)


def _items(t):
    return [(i.start, i.end, i.text) for i in t.items]


# --------------------------------------------------------------------------- SRT
SRT = ("\ufeff1\r\n00:00:01,000 --> 00:00:02,500 X1:10 X2:20 Y1:1 Y2:2\r\nHello there\r\n"
       "second line\r\n\r\n\r\n2\r\n00:00:03.000 --> 00:00:04,250\r\nBye\r\n\r\n"
       "3\r\n00:01:00,000 --> 00:01:01,000\r\n\r\n")


def test_srt_tolerates_bom_crlf_coordinates_and_blank_runs():
    t = parse_srt(SRT)
    assert _items(t) == [(1.0, 2.5, "Hello there\nsecond line"), (3.0, 4.25, "Bye")]
    assert t.words is False and t.format == "srt"


def test_srt_without_numbers_hours_or_final_newline():
    t = parse_srt("00:05,5 --> 00:07,000\nno number\n00:08,000 --> 00:09,000\n42")
    assert _items(t) == [(5.5, 7.0, "no number"), (8.0, 9.0, "42")]


def test_srt_cr_line_ends():
    assert _items(parse_srt("1\r00:00:01,000 --> 00:00:02,000\rmac\r")) == [(1.0, 2.0, "mac")]


@pytest.mark.parametrize("text, where", [
    ("hello\n\n1\n00:00:01,000 --> 00:00:02,000\nx\n", "f.srt:1: expected a cue"),
    ("1\n00:00:01,000 --> 00:00:02,000\nx\n\n2\n00:00:0x,000 --> 00:00:03,000\ny\n", "f.srt:6: not a timestamp"),
    ("1\n00:00:01,000 --> \nx\n", "f.srt:2: malformed cue timing"),
    ("1\n00:00:05,000 --> 00:00:02,000\nx\n", "f.srt:2: cue ends"),
    ("1\n00:00:75,000 --> 00:00:80,000\nx\n", "f.srt:2: minutes or seconds"),
    ("", "f.srt: no cues"),
])
def test_malformed_srt_names_file_and_line(text, where):
    with pytest.raises(TranscriptError) as exc:
        parse_srt(text, source="f.srt")
    assert str(exc.value).startswith(where), str(exc.value)


# --------------------------------------------------------------------------- VTT
VTT = ("\ufeffWEBVTT - from whisper\r\nKind: captions\r\nLanguage: en\r\n\r\n"
       "NOTE a note\r\nover two lines\r\n\r\nSTYLE\r\n::cue { color: red }\r\n\r\n"
       "intro\r\n00:01.000 --> 00:02.500 align:start position:10%\r\n"
       "<v Bob>Hello &amp; <i>welcome</i></v>\r\n<00:00:02.000>second &lt;line&gt;\r\n\r\n"
       "01:00:03.000 --> 01:00:04.000\r\nBye\r\n\r\n00:05.000 --> 00:06.000\r\n<c></c>\r\n")


def test_vtt_tolerates_header_notes_ids_settings_markup_and_short_times():
    t = parse_vtt(VTT)
    assert _items(t) == [(1.0, 2.5, "Hello & welcome\nsecond <line>"), (3603.0, 3604.0, "Bye")]
    assert t.format == "vtt" and t.words is False


@pytest.mark.parametrize("text, where", [
    ("WEBVTX\n\n00:01.000 --> 00:02.000\nx\n", "v.vtt:1: not a WebVTT"),
    ("WEBVTT\n\nlonely line\n\n00:01.000 --> 00:02.000\nx\n", "v.vtt:3: expected a cue timing"),
    ("WEBVTT\n\n00:01.000 --> 00:00.500\nx\n", "v.vtt:3: cue ends"),
    ("WEBVTT\n\nid\n00:01.000 -->\nx\n", "v.vtt:4: malformed"),
])
def test_malformed_vtt_names_file_and_line(text, where):
    with pytest.raises(TranscriptError) as exc:
        parse_vtt(text, source="v.vtt")
    assert str(exc.value).startswith(where), str(exc.value)


# --------------------------------------------------------------------------- Whisper JSON
WHISPER = {"text": " Hello there 42. Bye.", "language": "en", "segments": [
    {"id": 0, "start": 0.0, "end": 3.0, "text": " Hello there 42.", "words": [
        {"word": " Hello", "start": 0.1, "end": 0.5, "probability": 0.9},
        {"word": " there", "start": 0.6, "end": 1.0, "probability": 0.8},
        {"word": " 42."}]},  # whisperX leaves numbers without times
    {"id": 1, "start": 3.0, "end": 4.0, "text": " Bye.", "words": []}]}


def test_whisper_json_words_untimed_words_and_segment_fallback():
    t = parse_whisper_json(json.dumps(WHISPER))
    assert _items(t) == [(0.1, 0.5, " Hello"), (0.6, 1.0, " there 42."), (3.0, 4.0, " Bye.")]
    assert t.words is True


def test_whisper_json_untimed_word_first_joins_the_next():
    seg = {"start": 0, "end": 2, "text": "x", "words": [{"word": " 1"}, {"word": " a", "start": 1, "end": 2}]}
    assert _items(parse_whisper_json(json.dumps([seg]))) == [(1.0, 2.0, " 1 a")]


def test_whisper_json_segments_only_and_plain_lists():
    segs = [{"start": 0, "end": 2, "text": " one"}, {"start": 2, "end": 3, "text": " two"}]
    t = parse_whisper_json(json.dumps({"segments": segs}))
    assert _items(t) == [(0.0, 2.0, " one"), (2.0, 3.0, " two")] and t.words is False
    t = parse_whisper_json(json.dumps(segs))
    assert t.words is False and len(t.items) == 2
    t = parse_whisper_json(json.dumps([{"word": " a", "start": 0, "end": 0.3}]))
    assert t.words is True and _items(t) == [(0.0, 0.3, " a")]


def test_whisperx_untimed_words_keep_their_space():
    # whisperX's words carry no leading space: an untimed one is joined with one space
    segs = {"segments": [
        {"start": 0.5, "end": 2.0, "text": " I have 42 apples",
         "words": [{"word": "I", "start": 0.5, "end": 0.6}, {"word": "have", "start": 0.7, "end": 0.9},
                   {"word": "42"}, {"word": "apples", "start": 1.5, "end": 1.9}]},
        {"start": 2.1, "end": 3.0, "text": " 10 cats",
         "words": [{"word": "10"}, {"word": "cats", "start": 2.5, "end": 2.9}]}]}
    assert [i.text for i in parse_whisper_json(json.dumps(segs)).items] == \
        ["I", "have 42", "apples", "10 cats"]
    # whisperX's word_segments: a plain list of words, untimed ones included
    words = segs["segments"][0]["words"]
    t = parse_whisper_json(json.dumps(words))
    assert t.words is True and _items(t) == [(0.5, 0.6, "I"), (0.7, 0.9, "have 42"),
                                             (1.5, 1.9, "apples")]
    with pytest.raises(TranscriptError, match="no word has times"):
        parse_whisper_json(json.dumps([{"word": "x"}]))


def test_cue_text_joins_words_with_and_without_their_own_space():
    # whisperX words (no space) beside a segment it could not align (" ok", with one)
    cues = group_cues([_w(0.5, 0.6, "I"), _w(0.7, 0.9, "am"), _w(1.0, 1.4, " ok")])
    assert [c.text for c in cues] == ["I am ok"]
    cues = group_cues([_w(0.5, 0.6, " I"), _w(0.7, 0.9, " am"), _w(1.0, 1.4, " ok.")])
    assert [c.text for c in cues] == ["I am ok."]


def test_a_cue_wraps_to_two_lines_at_most():
    words = "sometimes dog jumps because fox fox extraordinary dog because sometimes because dog"
    cues = group_cues([_w(0.3 * i, 0.3 * i + 0.25, " " + w) for i, w in enumerate(words.split())])
    assert all(len(c.text.split("\n")) <= DEFAULT_CUE_RULES.max_lines for c in cues)
    assert all(len(line) <= DEFAULT_CUE_RULES.line_chars for c in cues for line in c.text.split("\n"))
    assert " ".join(c.text.replace("\n", " ") for c in cues) == words  # nothing lost


def test_srt_misspelt_arrow_is_a_malformed_timing_not_text():
    text = "1\n00:00:01,000 --> 00:00:02,000\nhello\n\n2\n00:00:03,000 -> 00:00:04,000\nworld\n"
    with pytest.raises(TranscriptError, match=r"t\.srt:6: malformed cue timing"):
        parse_srt(text, source="t.srt")


def test_srt_blank_lines_after_a_cue_number_are_tolerated():
    t = parse_srt("1\n00:00:01,000 --> 00:00:02,000\nhello\n\n2\n\n00:00:03,000 --> 00:00:04,000\nworld\n")
    assert _items(t) == [(1.0, 2.0, "hello"), (3.0, 4.0, "world")]
    assert _items(parse_srt("1\n\n00:00:01,000 --> 00:00:02,000\nhello\n")) == [(1.0, 2.0, "hello")]
    # a number that ends a cue's text is text
    t = parse_srt("1\n00:00:01,000 --> 00:00:02,000\nroom\n42\n\n2\n00:00:03,000 --> 00:00:04,000\nok\n")
    assert _items(t) == [(1.0, 2.0, "room\n42"), (3.0, 4.0, "ok")]


def test_vtt_cues_without_their_blank_lines_are_all_kept():
    t = parse_vtt("WEBVTT\n00:00.500 --> 00:01.000\nfirst\n\n00:02.000 --> 00:02.500\nsecond\n"
                  "00:03.000 --> 00:03.500\nthird\n")
    assert _items(t) == [(0.5, 1.0, "first"), (2.0, 2.5, "second"), (3.0, 3.5, "third")]


def test_cr_line_ends_count_in_error_lines(tmp_path):
    path = tmp_path / "cr.srt"
    path.write_bytes(b"1\r00:00:01,000 --> 00:00:02,000\rhello\r\r2\r"
                     b"00:00:03,000 --> 00:00:04,000\rw\xe9rld\r")
    with pytest.raises(TranscriptError, match=r"cr\.srt:7: not valid UTF-8"):
        read_transcript(path)
    with pytest.raises(TranscriptError, match=r"j\.json:3: not valid JSON"):
        parse_whisper_json('[\r{"word": "a", "start": 0, "end": 1},\r{oops}]', source="j.json")


def test_our_json_output_reads_back():
    assigned = [AssignedWord(0.0, 1.0, " hi", "A"), AssignedWord(1.0, 2.0, " yo", None, True, "none")]
    t = parse_transcript(format_words_json(assigned))
    assert _items(t) == [(0.0, 1.0, "hi"), (1.0, 2.0, "yo")]


@pytest.mark.parametrize("data, where", [
    ('{"segments": [\n  {"start": 0,}\n]}', "w.json:2: not valid JSON"),
    ('{"text": "no segments"}', "w.json: a JSON object without a 'segments' list"),
    ('"just a string"', "w.json: expected a Whisper transcript"),
    ('{"segments": [3]}', "w.json: segments[0]: expected an object"),
    ('{"segments": [{"start": 0, "text": "x"}]}', "w.json: segments[0]: no 'end'"),
    ('{"segments": [{"start": 0, "end": "1", "text": "x"}]}', "w.json: segments[0]: 'end' is not a number"),
    ('{"segments": [{"start": 2, "end": 1, "text": "x"}]}', "w.json: segments[0]: ends"),
    ('{"segments": [{"start": -1, "end": 1, "text": "x"}]}', "w.json: segments[0]: 'start' is negative"),
    ('{"segments": [{"start": 0, "end": 1}]}', "w.json: segments[0]: no 'text'"),
    ('{"segments": [{"start": 0, "end": 1, "text": "x", "words": [{"word": "a", "start": 0}]}]}',
     "w.json: segments[0].words[0]: no 'end'"),
    ('{"segments": [{"start": 0, "end": 1, "text": "x", "words": {"a": 1}}]}', "w.json: segments[0].words: expected a list"),
    ('{"segments": []}', "w.json: no segments"),
    ('[{"start": true, "end": 1, "text": "x"}]', "w.json: [0]: 'start' is not a number"),
])
def test_malformed_whisper_json_names_file_and_place(data, where):
    with pytest.raises(TranscriptError) as exc:
        parse_whisper_json(data, source="w.json")
    assert str(exc.value).startswith(where), str(exc.value)


# --------------------------------------------------------------------------- detection, files
@pytest.mark.parametrize("text, source, fmt", [
    ("WEBVTT\n", "x.srt", "vtt"), ("  {}", "x.txt", "json"), ("[]", "x", "json"),
    ("1\n00:00:01,000 --> 00:00:02,000\nx", "x.txt", "srt"), ("anything", "x.VTT", "vtt"),
])
def test_detect_format_by_content_then_suffix(text, source, fmt):
    assert detect_format(text, source=source) == fmt


def test_detect_format_refuses_what_it_cannot_tell():
    with pytest.raises(TranscriptError, match="notes.txt: not a transcript"):
        detect_format("hello", source="notes.txt")


def test_read_transcript_reports_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(TranscriptError, match="missing.srt: cannot read"):
        read_transcript(tmp_path / "missing.srt")
    bad = tmp_path / "latin.srt"
    bad.write_bytes(b"1\n00:00:01,000 --> 00:00:02,000\ncaf\xe9\n")
    with pytest.raises(TranscriptError, match=r"latin.srt:3: not valid UTF-8"):
        read_transcript(bad)


# --------------------------------------------------------------------------- cues and writers
def _w(start, end, text, speaker="A", overlap=False):
    return AssignedWord(start, end, text, speaker, overlap, "overlap")


def test_group_cues_splits_at_speaker_gap_duration_and_length():
    rules = CueRules(max_duration=3.0, max_gap=0.5, max_chars=20, line_chars=10)
    words = [_w(0.0, 0.4, " one"), _w(0.5, 0.9, " two"), _w(1.0, 1.4, " three", "B"),
             _w(2.5, 2.9, " four", "B"),  # after a 1.1 s pause
             _w(3.0, 3.4, " five", "B"), _w(3.5, 3.9, " six", "B"), _w(4.0, 4.4, " seven", "B"),
             _w(4.5, 4.9, " eight", "B"),  # 2.5 + 3 s reached, and 20 characters
             ]
    cues = group_cues(words, rules=rules)
    assert [(c.start, c.end, c.text, c.speaker) for c in cues] == [
        (0.0, 0.9, "one two", "A"), (1.0, 1.4, "three", "B"),
        (2.5, 4.4, "four five\nsix seven", "B"), (4.5, 4.9, "eight", "B")]


def test_group_cues_orders_words_and_joins_words_without_spaces():
    cues = group_cues([_w(1.0, 1.5, "b"), _w(0.0, 0.5, "a")])
    assert [c.text for c in cues] == ["a b"]
    assert DEFAULT_CUE_RULES.max_duration > 0


def test_segments_stay_one_cue_each():
    assigned = [_w(2.0, 3.0, " later "), _w(0.0, 1.0, "first\nline two")]
    assert cues_for(assigned, words=False) == [Cue(0.0, 1.0, "first\nline two", "A"),
                                               Cue(2.0, 3.0, "later", "A")]


def test_srt_writer():
    cues = [Cue(0.0, 1.5, "hi\n\nthere", "SPEAKER_00"), Cue(3661.25, 3662.0, "a --> b", None)]
    assert format_srt(cues) == ("1\n00:00:00,000 --> 00:00:01,500\n[SPEAKER_00] hi\nthere\n\n"
                                "2\n01:01:01,250 --> 01:01:02,000\n[UNKNOWN] a -> b\n")


def test_vtt_writer_escapes_and_tags_the_voice():
    cues = [Cue(0.0, 1.5, "Tom & <Jerry>", "A & B"), Cue(2.0, 3.0, "x", None)]
    assert format_vtt(cues) == ("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n"
                                "<v A &amp; B>[A &amp; B] Tom &amp; &lt;Jerry&gt;\n\n"
                                "00:00:02.000 --> 00:00:03.000\n<v UNKNOWN>[UNKNOWN] x\n")


def test_writers_read_back_with_our_readers():
    assigned = [_w(0.0, 0.4, " Hello"), _w(0.5, 0.9, " world", "B", overlap=True)]
    srt = parse_srt(format_transcript(assigned, "srt", words=True))
    vtt = parse_vtt(format_transcript(assigned, "vtt", words=True))
    assert _items(srt) == _items(vtt) == [(0.0, 0.4, "[A] Hello"), (0.5, 0.9, "[B] world")]
    rows = json.loads(format_transcript(assigned, "json", words=True))
    assert rows == [{"start": 0.0, "end": 0.4, "text": "Hello", "speaker": "A", "overlap": False, "method": "overlap"},
                    {"start": 0.5, "end": 0.9, "text": "world", "speaker": "B", "overlap": True, "method": "overlap"}]
    assert format_words_json([]) == "[]\n"
    with pytest.raises(TranscriptError, match="unknown transcript format 'txt'"):
        format_transcript(assigned, "txt", words=True)


@pytest.mark.parametrize("fmt, suffix, demuxer", [("srt", ".srt", "srt"), ("vtt", ".vtt", "webvtt")])
def test_ffmpeg_reads_our_subtitles(fmt, suffix, demuxer, tmp_path):
    # FFmpeg's demuxers and decoders are what VLC, mpv and most players use: what it
    # decodes is what they show (the VTT voice name is not shown, hence the prefix).
    av = pytest.importorskip("av")
    path = tmp_path / f"out{suffix}"
    assigned = [_w(0.0, 0.4, " Tom"), _w(0.5, 0.9, " &", ), _w(1.0, 1.4, " Jerry", "B")]
    path.write_text(format_transcript(assigned, fmt, words=True), encoding="utf-8")
    with av.open(str(path)) as container:
        assert container.format.name == demuxer
        stream = container.streams.subtitles[0]
        shown = []
        for packet in container.demux(stream):
            if packet.size:
                for sub in packet.decode():
                    shown.append((round(float(packet.pts * packet.time_base), 3),
                                  sub.dialogue.decode("utf-8")))
    assert shown == [(0.0, "[A] Tom &"), (1.0, "[B] Jerry")]


# --------------------------------------------------------------------------- the command
RTTM = ("SPEAKER talk 1 0.00 2.00 <NA> <NA> alice <NA> <NA>\n"
        "SPEAKER talk 1 2.50 2.00 <NA> <NA> bob <NA> <NA>\n")
WORDS = {"segments": [{"start": 0.0, "end": 4.5, "text": " Hi Bob. Hello.", "words": [
    {"word": " Hi", "start": 0.2, "end": 0.5}, {"word": " Bob.", "start": 0.6, "end": 1.0},
    {"word": " Hello.", "start": 2.15, "end": 2.45}]}]}


@pytest.fixture
def files(tmp_path):
    rttm = tmp_path / "talk.rttm"
    rttm.write_text(RTTM, encoding="utf-8")
    words = tmp_path / "talk.json"
    words.write_text(json.dumps(WORDS), encoding="utf-8")
    return rttm, words


def test_words_writes_srt_by_default_to_stdout(runner, files):
    result = runner.invoke(main, ["words", *map(str, files)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ("1\n00:00:00,200 --> 00:00:01,000\n[alice] Hi Bob.\n\n"
                             "2\n00:00:02,150 --> 00:00:02,450\n[bob] Hello.\n")
    assert "3 words, 2 speakers" in result.stderr and "1 in pauses" in result.stderr


def test_words_format_from_output_suffix_and_dash(runner, files, tmp_path):
    out = tmp_path / "talk.vtt"
    result = runner.invoke(main, ["words", *map(str, files), "-o", str(out), "-q"])
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == ""
    assert out.read_text(encoding="utf-8").startswith("WEBVTT\n\n00:00:00.200 --> 00:00:01.000\n<v alice>")
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left over
    result = runner.invoke(main, ["words", *map(str, files), "-f", "json", "-o", "-"])
    rows = json.loads(result.stdout)
    assert [(r["text"], r["speaker"], r["method"]) for r in rows] == [
        ("Hi", "alice", "overlap"), ("Bob.", "alice", "overlap"), ("Hello.", "bob", "nearest")]


def test_words_reads_srt_and_rttm_without_suffix(runner, tmp_path):
    rttm = tmp_path / "turns.txt"
    rttm.write_text(RTTM, encoding="utf-8")
    srt = tmp_path / "talk.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,800\nHi Bob.\n\n2\n00:00:02,600 --> 00:00:04,000\nHello.\n")
    result = runner.invoke(main, ["words", str(rttm), str(srt), "-f", "vtt"])
    assert result.exit_code == 0, result.stderr
    assert "<v alice>[alice] Hi Bob." in result.stdout and "<v bob>[bob] Hello." in result.stdout
    assert "2 segments" in result.stderr


def test_words_needs_uri_for_an_rttm_of_several_recordings(runner, files, tmp_path):
    rttm, words = files
    rttm.write_text(RTTM + "SPEAKER other 1 0.00 9.00 <NA> <NA> carol <NA> <NA>\n")
    result = runner.invoke(main, ["words", str(rttm), str(words)])
    assert result.exit_code == 2 and "holds 2 recordings (talk, other): choose one with --uri" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    result = runner.invoke(main, ["words", str(rttm), str(words), "--uri", "other"])
    assert result.exit_code == 0 and "[carol] Hi Bob.\n" in result.stdout and "[carol] Hello." in result.stdout
    result = runner.invoke(main, ["words", str(rttm), str(words), "--uri", "nope"])
    assert result.exit_code == 2 and "no recording 'nope'" in result.stderr


@pytest.mark.parametrize("case, code, message", [
    ("bad-transcript", 1, "talk.json:1: not valid JSON"),
    ("bad-rttm", 1, "talk.rttm:1: expected at least 9 fields"),
    ("missing-transcript", 1, "nope.srt: cannot read"),
    ("uri-with-audio", 2, "--uri chooses a recording of an RTTM file"),
    ("preset-with-rttm", 2, "are for audio"),
    ("bad-format", 2, "--format"),
])
def test_words_errors_are_one_line(runner, files, case, code, message):
    rttm, words = files
    args = ["words", str(rttm), str(words)]
    if case == "bad-transcript":
        words.write_text("{oops")
    elif case == "bad-rttm":
        rttm.write_text("SPEAKER talk 1 0.0\n")
    elif case == "missing-transcript":
        args[2] = str(words.with_name("nope.srt"))
    elif case == "uri-with-audio":
        args = ["words", str(words.with_name("talk.wav")), str(words), "--uri", "x"]
    elif case == "preset-with-rttm":
        args += ["--preset", "meeting"]
    elif case == "bad-format":
        args += ["-f", "txt"]
    result = runner.invoke(main, args)
    assert result.exit_code == code, (result.exit_code, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("diarize: error: ") and message in lines[0], lines
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_words_reports_an_unreadable_audio_file(runner, files, tmp_path):
    _, words = files
    fake = tmp_path / "talk.wav"
    fake.write_bytes(b"not audio at all")
    result = runner.invoke(main, ["words", str(fake), str(words)])
    assert result.exit_code == 1 and str(fake) in result.stderr
    assert len(result.stderr.splitlines()) == 1
