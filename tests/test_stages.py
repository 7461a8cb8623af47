"""Each stage's labels (``keep_stages``), an oracle speech mask, and the benchmark's
``--stages`` / ``--stability`` reports.

Expected values come from synthetic data whose truth is known; the end-to-end run of
the benchmark diarizes two short recordings of ``../shared/eval/real`` (skipped when the
shared data is absent).
"""

from __future__ import annotations

import json
import shutil
import unicodedata

import numpy as np
import pytest

from diarize.cluster import chunk_speech, cluster_speakers
from diarize.config import Config
from diarize.errors import NoSpeechWarning, ParameterError
from diarize.segments import Turn
from conftest import EVAL, FIXTURES
from test_cluster import bic_only, bic_voices, over_clustering, ubm_voices

CLUSTER_STAGES = ("chunks", "linear", "bic", "link")


def coarsens(fine: np.ndarray, coarse: np.ndarray) -> bool:
    """Whether every cluster of `fine` lies inside one cluster of `coarse`."""
    pairs = set(zip(fine.tolist(), coarse.tolist()))
    return len(pairs) == len(set(fine.tolist()))


# ------------------------------------------------------------- cluster_speakers

def test_stages_are_kept_only_when_asked():
    X, mask, _ = bic_voices()
    plain = cluster_speakers(X, speech=mask, config=bic_only())
    kept = cluster_speakers(X, speech=mask, config=bic_only(), keep_stages=True)
    assert plain.stages == {}
    np.testing.assert_array_equal(plain.labels, kept.labels)
    assert plain.bic == kept.bic
    assert tuple(kept.stages) == CLUSTER_STAGES


def test_bic_only_stages_refine_one_another():
    X, mask, truth = bic_voices()
    cfg = bic_only()
    res = cluster_speakers(X, speech=mask, config=cfg, keep_stages=True)
    st = res.stages
    for name in CLUSTER_STAGES:
        assert st[name].shape == (len(X),) and st[name].dtype == np.int64
    chunks = chunk_speech(mask, chunk_frames=100, max_chunks=cfg.cluster.max_segments)
    assert st["chunks"].max() + 1 == len(chunks)
    np.testing.assert_array_equal(st["link"], res.labels)   # no linking: BIC's clusters
    np.testing.assert_array_equal(st["bic"], res.labels)
    for fine, coarse in zip(CLUSTER_STAGES, CLUSTER_STAGES[1:]):
        assert coarsens(st[fine], st[coarse]), (fine, coarse)
    # the linear pass merged neighbours of the same turn: fewer clusters, each one voice
    assert st["linear"].max() < st["chunks"].max()
    assert coarsens(st["linear"], truth)


def test_linear_stage_is_the_chunks_without_the_linear_pass():
    X, mask, _ = bic_voices()
    res = cluster_speakers(X, speech=mask, config=bic_only(cluster__linear_merge=False),
                           keep_stages=True)
    np.testing.assert_array_equal(res.stages["linear"], res.stages["chunks"])


@pytest.mark.slow
def test_ubm_linking_stages():
    X, truth = ubm_voices()
    speech = np.ones(len(X), bool)
    res = cluster_speakers(X, speech=speech, config=over_clustering(), ubm_features=X,
                           keep_stages=True)
    st = res.stages
    np.testing.assert_array_equal(st["link"], res.labels)
    assert st["bic"].max() + 1 > res.n_clusters == 3      # linking decided the count
    assert coarsens(st["bic"], st["link"])


# ------------------------------------------------------------------- pipeline

@pytest.fixture(scope="module")
def fixture_run():
    from diarize import Diarizer

    d = Diarizer()
    return d, d.extract(FIXTURES / "two_speakers.wav")


@pytest.mark.slow
def test_diarizer_keeps_stages_without_changing_the_result(fixture_run):
    d, features = fixture_run
    plain = d(FIXTURES / "two_speakers.wav")
    assert plain.stages is None
    kept = d.diarize_features(features, keep_stages=True)
    assert kept.turns == plain.turns
    n = len(features.mfcc)
    assert set(kept.stages) == {*CLUSTER_STAGES, "reseg", "turns"}
    for labels in kept.stages.values():
        assert labels.shape == (n,)
    modelled = kept.stages["chunks"] >= 0
    for name in (*CLUSTER_STAGES, "reseg"):
        np.testing.assert_array_equal(kept.stages[name] >= 0, modelled)
    # the turns stage is the output: its speakers' frames are the turns'
    turns = kept.stages["turns"]
    assert len(set(turns[turns >= 0].tolist())) == len(kept.speakers)
    assert (turns >= 0).sum() == pytest.approx(
        sum(t.end - t.start for t in kept.turns) / kept.frame_step, abs=1)


@pytest.mark.slow
def test_a_given_speech_mask_replaces_the_speech_detector(fixture_run):
    d, features = fixture_run
    n = len(features.mfcc)
    mask = np.zeros(n, bool)
    mask[n // 4: n // 2] = True                         # a quarter of the recording
    res = d.diarize_features(features, speech=mask, keep_stages=True)
    np.testing.assert_array_equal(res.speech_mask, mask)
    np.testing.assert_array_equal(res.stages["chunks"] >= 0, mask)
    step = res.frame_step
    assert res.turns and all(n // 4 * step - 1e-9 <= t.start and t.end <= n // 2 * step + 1e-9
                             for t in res.turns)
    with pytest.warns(NoSpeechWarning):
        assert len(d.diarize_features(features, speech=np.zeros(n, bool))) == 0


def test_a_speech_mask_of_the_wrong_length_is_refused(fixture_run):
    d, features = fixture_run
    with pytest.raises(ParameterError, match="speech mask"):
        d.diarize_features(features, speech=np.ones(len(features.mfcc) + 1, bool))


# ------------------------------------------------------- benchmark: pure parts

def test_stage_counts_purity_and_coverage(bench):
    ref = np.array([0, 0, 0, 0, 1, 1, 1, 1, -1, -1])
    hyp = np.array([0, 0, 1, 1, 1, 1, 1, 1, 2, -1])
    c = bench.stage_counts(hyp, ref)
    # cluster 0: 2 frames of A; cluster 1: 2 of A + 4 of B -> pure 2 + 4 = 6 of 8;
    # A: 2 and 2 -> 2, B: 4 -> covered 6 of 8; cluster 2 is outside the reference
    assert (c.pure, c.covered, c.frames, c.clusters, c.files) == (6, 6, 8, 3, 1)
    assert c.purity == pytest.approx(75.0) and c.coverage == pytest.approx(75.0)
    total = c + bench.stage_counts(np.array([5, 5]), np.array([3, 3]))
    assert total.purity == pytest.approx(80.0) and total.mean_clusters == pytest.approx(2.0)
    assert total.cell() == "80.0/80.0 (2.0)"
    assert bench.StageCounts().cell() == "-"


def test_reference_labels_single_speaker_frames_inside_the_region(bench):
    turns = [Turn(0.0, 0.5, "a"), Turn(0.3, 0.8, "b")]
    lab = bench.reference_labels(turns, None, 10, 0.1)
    assert lab.tolist() == [0, 0, 0, -1, -1, 1, 1, 1, -1, -1]       # 0.3-0.5: overlap
    lab = bench.reference_labels(turns, [(0.1, 0.6)], 10, 0.1)
    assert lab.tolist() == [-1, 0, 0, -1, -1, 1, -1, -1, -1, -1]
    assert bench.reference_labels([], None, 3, 0.1).tolist() == [-1, -1, -1]


def test_reference_speakers_counts_those_inside_the_region(bench):
    turns = [Turn(0.0, 1.0, "a"), Turn(2.0, 3.0, "b")]
    assert bench.reference_speakers(turns, None) == 2
    assert bench.reference_speakers(turns, [(0.5, 1.5)]) == 1


def test_corpus_subsets_split_the_ami_clips(bench, tmp_path):
    def run(name):
        return bench.Run(folder="real", path=str(tmp_path / name), uri=name)

    runs = [run("dev00.wav"), run(unicodedata.normalize("NFD", "trñ00.wav")),
            run("sample.wav"), run("tst01.wav")]
    subsets = bench.corpus_subsets("real", runs)
    assert list(subsets) == ["real", "real AMI", "real other"]
    assert [r.uri for r in subsets["real other"]] == ["sample.wav"]
    assert len(subsets["real AMI"]) == 3
    sim = [run("dev000.flac"), run("dev001.flac")]                # not AMI names
    assert list(bench.corpus_subsets("sim", sim)) == ["sim"]


@pytest.mark.parametrize("text, delays", [("7", (7,)), ("7,1,13", (1, 7, 13)), ("3, 5", (3, 5))])
def test_parse_delays(bench, text, delays):
    assert bench.parse_delays(text) == delays


@pytest.mark.parametrize("text", ["", "0", "-1", "a", "7,7", "1.5"])
def test_parse_delays_rejects(bench, text):
    with pytest.raises(bench.UsageError, match="--stability"):
        bench.parse_delays(text)


def test_stability_row_spread(bench):
    row = bench.StabilityRow("sim", 3, {0: 5.0, 1: 6.5, 7: 4.0}, 1, 2.0, 0)
    assert row.spread == pytest.approx(2.5)
    text = bench.stability_markdown("sim", [row], (1, 7), None)
    assert "| sim | 3 | 5.00 | 6.50 | 4.00 | 4.00 | 6.50 | 2.50 | 1 | 2.00 | 0 |" in text


# --------------------------------------------------------- benchmark: end to end

@pytest.mark.slow
@pytest.mark.skipif(not (EVAL / "real").is_dir(), reason="../shared/eval/real is absent")
def test_stages_and_stability_end_to_end(bench, tmp_path, capsys):
    folder = tmp_path / "real"
    folder.mkdir()
    for stem in ("trn09", "falcon-test"):             # an AMI clip (with a UEM) and another
        for path in (EVAL / "real").glob(f"{stem}.*"):
            shutil.copy(path, folder)
    out = tmp_path / "out.json"
    rc = bench.main([str(folder), "--stages", "--stability", "7", "--per-file",
                     "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    for heading in ("#### real: stages and oracles", "#### real: stages and oracles per file",
                    "#### real: stability under delays of 7 samples",
                    "#### real: stability per file"):
        assert heading in text
    data = json.loads(out.read_text())["real"]["config"]
    fair = data["total"]["fair"]["der"]
    sets = {(r["set"], r["condition"]): r for r in data["stages"]["sets"]}
    assert set(sets) == {(s, c) for s in ("real", "real AMI", "real other")
                         for c in ("detected", "oracle speech", "oracle count")}
    # the detected condition is the plain run, scored the same way
    assert sets["real", "detected"]["fair_der"] == pytest.approx(fair)
    assert sets["real AMI", "detected"]["files"] == 1
    for row in data["stages"]["sets"]:
        assert set(row["stages"]) == {"chunks", "linear", "bic", "link", "reseg"}
        # chunks are about 1 s of one voice: nearly pure, and the count only falls
        assert row["stages"]["chunks"]["purity"] > 90
        k = [row["stages"][s]["mean_clusters"] for s in ("chunks", "linear", "bic", "link")]
        assert k == sorted(k, reverse=True)
    # with the reference's speech, every single-speaker reference frame is modelled
    assert sets["real", "oracle speech"]["modelled"] == pytest.approx(100.0)
    assert len(data["stages"]["files"]) == 2 * 3
    stab = {r["set"]: r for r in data["stability"]["sets"]}
    assert data["stability"]["delays"] == [7]
    assert stab["real"]["fair_der"]["0"] == pytest.approx(fair)
    assert stab["real"]["spread"] == pytest.approx(
        abs(stab["real"]["fair_der"]["7"] - stab["real"]["fair_der"]["0"]))
    assert 0 <= stab["real"]["count_changes"] <= 2 and stab["real"]["failed"] == 0
