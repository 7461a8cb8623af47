"""Linking speakers across recordings: the linking math on synthetic statistics, and
``diarize batch --link-speakers`` (jobs, resume, speakers.json, Dask)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from batch_audio import make_recording
from conftest import cli_runner
from diarize import batch
from diarize.cli import main
from diarize.config import Config, VoicesConfig
from diarize.errors import ParameterError
from diarize.link import (Voice, label_groups, link_speakers, link_voices, symmetric_scores,
                          ubm_fingerprint)
from diarize.rttm import read_rttm
from diarize.speakers import aligned_llr, load_ubm, voice_scores, voice_statistics

UBM = load_ubm()
#: Frames of each synthetic voice.
FRAMES = 800


def _offsets(n: int, scale: float = 0.5) -> list[np.ndarray]:
    rng = np.random.default_rng(123)
    sd = np.sqrt(UBM.gmm.covariances_)
    return [rng.standard_normal(UBM.gmm.means_.shape) * sd * scale for _ in range(n)]


OFFSETS = _offsets(4)


def voice(speaker: int, seed: int, frames: int = FRAMES):
    """UBM statistics of frames drawn from the UBM with speaker `speaker`'s means shift."""
    g = UBM.gmm
    rng = np.random.default_rng(seed)
    comp = rng.choice(len(g.weights_), size=frames, p=g.weights_)
    x = (g.means_[comp] + OFFSETS[speaker][comp]
         + rng.standard_normal((frames, g.means_.shape[1])) * np.sqrt(g.covariances_[comp]))
    return voice_statistics(g, x, np.zeros(frames, dtype=int), n_labels=1)[0]


def two_files_same_voices() -> list[Voice]:
    # File b lists the voices the other way round: only the voice links them.
    return [Voice("a", "SPEAKER_00", voice(0, 1), 10.0), Voice("a", "SPEAKER_01", voice(1, 2), 8.0),
            Voice("b", "SPEAKER_00", voice(1, 3), 6.0), Voice("b", "SPEAKER_01", voice(0, 4), 4.0),
            Voice("c", "SPEAKER_00", voice(2, 5), 3.0)]


@pytest.mark.parametrize("linkage", ["pooled", "average", "complete"])
def test_two_recordings_of_the_same_two_voices_link(linkage):
    cfg = VoicesConfig(link_linkage=linkage)
    m = link_speakers(two_files_same_voices(), ubm=UBM, config=cfg)
    assert m == {("a", "SPEAKER_00"): "SPEAKER_00", ("b", "SPEAKER_01"): "SPEAKER_00",
                 ("a", "SPEAKER_01"): "SPEAKER_01", ("b", "SPEAKER_00"): "SPEAKER_01",
                 ("c", "SPEAKER_00"): "SPEAKER_02"}


def test_voices_heard_in_every_recording_still_link():
    """The hosts of a podcast: in every recording, so about half of each one's scores
    with the batch are its own voice; the batch normalisation must not read them as the
    spread of other voices (which would link nothing)."""
    voices = []
    for r in range(12):
        voices += [Voice(f"ep{r:02d}", "SPEAKER_00", voice(0, 100 + r), 30.0),
                   Voice(f"ep{r:02d}", "SPEAKER_01", voice(1, 200 + r), 20.0)]
        if r % 3 == 0:  # a guest now and then, two different ones
            voices.append(Voice(f"ep{r:02d}", "SPEAKER_02", voice(2 + r % 2, 300 + r), 5.0))
    m = link_speakers(voices, ubm=UBM, config=VoicesConfig())
    hosts = {m[(f"ep{r:02d}", "SPEAKER_00")] for r in range(12)}
    cohosts = {m[(f"ep{r:02d}", "SPEAKER_01")] for r in range(12)}
    assert hosts == {"SPEAKER_00"} and cohosts == {"SPEAKER_01"}
    assert len(set(m.values())) == 4


def test_threshold_stops_linking():
    voices = two_files_same_voices()
    assert len(set(link_speakers(voices, ubm=UBM, config=VoicesConfig(
        link_threshold=1000.0)).values())) == 5
    # -1000 (and no chance level) would merge anything mergeable: still never two
    # voices of one recording
    m = link_speakers(voices, ubm=UBM, config=VoicesConfig(link_threshold=-1000.0,
                                                           link_fdr=0.0))
    assert len(set(m.values())) == 2


@pytest.mark.parametrize("linkage", ["pooled", "average", "complete"])
def test_speakers_of_one_recording_never_merge(linkage):
    # One voice twice in file a (a split speaker): the best-scoring pair of all, still
    # never merged, nor joined through file b's copy of the voice.
    voices = [Voice("a", "SPEAKER_00", voice(0, 1), 1.0), Voice("a", "SPEAKER_01", voice(0, 2), 1.0),
              Voice("b", "SPEAKER_00", voice(0, 3), 1.0)]
    m = link_speakers(voices, ubm=UBM,
                      config=VoicesConfig(link_linkage=linkage, link_threshold=-1000.0))
    assert m[("a", "SPEAKER_00")] != m[("a", "SPEAKER_01")]
    assert len(set(m.values())) == 2


def test_result_independent_of_input_order_and_deterministic():
    voices = two_files_same_voices() + [Voice("d", "SPEAKER_00", voice(3, 6), 2.0),
                                        Voice("d", "SPEAKER_01", voice(2, 7), 2.0)]
    cfg = VoicesConfig()
    first = link_speakers(voices, ubm=UBM, config=cfg)
    for seed in range(3):
        shuffled = voices[:]
        random.Random(seed).shuffle(shuffled)
        assert link_speakers(shuffled, ubm=UBM, config=cfg) == first
    assert first[("c", "SPEAKER_00")] == first[("d", "SPEAKER_01")]  # voice 2 twice
    # labels numbered by first appearance in (uri, local) order
    assert first[("a", "SPEAKER_00")] == "SPEAKER_00"
    assert first[("a", "SPEAKER_01")] == "SPEAKER_01"


def test_symmetric_score_is_the_mean_of_both_directions_of_voice_scores():
    stats = [voice(0, 1), voice(1, 2), voice(0, 3)]
    s = symmetric_scores(stats, ubm=UBM, relevance_factor=16.0)
    models = np.stack([st.means(UBM.gmm, relevance_factor=16.0) for st in stats])
    t = voice_scores(UBM, stats, models)
    np.testing.assert_allclose(s, 0.5 * (t + t.T), rtol=1e-12, atol=1e-12)
    assert s[0, 2] > s[0, 1] and s[0, 2] > s[1, 2]


def _plain_link(voices: list[Voice], config: VoicesConfig) -> list[list[tuple[str, str]]]:
    """link_voices as its docstring says it, with no cache and no bookkeeping: every
    score computed afresh, the best pair merged, until none is above the threshold."""
    from diarize.link import _batch_norm, _normalised, _Scorer, chance_threshold
    from diarize.speakers import with_nuisance

    items = sorted(voices, key=lambda v: (v.uri, v.local))
    ubm = with_nuisance(UBM, config.link_nuisance_rank, None)
    scorer = _Scorer(ubm, relevance_factor=config.relevance_factor)
    n = len(items)
    s = symmetric_scores([v.stats for v in items], ubm=ubm,
                         relevance_factor=config.relevance_factor)
    for i in range(n):
        for j in range(n):
            if items[i].uri == items[j].uri:
                s[i, j] = -np.inf
    loc, scale = _batch_norm(s, config)
    s = _normalised(s, loc, scale, loc, scale)
    threshold = max(config.link_threshold, chance_threshold(s, config.link_fdr))
    groups = [[i] for i in range(n)]
    stats = [v.stats for v in items]
    while True:
        best, pair = -np.inf, None
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                if {items[i].uri for i in groups[a]} & {items[i].uri for i in groups[b]}:
                    continue
                if s[groups[a][0], groups[b][0]] > best:
                    best, pair = s[groups[a][0], groups[b][0]], (a, b)
        if pair is None or best <= threshold:
            break
        a, b = pair
        ka, kb = groups[a][0], groups[b][0]
        na, nb = len(groups[a]), len(groups[b])
        loc[ka] = (na * loc[ka] + nb * loc[kb]) / (na + nb)
        scale[ka] = (na * scale[ka] + nb * scale[kb]) / (na + nb)
        stats[ka] = stats[ka] + stats[kb]
        groups[a] = sorted(groups[a] + groups[b])
        del groups[b]
        # the merged group scored afresh against every other, both ways
        def score(test, model) -> float:
            mean, spread = scorer.norm(test)
            return (float(aligned_llr(UBM.gmm, test, scorer.means(model)[None])[0]) - mean) / spread

        for other in groups:
            k = other[0]
            if k == ka:
                continue
            forward = score(stats[ka], stats[k])
            backward = score(stats[k], stats[ka])
            row = _normalised(np.array([0.5 * (forward + backward)]), loc[ka], scale[ka],
                              loc[k], scale[k])[0]
            s[ka, k] = s[k, ka] = row
        # the group is keyed by its first member: keep that one's row and column
        for g in groups:
            if g[0] != ka and ka in g:
                raise AssertionError("groups keyed by their first member")
    return [[(items[i].uri, items[i].local) for i in g] for g in groups]


def test_pooled_linkage_equals_the_plain_algorithm():
    # recurring voices among new ones, in recordings of two or three speakers
    rng = np.random.default_rng(5)
    voices = []
    for r in range(9):
        who = rng.choice(4, size=int(rng.integers(2, 4)), replace=False)
        voices += [Voice(f"r{r}", f"SPEAKER_{k:02d}", voice(int(w), 100 * r + k, frames=300), 5.0)
                   for k, w in enumerate(who)]
    cfg = VoicesConfig()
    groups = link_voices(voices, ubm=UBM, config=cfg)
    got = [[(v.uri, v.local) for v in g.members] for g in groups]
    assert sorted(got) == sorted(_plain_link(voices, cfg))
    assert len(groups) < len(voices)  # the test links something


def test_voice_without_frames_stays_alone_and_duplicates_are_refused():
    empty = replace(voice(0, 1), n=np.zeros(len(UBM.gmm.weights_)),
                    first=np.zeros_like(UBM.gmm.means_))
    voices = two_files_same_voices() + [Voice("d", "SPEAKER_00", empty, 0.0)]
    groups = link_voices(voices, ubm=UBM, config=VoicesConfig(link_threshold=-1000.0))
    alone = [g for g in groups if any(v.uri == "d" for v in g.members)]
    assert len(alone) == 1 and len(alone[0].members) == 1
    with pytest.raises(ParameterError, match="given twice"):
        link_voices(voices + voices[:1], ubm=UBM, config=VoicesConfig())


def test_naming_step_plugs_in_after_linking():
    groups = link_voices(two_files_same_voices(), ubm=UBM, config=VoicesConfig())
    seen = []

    def namer(stats):
        seen.extend(stats)
        return [None, "Alice", None]

    assert label_groups(groups, namer=namer) == ["SPEAKER_00", "Alice", "SPEAKER_01"]
    # the namer scores the pooled statistics of each linked voice
    assert seen[0].frames == pytest.approx(sum(v.stats.frames for v in groups[0].members))
    with pytest.raises(ParameterError, match="one name"):
        label_groups(groups, namer=lambda s: ["Bob", "Bob", None])
    with pytest.raises(ParameterError, match="unusable"):
        label_groups(groups, namer=lambda s: ["SPEAKER_07", None, None])


# ---------------------------------------------------------------------- batch and CLI
def _fixtures(folder: Path, n: int = 3) -> list[Path]:
    return [make_recording(folder / f"rec{i}.wav", seconds=5.0, seed=i) for i in range(n)]


def _speakers_json(out: Path) -> dict:
    return json.loads((out / batch.SPEAKERS_FILE).read_text())


def _labels(path: Path) -> set[str]:
    return {t.speaker for ts in read_rttm(path).values() for t in ts}


def _check_consistent(out: Path, uris: list[str]) -> dict:
    """speakers.json lists every speaker of every output once, with its seconds."""
    doc = _speakers_json(out)
    assert doc["generator"]["name"] == "gmm-diarize"
    assert doc["recordings"] == sorted(uris)
    listed: dict[tuple[str, str], float] = {}
    for label, entry in doc["speakers"].items():
        assert len({r["uri"] for r in entry["recordings"]}) == len(entry["recordings"])
        for r in entry["recordings"]:
            listed[(r["uri"], label)] = r["seconds"]
        assert entry["seconds"] == pytest.approx(sum(r["seconds"] for r in entry["recordings"]),
                                                 abs=1e-2)
    for uri in uris:
        turns = [t for ts in read_rttm(out / f"{uri}.rttm").values() for t in ts]
        for label in {t.speaker for t in turns}:
            seconds = sum(t.end - t.start for t in turns if t.speaker == label)
            assert listed.pop((uri, label)) == pytest.approx(seconds, abs=0.02)
    assert not listed
    return doc


def test_batch_link_cli_jobs_resume_and_new_recordings(tmp_path):
    audio = tmp_path / "in"
    _fixtures(audio)
    out = tmp_path / "out"
    runner = cli_runner()
    res = runner.invoke(main, ["batch", str(audio), "-o", str(out), "--jobs", "2",
                               "--link-speakers", "-f", "rttm,csv"])
    assert res.exit_code == 0, res.stderr
    assert "linked" in res.stderr and "speakers.json" in res.stderr
    doc = _check_consistent(out, ["rec0", "rec1", "rec2"])
    # the same two synthetic voices in every file: linked into the same labels
    assert all(_labels(out / f"rec{i}.rttm") == _labels(out / "rec0.rttm") for i in range(3))
    assert len(doc["speakers"]) == 2
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    # resume: nothing to diarize, everything linked again the same way, nothing rewritten
    res = runner.invoke(main, ["batch", str(audio), "-o", str(out), "--jobs", "2",
                               "--link-speakers", "-f", "rttm,csv"])
    assert res.exit_code == 0, res.stderr
    assert "0 succeeded, 3 skipped" in res.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before

    # a new recording: only it is diarized, all four are linked
    make_recording(audio / "rec3.wav", seconds=5.0, seed=3)
    s = batch.run([audio], out, jobs=1, fmt=["rttm", "csv"], link_speakers=True)
    assert (s.succeeded, s.skipped, s.failed) == (1, 3, 0)
    assert s.linked is not None and s.linked.recordings == 4
    _check_consistent(out, ["rec0", "rec1", "rec2", "rec3"])
    # the csv outputs carry the global labels too, and are still ours (the ledger)
    for i in range(4):
        csv_labels = {line.rsplit(",", 1)[1] for line in
                      (out / f"rec{i}.csv").read_text().splitlines()[1:]}
        assert csv_labels == _labels(out / f"rec{i}.rttm")
    assert batch.run([audio], out, jobs=1, fmt=["rttm", "csv"]).skipped == 4


def test_link_over_a_batch_run_without_linking(tmp_path):
    """A finished batch without --link-speakers has no kept voices: a rerun with it
    diarizes every recording again (same local result), then links them all; a rerun
    without it over a linked batch skips everything and keeps the global labels."""
    audio = tmp_path / "in"
    _fixtures(audio)
    out = tmp_path / "out"
    plain = batch.run([audio], out, jobs=1)
    assert plain.succeeded == 3 and plain.linked is None
    assert not (out / batch.SPEAKERS_FILE).exists()
    linked = batch.run([audio], out, jobs=1, link_speakers=True)
    assert (linked.succeeded, linked.skipped) == (3, 0)
    _check_consistent(out, ["rec0", "rec1", "rec2"])
    before = {p.name: p.read_bytes() for p in out.glob("*.rttm")}
    again = batch.run([audio], out, jobs=1)
    assert again.skipped == 3 and (out / batch.SPEAKERS_FILE).exists()
    assert {p.name: p.read_bytes() for p in out.glob("*.rttm")} == before
    # --overwrite without linking: local labels again, and speakers.json (which no
    # longer describes the outputs) and the kept voices go
    over = batch.run([audio], out, jobs=1, overwrite=True)
    assert over.succeeded == 3 and not (out / batch.SPEAKERS_FILE).exists()
    assert not list((out / batch.VOICES_DIR).glob("*.npz"))


def test_failed_recordings_left_out_and_foreign_speakers_json_refused(tmp_path):
    audio = tmp_path / "in"
    _fixtures(audio, 2)
    (audio / "broken.wav").write_text("not audio")
    out = tmp_path / "out"
    s = batch.run([audio], out, jobs=1, link_speakers=True)
    assert (s.succeeded, s.failed) == (2, 1)
    assert _speakers_json(out)["recordings"] == ["rec0", "rec1"]
    assert "broken" in (out / "errors.tsv").read_text()

    other = tmp_path / "other"
    other.mkdir()
    (other / "speakers.json").write_text('{"mine": true}\n')
    res = cli_runner().invoke(main, ["batch", str(audio / "rec0.wav"), "-o", str(other),
                                     "--link-speakers"])
    assert res.exit_code != 0 and "speakers.json" in res.stderr
    assert (other / "speakers.json").read_text() == '{"mine": true}\n'
    assert not (other / "rec0.rttm").exists()


def test_kept_voices_round_trip_and_other_ubm_rediarizes(tmp_path):
    audio = tmp_path / "in"
    _fixtures(audio, 1)
    out = tmp_path / "out"
    batch.run([audio], out, jobs=1, link_speakers=True)
    path = batch.voices_path(out, "rec0")
    fp = ubm_fingerprint(UBM)
    kept = batch.load_voices(path, fingerprint=fp)
    assert kept.names == sorted(kept.result.speakers)
    assert all(st.frames > 0 for st in kept.stats)
    assert not batch.voices_ok(path, "0" * 16)
    path.write_bytes(b"garbage")  # unreadable kept voices: diarized again
    s = batch.run([audio], out, jobs=1, link_speakers=True)
    assert s.succeeded == 1
    assert batch.voices_ok(path, fp)


def test_link_needs_the_ubm(tmp_path):
    cfg = Config()
    cfg = cfg.replace(cluster__link_method="none")
    from diarize.errors import BatchInputError

    with pytest.raises(BatchInputError, match="link_method"):
        batch.run([tmp_path], tmp_path / "out", config=cfg, link_speakers=True)


@pytest.mark.slow
def test_link_on_dask_matches_local(tmp_path):
    distributed = pytest.importorskip("distributed")
    audio = tmp_path / "in"
    _fixtures(audio)
    local = batch.run([audio], tmp_path / "local", jobs=1, link_speakers=True)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None) as c:
        remote = batch.run([audio], tmp_path / "remote", scheduler=c.scheduler_address,
                           link_speakers=True)
    assert remote.linked is not None and local.linked is not None
    for name in ["rec0.rttm", "rec1.rttm", "rec2.rttm", "speakers.json"]:
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "remote" / name).read_bytes()


def test_a_name_that_only_begins_like_an_output_label_is_usable():
    # "SPEAKER_Ann" is an enrolled name check_name accepts; "SPEAKER_07" would pass for a
    # global label
    import numpy as np
    from diarize.link import SpeakerGroup, Voice, label_groups
    from diarize.speakers import VoiceStats

    st = VoiceStats(np.ones(4), np.zeros((4, 3)))
    groups = [SpeakerGroup((Voice("a", "SPEAKER_00", st, 1.0),), st),
              SpeakerGroup((Voice("a", "SPEAKER_01", st, 1.0),), st)]
    assert label_groups(groups, namer=lambda s: ["SPEAKER_Ann", None]) == ["SPEAKER_Ann", "SPEAKER_00"]
    with pytest.raises(ParameterError):
        label_groups(groups, namer=lambda s: ["SPEAKER_07", None])


def test_forced_merges_with_no_finite_pair_merge_two_clusters():
    import numpy as np
    from diarize.cluster import _agglomerate

    calls = []
    score = np.full((2, 2), -np.inf)
    lut, _ = _agglomerate(score, lambda i, j, active: calls.append((i, j)), threshold=0.0,
                          lo=1, hi=1)
    assert calls == [(0, 1)] and lut.tolist() == [0, 0]
    lut, _ = _agglomerate(np.full((2, 2), -np.inf), lambda *a: None, threshold=0.0, lo=1, hi=2)
    assert lut.tolist() == [0, 1]
