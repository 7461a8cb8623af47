"""scripts/make_noisy.py: a scored corpus copied with steady noise at an SNR."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from conftest import script_module

SR = 16000


def _corpus(folder):
    """Two recordings with references: speech-like bursts, one with long pauses."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    for uri, (a, b) in (("x", (0.5, 1.5)), ("y", (0.2, 2.8))):
        y = np.zeros(3 * SR)
        i, j = int(a * SR), int(b * SR)
        y[i:j] = 0.2 * rng.standard_normal(j - i)
        sf.write(folder / f"{uri}.wav", y, SR, subtype="PCM_16")
        (folder / f"{uri}.rttm").write_text(
            f"SPEAKER {uri} 1 {a:.3f} {b - a:.3f} <NA> <NA> A <NA> <NA>\n", encoding="utf-8")
    (folder / "x.uem").write_text("x 1 0.000 3.000\n", encoding="utf-8")
    (folder / "z.wav").write_bytes((folder / "x.wav").read_bytes())  # no reference: left out


@pytest.mark.parametrize("colour", ["white", "pink"])
def test_noise_sits_at_the_snr_under_the_reference_speech_and_is_deterministic(tmp_path,
                                                                             colour):
    src = tmp_path / "src"
    _corpus(src)
    with script_module("make_noisy.py", "make_noisy_under_test") as mn:
        for out in ("a", "b"):
            assert mn.main([str(src), "--out", str(tmp_path / out), "--snr", "6,20",
                            "--colour", colour]) == 0
    for snr in (6, 20):
        a, b = tmp_path / "a" / f"{colour}{snr}", tmp_path / "b" / f"{colour}{snr}"
        assert sorted(p.name for p in a.iterdir()) == [
            "x.rttm", "x.uem", "x.wav", "y.rttm", "y.wav"]
        for p in a.iterdir():
            assert p.read_bytes() == (b / p.name).read_bytes()
            if p.suffix != ".wav":
                assert p.read_bytes() == (src / p.name).read_bytes()
        for uri, (s0, s1) in (("x", (0.5, 1.5)), ("y", (0.2, 2.8))):
            clean, _ = sf.read(src / f"{uri}.wav")
            noisy, sr = sf.read(a / f"{uri}.wav")
            assert sr == SR and len(noisy) == len(clean)
            inside = slice(int(s0 * SR), int(s1 * SR))
            speech = np.sqrt(np.mean(clean[inside] ** 2))
            noise = np.sqrt(np.mean((noisy - clean) ** 2))
            # against the speech inside the turns, whatever the pauses around them
            assert 20 * np.log10(speech / noise) == pytest.approx(snr, abs=0.3)


def test_a_folder_without_references_is_refused(tmp_path):
    (tmp_path / "src").mkdir()
    sf.write(tmp_path / "src" / "a.wav", np.zeros(SR), SR)
    with script_module("make_noisy.py", "make_noisy_under_test") as mn:
        with pytest.raises(SystemExit):
            mn.main([str(tmp_path / "src"), "--out", str(tmp_path / "o")])
