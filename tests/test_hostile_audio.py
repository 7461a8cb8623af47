"""Hostile audio in the audio stage: no silent wrong answer, no unbounded memory.

Damaged compressed files are never cut short silently, a DC offset does not change what
is found, unsigned 8-bit samples are centred, sample rates that are not whole numbers or
are below the speech band are refused in one line before any resampling.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from diarize import Diarizer
from diarize.audio import audio_blocks, load_audio, prepare_signal, read_audio
from diarize.config import AudioConfig
from diarize.errors import AudioError
from hostile_helpers import assert_one_line_error, run_cli, voices

SR = 16000


@pytest.fixture(scope="module")
def speech():
    return voices(8.0, SR, seed=3, n_speakers=2).astype(np.float32)


# --------------------------------------------------------------------- damaged files
def _read_all(path) -> tuple[int, int]:
    """(frames the header states, frames libsndfile decodes)."""
    with sf.SoundFile(str(path)) as f:
        n, total = f.frames, 0
        while True:
            block = f.read(SR)
            total += len(block)
            if len(block) < SR:
                return n, total


@pytest.fixture(scope="module")
def damaged_mp3(tmp_path_factory, speech):
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile cannot write MP3")
    d = tmp_path_factory.mktemp("mp3")
    good = d / "good.mp3"
    sf.write(good, np.tile(speech, 4), SR, format="MP3")
    data = good.read_bytes()
    bad = d / "damaged.mp3"
    # Flip 4 bytes 10 KB in, at the first place where the decoder gives up early (a frame
    # header): the decoder then delivers only the first seconds.
    for offset in range(10000, 11000):
        corrupt = bytearray(data)
        for i in range(4):
            corrupt[offset + i] ^= 0xFF
        bad.write_bytes(bytes(corrupt))
        stated, decoded = _read_all(bad)
        if decoded < stated - SR:
            return bad, stated, decoded
    pytest.fail("no 4-byte flip made libsndfile stop early")


def test_damaged_mp3_is_refused_with_the_time_decoding_stopped(damaged_mp3):
    path, stated, decoded = damaged_mp3
    with pytest.raises(AudioError) as err:
        load_audio(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    assert f"{decoded / SR:.2f} s" in message and f"{stated / SR:.2f} s" in message


def test_damaged_mp3_cli_one_line(damaged_mp3, tmp_path):
    path, _, _ = damaged_mp3
    p = run_cli(path, "-o", tmp_path / "out")
    assert_one_line_error(p, 1, path.name, "decoding stopped")
    assert not (tmp_path / "out" / "damaged.rttm").exists()


def test_undamaged_mp3_reads_in_full(damaged_mp3):
    good = damaged_mp3[0].with_name("good.mp3")
    stated, _ = _read_all(good)
    assert len(load_audio(good)) == stated


# --------------------------------------------------------------------- DC offset
def test_dc_offset_is_removed_before_level_is_measured(speech):
    d = Diarizer(num_speakers=2)
    clean = d.extract((speech, SR))
    offset = d.extract((speech + np.float32(0.05), SR))
    # every frame's level the same to a hundredth of a dB, though 0.05 of DC alone is -26 dBFS
    np.testing.assert_allclose(offset.energy, clean.energy, atol=0.01)
    assert np.array_equal(d.diarize_features(offset).speech_mask,
                          d.diarize_features(clean).speech_mask)


def test_dc_offset_breaks_speech_detection_without_the_high_pass(speech):
    """The test above could pass for a reason other than the filter: this one shows the
    offset does matter when the high-pass is off."""
    d = Diarizer(num_speakers=2, audio__highpass_hz=0.0)
    clean = d.extract((speech, SR))
    offset = d.extract((speech + np.float32(0.05), SR))
    assert np.max(np.abs(offset.energy - clean.energy)) > 10


def test_high_pass_is_the_same_in_any_block_size(speech):
    whole = read_audio((speech, SR), config=AudioConfig(block_seconds=100.0))
    blocks = list(audio_blocks((speech, SR), config=AudioConfig(block_seconds=0.37)))
    assert len(blocks) > 10
    np.testing.assert_array_equal(np.concatenate(blocks), whole)


# --------------------------------------------------------------------- arrays
def test_unsigned_8bit_is_centred(speech):
    u8 = np.clip(np.round(speech / np.abs(speech).max() * 100 + 128), 0, 255).astype(np.uint8)
    as_float = ((u8.astype(np.float64) - 128) / 128).astype(np.float32)
    y = prepare_signal(u8, sample_rate=SR)
    np.testing.assert_array_equal(y, prepare_signal(as_float, sample_rate=SR))
    assert abs(float(np.mean(y))) < 0.01
    result = Diarizer(num_speakers=2)((u8, SR))
    assert len(result.turns) > 0
    assert result == Diarizer(num_speakers=2)((as_float, SR))


@pytest.mark.parametrize("rate", [16000.7, 15999.5, float("nan"), float("inf"), -16000, 0,
                                  "16000", True])
def test_bad_sample_rates_are_refused(speech, rate):
    with pytest.raises(AudioError, match="sample rate"):
        Diarizer()((speech, rate))


@pytest.mark.parametrize("rate", [16000.0, np.float64(16000.0), np.int32(16000), 16000])
def test_whole_number_rates_are_accepted(speech, rate):
    np.testing.assert_array_equal(prepare_signal(speech, sample_rate=rate),
                                  prepare_signal(speech, sample_rate=16000))


# --------------------------------------------------------------------- absurd rates
def test_three_hz_array_refused_before_resampling(speech):
    with pytest.raises(AudioError, match="below the minimum of 4000 Hz"):
        prepare_signal(np.zeros(10_000_000, dtype=np.float32), sample_rate=3)


def test_three_hz_file_refused_in_one_line(tmp_path):
    path = tmp_path / "three_hz.wav"
    sf.write(path, np.zeros(500_000, dtype=np.int16), 3, subtype="PCM_16")  # 1 MB, 46 h
    with pytest.raises(AudioError, match="3 Hz is below the minimum"):
        load_audio(path)
    p = run_cli(path, "-o", tmp_path / "out", timeout=60)
    assert_one_line_error(p, 1, path.name, "3 Hz")


def test_telephone_rate_accepted_by_the_telephone_preset(speech, tmp_path):
    import soxr

    narrow = soxr.resample(speech, SR, 8000).astype(np.float32)
    path = tmp_path / "call.wav"
    sf.write(path, narrow, 8000, subtype="PCM_16")
    result = Diarizer.from_preset("telephone", num_speakers=2)(path)
    assert result.uri == "call" and len(result.turns) > 0


# --------------------------------------------------------------------- bounded memory
def _cli_peak_mib(*args, timeout: float = 120):
    """Run ``python -m diarize ARGS`` under a wrapper; (CompletedProcess, peak RSS MiB of
    the diarize process)."""
    import os
    import subprocess
    import sys

    from hostile_helpers import REPO

    wrapper = ("import resource, subprocess, sys; "
               "p = subprocess.run(sys.argv[1:], capture_output=True); "
               "sys.stderr.buffer.write(p.stderr); sys.stdout.buffer.write(p.stdout); "
               "print('RSS', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
               "file=sys.stderr); sys.exit(p.returncode)")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "diarize",
                        *map(str, args)], cwd=str(REPO), env=env, capture_output=True,
                       timeout=timeout)
    lines = p.stderr.decode("utf-8", "replace").splitlines()
    rss = int(lines[-1].split()[1]) / 1024
    p.stderr = "\n".join(lines[:-1]).encode() + (b"\n" if len(lines) > 1 else b"")
    return p, rss


def _wav_header(*, rate: int, channels: int, bits: int, data_bytes: int) -> bytes:
    import struct

    block = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", min(0xFFFFFFFF, 36 + data_bytes)) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, bits)
            + b"data" + struct.pack("<I", min(0xFFFFFFFF, data_bytes)))


def _noise_bytes(n: int) -> bytes:
    return (np.random.default_rng(0).standard_normal(n // 2) * 3000).astype("<i2").tobytes()


HOSTILE = {
    # 1 MB of samples behind a header that claims 4 GB (37 hours at 16 kHz)
    "claims_huge_duration": lambda: _wav_header(rate=16000, channels=1, bits=16,
                                                data_bytes=0xFFFFFFF0) + _noise_bytes(1 << 20),
    # 1 MB at 3 Hz: 46 hours once resampled
    "three_hz": lambda: _wav_header(rate=3, channels=1, bits=16, data_bytes=1 << 20)
    + _noise_bytes(1 << 20),
    # 1 MB at 1 MHz with 1000 channels: one 30 s block would be 120 GB
    "thousand_channels_1mhz": lambda: _wav_header(rate=1_000_000, channels=1000, bits=16,
                                                  data_bytes=1 << 20) + _noise_bytes(1 << 20),
    # at the minimum rate, a header claiming more than the file holds
    "min_rate_truncated": lambda: _wav_header(rate=4000, channels=2, bits=16,
                                              data_bytes=1 << 30) + _noise_bytes(1 << 20),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_headers_bounded_memory_and_one_outcome(name, tmp_path):
    path = tmp_path / f"{name}.wav"
    path.write_bytes(HOSTILE[name]())
    p, rss = _cli_peak_mib(path, "-o", tmp_path / "out", timeout=120)
    assert rss < 2048, f"{name}: {rss:.0f} MiB"
    err = p.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    if p.returncode == 0:
        assert (tmp_path / "out" / f"{name}.rttm").is_file()
    else:
        assert_one_line_error(p, 1, path.name)
    if name == "three_hz":
        assert p.returncode == 1 and "3 Hz" in err


def test_damaged_mp3_bounded_memory(damaged_mp3, tmp_path):
    p, rss = _cli_peak_mib(damaged_mp3[0], "-o", tmp_path / "out")
    assert p.returncode == 1 and rss < 2048


@pytest.mark.slow
def test_run_reads_a_file_whose_name_is_not_utf8(tmp_path):
    """Any name a file system holds: the file is read and its output named with \\xNN."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "audio_fixtures" / "three_speakers.wav"
    name = os.fsdecode(b"bad\xff.wav")
    shutil.copy(src, tmp_path / name)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "diarize", str(tmp_path / name), "-o", str(out)],
                          capture_output=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert b"Traceback" not in proc.stderr
    rttm = out / "bad\\xff.rttm"
    assert rttm.is_file() and rttm.read_text().split("\n")[1].startswith("SPEAKER bad\\xff ")


@pytest.mark.parametrize("content", [None, b"\x00\x01 not audio at all" * 40])
def test_error_names_a_non_utf8_file_as_its_output_would(tmp_path, content):
    """A missing or unreadable file whose name is not UTF-8: the one error line writes the
    name's odd bytes as \\xNN, as output names and warnings do (not as \\udcNN)."""
    import os
    import subprocess
    import sys

    name = os.fsdecode(b"bad\xff.wav")
    if content is not None:
        (tmp_path / name).write_bytes(content)
    proc = subprocess.run([sys.executable, "-m", "diarize", name, "-o", "out"],
                          capture_output=True, cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.decode("utf-8").splitlines()
    assert len(lines) == 1 and lines[0].startswith("diarize: error: bad\\xff.wav: "), lines
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
