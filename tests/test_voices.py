"""Named speakers: voiceprint files, enrolment, naming and the refusals of bad input."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from diarize.cli import main
from diarize.errors import EnrollmentError, VoiceError, VoiceNameError
from diarize.rttm import read_rttm
from diarize.speakers import VoiceStats
from diarize.voices import (FORMAT_TAG, VoiceLibrary, Voiceprint, assign, check_name,
                            eligible, front_end_of, ubm_fingerprint)

from conftest import cli_runner

FIXTURES = Path(__file__).resolve().parents[1] / "audio_fixtures"
TWO = FIXTURES / "two_speakers.wav"
THREE = FIXTURES / "three_speakers.wav"


def _turns_of(wav: Path, speaker: str) -> tuple[np.ndarray, int]:
    """The samples of `speaker`'s reference turns in fixture `wav`, joined."""
    y, sr = sf.read(wav, dtype="float32")
    (ref,) = read_rttm(wav.with_suffix(".rttm")).values()
    return np.concatenate([y[int(t.start * sr):int(t.end * sr)] for t in ref
                           if t.speaker == speaker]), sr


@pytest.fixture(scope="module")
def voices_dir(tmp_path_factory):
    """Ann: LS533 of two_speakers; Cy and Di: LS1998 and LS3080 of three_speakers (voices
    two_speakers does not have)."""
    from diarize import enroll

    d = tmp_path_factory.mktemp("voices")
    for name, wav, speaker in (("Ann", TWO, "LS533"), ("Cy", THREE, "LS1998"),
                               ("Di", THREE, "LS3080")):
        y, sr = _turns_of(wav, speaker)
        sf.write(d / f"{speaker}.wav", y, sr)
        enroll(name, d / f"{speaker}.wav", d)
        (d / f"{speaker}.wav").unlink()
    return d


@pytest.fixture(scope="module")
def named(voices_dir):
    from diarize import Diarizer

    return Diarizer(voices=voices_dir)(TWO)


def _voiceprint(name="Ann", ubm="u", front="f", rng=0) -> Voiceprint:
    r = np.random.default_rng(rng)
    return Voiceprint(name=name, stats=VoiceStats(r.random(4), r.random((4, 3))),
                      seconds=7.5, enrolments=1, sources=("a",), ubm=ubm, front_end=front)


def test_voiceprint_file_round_trip_and_extension(tmp_path):
    v = _voiceprint()
    v.save(tmp_path / "Ann.npz")
    back = Voiceprint.load(tmp_path / "Ann.npz")
    assert (back.name, back.seconds, back.enrolments, back.sources, back.ubm, back.front_end) \
        == (v.name, v.seconds, v.enrolments, v.sources, v.ubm, v.front_end)
    np.testing.assert_array_equal(back.stats.first, v.stats.first)
    np.testing.assert_array_equal(back.stats.n, v.stats.n)
    both = back + _voiceprint(rng=1)
    assert both.enrolments == 2 and both.seconds == 15.0 and both.sources == ("a", "a")
    # no pickle: the archive holds plain arrays only, the format tag first among them
    with np.load(tmp_path / "Ann.npz", allow_pickle=False) as data:
        assert str(data["format"]) == FORMAT_TAG
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


@pytest.mark.parametrize("name", ["", "a/b", "..", ".hidden", "a\\b", "tab\there", "nl\n",
                                  " padded", "x" * 201, "SPEAKER_03"])
def test_unsafe_names_are_refused(name):
    with pytest.raises(VoiceNameError):
        check_name(name)


def test_safe_names_pass():
    for name in ("Dr. Ito", "José", "guest-2", "A" * 200):
        assert check_name(name) == name


def test_assignment_is_one_to_one_best_first_and_open_set():
    s = np.array([[5.0, 4.0, 0.0], [4.5, 1.0, 0.0], [1.0, 1.0, 1.0]])
    assert assign(s, threshold=2.0) == {0: 0}           # speaker 1 loses name 0, nothing else
    assert assign(s, threshold=0.5) == {0: 0, 1: 1, 2: 2}
    assert assign(s, threshold=10.0) == {}
    assert assign(np.zeros((2, 2)), threshold=-1.0) == {0: 0, 1: 1}  # ties: lower indices
    # several speakers per name: each takes its best name above the threshold
    assert assign(s, threshold=2.0, one_per_name=False) == {0: 0, 1: 0}


def test_a_clear_lead_over_the_runner_up_names_below_the_threshold():
    s = np.array([[3.5, 2.0], [3.5, 3.2], [2.5, 0.0], [4.5, 4.4]])
    ok = eligible(s, threshold=4.0, floor=3.0, margin=0.8)
    # row 0: leads by 1.5 above the floor; row 1: leads by 0.3 only; row 2: below the
    # floor; row 3: above the threshold, lead or not (both its pairs)
    assert ok.tolist() == [[True, False], [False, False], [False, False], [True, True]]
    assert assign(s, threshold=4.0, allowed=ok) == {3: 0}  # best pair first: 4.5 takes name 0
    # one voiceprint: no runner-up, the threshold alone decides
    assert not eligible(np.array([[3.9]]), threshold=4.0, floor=3.0, margin=0.8).any()


def test_enrolled_voice_is_named_and_never_enrolled_one_is_not(named):
    matches = named.voice_matches
    assert sorted(named.speakers) == ["Ann", "SPEAKER_00"]
    assert matches["Ann"].name == "Ann" and matches["Ann"].best == "Ann"
    assert matches["SPEAKER_00"].name is None
    assert matches["Ann"].best_score > matches["Ann"].runner_up_score
    # Ann's turns are LS533's: most of her time lies in LS533's reference turns (turn
    # edges reach into pauses) and they cover nearly all of LS533's
    (ref,) = read_rttm(TWO.with_suffix(".rttm")).values()
    ann = named.crop(0, named.duration)
    inside = sum(max(0.0, min(t.end, r.end) - max(t.start, r.start))
                 for t in ann if t.speaker == "Ann" for r in ref if r.speaker == "LS533")
    total = sum(t.end - t.start for t in ann if t.speaker == "Ann")
    assert inside / total > 0.8
    assert inside / sum(r.end - r.start for r in ref if r.speaker == "LS533") > 0.9


def test_json_has_the_evidence_and_validates(named):
    doc = json.loads(named.to_json())
    assert [v["speaker"] for v in doc["voices"]] == ["Ann", "SPEAKER_00"]
    assert doc["voices"][0]["name"] == "Ann" and doc["voices"][1]["name"] is None
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(__file__).resolve().parents[1] / "diarize" / "schemas"
                         / "diarization.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)


def test_naming_is_deterministic(voices_dir, named):
    from diarize import Diarizer

    again = Diarizer(voices=voices_dir)(TWO)
    assert again.to_json() == named.to_json()


def test_no_voices_no_voices_key():
    from diarize.segments import Diarization, Turn

    assert "voices" not in json.loads(Diarization([Turn(0, 1, "A")]).to_json())


def test_cli_run_and_batch_name_speakers(voices_dir, tmp_path):
    res = cli_runner().invoke(main, [str(TWO), "--voices", str(voices_dir), "--stdout"])
    assert res.exit_code == 0, res.stderr
    assert " Ann " in res.stdout and "SPEAKER_00" in res.stdout
    res = cli_runner().invoke(main, ["batch", str(TWO), "-o", str(tmp_path / "out"), "--jobs",
                                     "1", "-q", "--voices", str(voices_dir), "-f", "json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads((tmp_path / "out" / "two_speakers.json").read_text())
    assert "Ann" in doc["speakers"]


def test_cli_enroll_extends_and_lists(tmp_path):
    y, sr = _turns_of(TWO, "LS533")
    sf.write(tmp_path / "ann.wav", y, sr)
    d = tmp_path / "v"
    r1 = cli_runner().invoke(main, ["enroll", "--voices", str(d), "Ann", str(tmp_path / "ann.wav")])
    assert r1.exit_code == 0, r1.stderr
    assert "new voiceprint 'Ann'" in r1.stderr
    r2 = cli_runner().invoke(main, ["enroll", "--voices", str(d), "Ann", str(tmp_path / "ann.wav")])
    assert r2.exit_code == 0 and "added to 'Ann'" in r2.stderr and "2 enrolments" in r2.stderr
    listed = cli_runner().invoke(main, ["voices", str(d)])
    assert listed.exit_code == 0
    (line,) = listed.stdout.splitlines()
    assert line.split()[0] == "Ann" and "2 enrolments" in line
    first = float(r1.stderr.split(": ")[1].split()[0])
    assert float(line.split()[1]) == pytest.approx(2 * first, abs=0.11)


def _reference_speaker(result, ref_speaker: str, wav: Path) -> str:
    """The output speaker of `result` that talks most during `ref_speaker`'s turns."""
    from diarize.segments import solo_spans

    (ref,) = read_rttm(wav.with_suffix(".rttm")).values()
    spans = solo_spans(ref, ref_speaker)
    talk: dict[str, float] = {}
    for t in result.turns:
        for a, b in spans:
            talk[t.speaker] = talk.get(t.speaker, 0.0) + max(0.0, min(b, t.end) - max(a, t.start))
    return max(talk, key=lambda k: talk[k])


def test_cli_enroll_from_a_speakers_turns_names_that_speaker(tmp_path):
    from diarize import Diarizer

    d = tmp_path / "v"
    for name, speaker in (("Ann", "LS533"), ("Bo", "LS1688")):
        res = cli_runner().invoke(main, ["enroll", "--voices", str(d), name, str(TWO),
                                         "--rttm", str(TWO.with_suffix(".rttm")),
                                         "--speaker", speaker])
        assert res.exit_code == 0, res.stderr
        assert f"new voiceprint {name!r}" in res.stderr
    # the two voiceprints hold their own voices: each names the speaker whose turns made it
    result = Diarizer(voices=d)(TWO)
    assert sorted(result.speakers) == ["Ann", "Bo"]
    assert _reference_speaker(result, "LS533", TWO) == "Ann"
    assert _reference_speaker(result, "LS1688", TWO) == "Bo"
    # the same speech as the speaker's turns cut out by hand and enrolled whole
    y, sr = _turns_of(TWO, "LS533")
    sf.write(tmp_path / "ann.wav", y, sr)
    res = cli_runner().invoke(main, ["enroll", "--voices", str(tmp_path / "w"), "Ann",
                                     str(tmp_path / "ann.wav")])
    assert res.exit_code == 0, res.stderr
    cut = Voiceprint.load(tmp_path / "w" / "Ann.npz").seconds
    assert Voiceprint.load(d / "Ann.npz").seconds == pytest.approx(cut, abs=0.3)


def test_enroll_spans_leave_out_other_speakers_and_their_overlap(tmp_path):
    from diarize import enroll
    from diarize.audio import audio_spans, load_audio
    from diarize.segments import Turn, solo_spans

    turns = [Turn(0.0, 12.0, "A"), Turn(5.0, 7.0, "B"), Turn(20.0, 25.0, "B")]
    assert solo_spans(turns, "A") == [(0.0, 5.0), (7.0, 12.0)]
    assert solo_spans(turns, "C") == []
    y = load_audio(TWO)
    z = audio_spans(TWO, solo_spans(turns, "A"))
    np.testing.assert_array_equal(z, np.concatenate([y[:80000], y[112000:192000]]))
    # spans in any order, overlapping, past the end: the same samples once
    np.testing.assert_array_equal(audio_spans(TWO, [(7.0, 12.0), (0.0, 5.0), (1.0, 2.0)]), z)
    assert len(audio_spans(TWO, [(29.0, 99.0)])) == len(y) - 29 * 16000
    with pytest.raises(ValueError):
        audio_spans(TWO, [(3.0, 2.0)])
    with pytest.raises(EnrollmentError, match=r"in the 1.0 s given"):
        enroll("Ann", TWO, tmp_path, spans=[(0.5, 1.5)])


def test_enroll_from_turns_refusals(tmp_path):
    run = cli_runner().invoke
    d = tmp_path / "v"
    rttm = str(TWO.with_suffix(".rttm"))
    res = run(main, ["enroll", "--voices", str(d), "Ann", str(TWO), "--speaker", "LS533"])
    assert res.exit_code == 2 and "--rttm and --speaker go together" in res.stderr
    line = _one_line_error(run(main, ["enroll", "--voices", str(d), "Ann", str(TWO), "--rttm",
                                      rttm, "--speaker", "SPEAKER_09"]), 4, "'SPEAKER_09' has no turns")
    assert "speakers there: LS1688, LS533" in line
    # two recordings, and the RTTM has turns for one of them only
    _one_line_error(run(main, ["enroll", "--voices", str(d), "Ann", str(TWO), str(THREE),
                               "--rttm", rttm, "--speaker", "LS533"]),
                    4, "no turns for file id 'three_speakers'", "two_speakers")
    # a malformed RTTM line is one line too, before anything is written
    bad = tmp_path / "bad.rttm"
    bad.write_text("SPEAKER two_speakers 1 zero 1.0 <NA> <NA> LS533 <NA> <NA>\n")
    _one_line_error(run(main, ["enroll", "--voices", str(d), "Ann", str(TWO), "--rttm",
                               str(bad), "--speaker", "LS533"]), 1, "bad.rttm:1")
    assert not d.exists()


def _one_line_error(res, status=4, *words):
    assert res.exit_code == status, (res.exit_code, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("diarize: error: "), res.stderr
    for w in words:
        assert w in lines[0]
    return lines[0]


def test_refusals_are_one_line_with_status_4(tmp_path, voices_dir):
    run = cli_runner().invoke
    _one_line_error(run(main, [str(TWO), "--voices", str(tmp_path / "nope"), "--stdout"]),
                    4, "no such voiceprint folder")
    (tmp_path / "empty").mkdir()
    _one_line_error(run(main, [str(TWO), "--voices", str(tmp_path / "empty"), "--stdout"]),
                    4, "no voiceprints")
    _one_line_error(run(main, ["batch", str(TWO), "-o", str(tmp_path / "o"), "--voices",
                               str(tmp_path / "empty")]), 4, "no voiceprints")
    _one_line_error(run(main, ["voices", str(tmp_path / "nope")]), 4, "no such")
    _one_line_error(run(main, ["enroll", "--voices", str(tmp_path / "v"), "a/b", str(TWO)]),
                    4, "path separator")
    # too little speech: says how much there was and how much is needed
    y, sr = sf.read(TWO, dtype="float32")
    sf.write(tmp_path / "short.wav", y[int(6.2 * sr):int(8.2 * sr)], sr)
    line = _one_line_error(run(main, ["enroll", "--voices", str(tmp_path / "v"), "Bo",
                                      str(tmp_path / "short.wav")]), 4, "s of speech", "needed")
    assert "3.0 s needed" in line
    assert not (tmp_path / "v" / "Bo.npz").exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign_npz", "wrong_name"])
def test_corrupt_or_foreign_files_are_refused(tmp_path, voices_dir, damage):
    d = tmp_path / "v"
    d.mkdir()
    good = (voices_dir / "Ann.npz").read_bytes()
    target = d / "Ann.npz"
    if damage == "garbage":
        target.write_bytes(b"not a voiceprint")
    elif damage == "truncated":
        target.write_bytes(good[:len(good) // 2])
    elif damage == "foreign_npz":
        np.savez(target, means=np.zeros(3))
    else:
        (d / "Bob.npz").write_bytes(good)  # Ann's voice under Bob's name
        target = d / "Bob.npz"
    res = cli_runner().invoke(main, [str(TWO), "--voices", str(d), "--stdout"])
    _one_line_error(res, 4, target.name)
    # enrolling that name again refuses too, and leaves the file as it was
    before = target.read_bytes()
    y, sr = _turns_of(TWO, "LS533")
    sf.write(tmp_path / "ann.wav", y, sr)
    res = cli_runner().invoke(main, ["enroll", "--voices", str(d), target.stem,
                                     str(tmp_path / "ann.wav")])
    _one_line_error(res, 4)
    assert target.read_bytes() == before


def test_another_ubm_or_front_end_is_refused(tmp_path, voices_dir):
    from diarize import Config
    from diarize.cluster import speaker_ubm

    cfg = Config()
    ubm = speaker_ubm(cfg.cluster)
    v = Voiceprint.load(voices_dir / "Ann.npz")
    assert v.ubm == ubm_fingerprint(ubm) and v.front_end == front_end_of(cfg)
    d = tmp_path / "v"
    d.mkdir()
    from dataclasses import replace

    replace(v, ubm="0" * 64).save(d / "Ann.npz")
    with pytest.raises(VoiceError, match="another UBM"):
        VoiceLibrary.open(d, config=cfg, ubm=ubm)
    replace(v, front_end=front_end_of(cfg.replace(features__n_mels=30))).save(d / "Ann.npz")
    with pytest.raises(VoiceError, match="another front end"):
        VoiceLibrary.open(d, config=cfg, ubm=ubm)
    res = cli_runner().invoke(main, [str(TWO), "--voices", str(d), "--stdout"])
    _one_line_error(res, 4, "another front end")
    # The band floor reaches the clustering features only, never a voice's statistics:
    # it is not part of the front end, on or off, and a voiceprint that named its
    # settings (as those made with it before session 16 did) is the same voiceprint.
    assert "band_floor" not in front_end_of(cfg)
    assert front_end_of(cfg.replace(features__band_floor=True)) == front_end_of(cfg)
    named = json.loads(front_end_of(cfg))
    named["features"].update(band_floor=True, band_floor_quantile=0.1, band_floor_db=3.0)
    replace(v, front_end=json.dumps(named, sort_keys=True)).save(d / "Ann.npz")
    assert [x.name for x in VoiceLibrary.open(d, config=cfg, ubm=ubm).voices] == ["Ann"]
    # while another filterbank is still refused, settings named or not
    named["features"]["n_mels"] = 30
    replace(v, front_end=json.dumps(named, sort_keys=True)).save(d / "Ann.npz")
    with pytest.raises(VoiceError, match="another front end"):
        VoiceLibrary.open(d, config=cfg, ubm=ubm)


def test_enroll_api_refuses_too_little_speech(tmp_path):
    from diarize import enroll

    y, sr = sf.read(TWO, dtype="float32")
    (tmp_path / "v").mkdir()
    with pytest.raises(EnrollmentError, match=r"s of speech, 3\.0 s needed"):
        enroll("Bo", (y[int(6.2 * sr):int(8.2 * sr)], sr), tmp_path / "v")
    with pytest.raises(VoiceError, match="no such voiceprint folder"):
        enroll("Bo", (y, sr), tmp_path / "missing")


def test_batch_links_then_names_the_linked_voices(voices_dir, tmp_path):
    # With --link-speakers, a voice is named once over the batch (from its pooled speech):
    # the enrolled voice carries its name in every recording, the other one a global label.
    import shutil

    src = tmp_path / "in"
    src.mkdir()
    for stem in ("a", "b"):
        shutil.copy(TWO, src / f"{stem}.wav")
    out = tmp_path / "out"
    res = cli_runner().invoke(main, ["batch", str(src), "-o", str(out), "--jobs", "1", "-q",
                                     "--link-speakers", "--voices", str(voices_dir)])
    assert res.exit_code == 0, res.stderr
    doc = json.loads((out / "speakers.json").read_text())
    labels = doc.get("speakers", doc)
    assert "Ann" in labels
    assert {r["uri"] for r in labels["Ann"]["recordings"]} == {"a", "b"}
    for stem in ("a", "b"):
        text = (out / f"{stem}.rttm").read_text()
        assert " Ann " in text and " SPEAKER_00 " in text
    # the naming evidence of the linked voices, in speakers.json and in every JSON output
    assert labels["Ann"]["voice"]["name"] == "Ann"
    assert labels["SPEAKER_00"]["voice"]["name"] is None
    assert labels["Ann"]["voice"]["best_score"] > labels["SPEAKER_00"]["voice"]["best_score"]
    res = cli_runner().invoke(main, ["batch", str(src), "-o", str(out), "--jobs", "1", "-q",
                                     "-f", "json", "--link-speakers", "--voices",
                                     str(voices_dir)])
    assert res.exit_code == 0, res.stderr
    for stem in ("a", "b"):
        doc = json.loads((out / f"{stem}.json").read_text())
        evidence = {v["speaker"]: v for v in doc["voices"]}
        assert set(evidence) == {"Ann", "SPEAKER_00"}
        assert {k: (v["name"], v["best_score"]) for k, v in evidence.items()} \
            == {k: (labels[k]["voice"]["name"], labels[k]["voice"]["best_score"])
                for k in evidence}


# ------------------------------------------------------------ multi-condition enrolment
def test_degraded_copies_are_deterministic_and_take_kinds_in_turn():
    from diarize import Config
    from diarize.voices import CONDITION_KINDS, degraded_copies

    y, sr = _turns_of(TWO, "LS533")
    cfg = Config().replace(voices__enroll_copies=4)
    first = degraded_copies(y, sr, config=cfg)
    again = degraded_copies(y, sr, config=cfg)
    assert [what for _, what in first] == [what for _, what in again]
    for (a, _), (b, _) in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert "noise" in first[0][1]
    assert "reverb" in first[1][1] and "telephone" in first[2][1] and "noise" in first[3][1]
    assert len(CONDITION_KINDS) == 3
    for z, _ in first:
        assert z.shape == y.shape and z.dtype == np.float32 and np.all(np.isfinite(z))
        assert not np.allclose(z, y, atol=1e-3)  # each copy is degraded
    # another seed, other draws; none with enroll_copies 0
    other = degraded_copies(y, sr, config=cfg.replace(seed=1))
    assert not np.array_equal(other[0][0], first[0][0])
    assert degraded_copies(y, sr, config=Config().replace(voices__enroll_copies=0)) == []


def test_enroll_copies_range_order_is_checked():
    from diarize import Config
    from diarize.errors import ConfigError

    with pytest.raises(ConfigError, match="enroll_snr_low"):
        Config().replace(voices__enroll_snr_low=40.0).validate()


def test_multi_condition_voiceprint_round_trips_scores_and_is_checked(tmp_path):
    from dataclasses import replace

    from diarize import Config, enroll
    from diarize.cluster import speaker_ubm
    from diarize.voices import enrolment_recipe, match_scores

    cfg = Config().replace(voices__enroll_copies=2)
    ubm = speaker_ubm(cfg.cluster)
    d = tmp_path / "v"
    d.mkdir()
    y, sr = _turns_of(TWO, "LS533")
    sf.write(tmp_path / "ann.wav", y, sr)
    v = enroll("Ann", tmp_path / "ann.wav", d, config=cfg)
    assert len(v.conditions) == 2 and v.recipe == enrolment_recipe(cfg) != ""
    back = Voiceprint.load(d / "Ann.npz")
    assert back.recipe == v.recipe and len(back.conditions) == 2
    for a, b in zip(back.models(), v.models()):
        np.testing.assert_array_equal(a.first, b.first)
        np.testing.assert_array_equal(a.n, b.n)
    # the copies' statistics are of the same frames, not the same values
    assert back.conditions[0].frames == pytest.approx(back.stats.frames)
    assert not np.allclose(back.conditions[0].first, back.stats.first)
    # enrolling again extends each condition; the same audio gives the same statistics
    twice = enroll("Ann", tmp_path / "ann.wav", d, config=cfg)
    np.testing.assert_allclose(twice.conditions[1].first, 2 * v.conditions[1].first)
    # scored with the best of its condition models: never below its clean model alone
    lib = VoiceLibrary.open(d, config=cfg, ubm=ubm)
    test = [v.stats, v.conditions[0]]
    multi = match_scores(ubm, test, lib.voices, config=cfg)
    clean = match_scores(ubm, test, [replace(lib.voices[0], conditions=())], config=cfg)
    assert np.all(multi >= clean - 1e-12) and np.any(multi > clean + 1e-6)
    # a folder made with another recipe, or with another UBM, is refused, saying which
    # settings differ and what the voiceprint was made with
    with pytest.raises(VoiceError, match=r"multi-condition enrolment \(voices.enroll_copies "
                                         r"= 2 \(this configuration: 3\)\)"):
        VoiceLibrary.open(d, config=Config(), ubm=ubm)
    lower = cfg.replace(voices__enroll_snr_low=2.0)
    with pytest.raises(VoiceError, match=r"voices.enroll_snr_low = 5.0 \(this configuration: "
                                         r"2.0\)\); enrol 'Ann' again"):
        VoiceLibrary.open(d, config=lower, ubm=ubm)
    # what a file says is shown escaped, on one line, and a key that is no setting's name
    # is not shown at all
    from diarize.voices import _recipe_difference
    odd = json.dumps({"enroll_copies": 3, "enroll_snr_low": "5\n0"})
    assert "\n" not in _recipe_difference(odd, v.recipe)
    assert _recipe_difference(json.dumps({"enroll_copies": 3, "x\ny": 1}),
                              json.dumps({"enroll_copies": 3})) == "voices.enroll_*"
    replace(back, ubm="0" * 64).save(d / "Ann.npz")
    with pytest.raises(VoiceError, match="another UBM"):
        VoiceLibrary.open(d, config=cfg, ubm=ubm)
    # and enrolling into it with a clean-only configuration leaves it as it was
    before = (d / "Ann.npz").read_bytes()
    with pytest.raises(VoiceError):
        enroll("Ann", tmp_path / "ann.wav", d, config=Config())
    assert (d / "Ann.npz").read_bytes() == before


def test_version_1_voiceprints_are_still_read(tmp_path, voices_dir):
    v = Voiceprint.load(voices_dir / "Ann.npz")
    arrays = {"format": np.array(FORMAT_TAG), "version": np.array(1), "name": np.array("Ann"),
              "n": v.stats.n, "first": v.stats.first, "seconds": np.array(v.seconds),
              "enrolments": np.array(1), "sources": np.array(["a"]),
              "ubm": np.array(v.ubm), "front_end": np.array(v.front_end)}
    np.savez(tmp_path / "Ann.npz", **arrays)
    old = Voiceprint.load(tmp_path / "Ann.npz")
    assert old.conditions == () and old.recipe == ""
    np.testing.assert_array_equal(old.stats.first, v.stats.first)


def test_min_of_directions_is_the_lesser_of_the_two_scores(voices_dir):
    from diarize import Config
    from diarize.cluster import speaker_ubm
    from diarize.voices import match_scores

    cfg = Config()
    ubm = speaker_ubm(cfg.cluster)
    lib = VoiceLibrary.open(voices_dir, config=cfg, ubm=ubm)
    tests = [v.stats for v in lib.voices]
    # one model per voice (its clean statistics): the identity holds model by model, and
    # the best of several condition models need not be the best of both directions alike
    prints = [replace(v, conditions=()) for v in lib.voices]
    mean = match_scores(ubm, tests, prints, config=cfg)
    forward = match_scores(ubm, tests, prints, config=cfg.replace(voices__symmetric=False))
    low = match_scores(ubm, tests, prints, config=cfg.replace(voices__directions="min"))
    backward = 2 * mean - forward
    np.testing.assert_allclose(low, np.minimum(forward, backward), atol=1e-9)
    assert np.all(low <= mean + 1e-12) and np.any(low < mean - 1e-6)


def test_link_namer_scores_the_clean_models_only(voices_dir, monkeypatch):
    """``batch --link-speakers --voices`` names linked voices without guided diarization,
    so the voiceprints' condition models (which, unguided, name merged speakers) are left
    out there; the recording-level naming keeps them."""
    import diarize.voices as voices_mod
    from diarize import Config
    from diarize.cluster import speaker_ubm

    cfg = Config()
    lib = VoiceLibrary.open(voices_dir, config=cfg, ubm=speaker_ubm(cfg.cluster))
    assert all(len(v.conditions) == cfg.voices.enroll_copies > 0 for v in lib.voices)
    seen = []
    real = voices_mod.match_scores

    def spy(ubm, tests, prints, *, config, matched=None):
        seen.append([len(p.conditions) for p in prints])
        return real(ubm, tests, prints, config=config, matched=matched)

    monkeypatch.setattr(voices_mod, "match_scores", spy)
    names = lib.namer(config=cfg)([v.stats for v in lib.voices])
    assert seen == [[0] * len(lib.voices)]
    assert names == lib.names  # each voiceprint's own speech still takes its name


@pytest.mark.parametrize("guide, asked", [(True, {}), (False, {}), (True, {"num_speakers": 2})])
def test_condition_models_name_only_a_guided_diarization(voices_dir, monkeypatch, guide, asked):
    """The last scoring of a run (its naming) takes the voiceprints' condition models only
    when the enrolled voices guided the diarization (guide on, no count asked)."""
    import diarize.voices as voices_mod
    from diarize import Diarizer

    seen = []
    real = voices_mod.match_scores

    def spy(ubm, tests, prints, *, config, matched=None):
        seen.append(min(len(p.conditions) for p in prints))
        return real(ubm, tests, prints, config=config, matched=matched)

    monkeypatch.setattr(voices_mod, "match_scores", spy)
    d = Diarizer(voices=voices_dir, voices__guide=guide, **asked)
    monkeypatch.setattr("diarize.pipeline.match_scores", spy, raising=False)
    result = d(TWO)
    assert "Ann" in result.speakers
    assert (seen[-1] > 0) == (guide and not asked)


def test_a_folder_opened_again_is_not_read_again_until_a_file_changes(tmp_path, voices_dir,
                                                                       monkeypatch):
    import shutil

    from diarize import Config
    from diarize.cluster import speaker_ubm

    cfg = Config()
    ubm = speaker_ubm(cfg.cluster)
    d = tmp_path / "v"
    shutil.copytree(voices_dir, d)
    reads = []
    real_load = Voiceprint.load.__func__
    monkeypatch.setattr(Voiceprint, "load",
                        classmethod(lambda cls, p: reads.append(Path(p).name)
                                    or real_load(cls, p)))
    first = VoiceLibrary.open(d, config=cfg, ubm=ubm)
    assert sorted(reads) == ["Ann.npz", "Cy.npz", "Di.npz"]
    again = VoiceLibrary.open(d, config=cfg, ubm=ubm)
    assert len(reads) == 3 and again.names == first.names
    # the kept arrays serve every later open: nobody may change them in place
    with pytest.raises(ValueError):
        again.voices[0].stats.n[0] = 1.0
    # a voiceprint written again (a new file, as enrolment writes one) is read again
    ann = Voiceprint.load(d / "Ann.npz")
    original = (d / "Ann.npz").read_bytes()
    reads.clear()
    (ann + ann).save(d / "Ann.npz")
    changed = VoiceLibrary.open(d, config=cfg, ubm=ubm)
    assert reads == ["Ann.npz"]
    assert changed.voices[0].seconds == 2 * first.voices[0].seconds
    # ...and so is one written over in place (the same inode)
    reads.clear()
    with open(d / "Ann.npz", "r+b") as f:
        f.write(original)
        f.truncate()
    assert VoiceLibrary.open(d, config=cfg, ubm=ubm).voices[0].seconds == first.voices[0].seconds
    assert reads == ["Ann.npz"]
    # a file that went away is gone from the library, not served from memory
    (d / "Cy.npz").unlink()
    assert VoiceLibrary.open(d, config=cfg, ubm=ubm).names == ["Ann", "Di"]


def test_speakers_statistics_are_the_same_on_one_thread_or_two(voices_dir, monkeypatch):
    from diarize import Diarizer

    got = []
    for threads in ("1", "2"):
        monkeypatch.setenv("DIARIZE_THREADS", threads)
        got.append(Diarizer(voices=voices_dir)(TWO))
    one, two = got
    assert list(one) == list(two) and set(one.voice_stats) == set(two.voice_stats)
    for name, st in one.voice_stats.items():
        assert st.n.tobytes() == two.voice_stats[name].n.tobytes()
        assert st.first.tobytes() == two.voice_stats[name].first.tobytes()
    assert {k: (m.name, m.best_score) for k, m in one.voice_matches.items()} \
        == {k: (m.name, m.best_score) for k, m in two.voice_matches.items()}


def test_assign_without_one_name_per_speaker_takes_the_best_allowed_column():
    assert assign(np.array([[5.0, 4.0]]), threshold=0.0, one_per_name=False,
                  allowed=np.array([[False, True]])) == {0: 1}
    assert assign(np.array([[5.0, 4.0]]), threshold=0.0, one_per_name=False,
                  allowed=np.array([[False, False]])) == {}


def test_voiceprints_are_ordered_by_name_not_by_file_name(tmp_path, voices_dir):
    # "Ann Lee.npz" sorts before "Ann.npz" (a space before the dot); names do not
    from dataclasses import replace

    from diarize.voices import list_voices

    ann = Voiceprint.load(voices_dir / "Ann.npz")
    for name in ("Ann", "Ann Lee"):
        replace(ann, name=name).save(tmp_path / f"{name}.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Ann Lee.npz", "Ann.npz"]
    assert [v.name for v in list_voices(tmp_path)] == ["Ann", "Ann Lee"]
    from diarize.config import Config
    from diarize.speakers import load_ubm

    assert VoiceLibrary.open(tmp_path, config=Config(), ubm=load_ubm()).names == ["Ann", "Ann Lee"]
