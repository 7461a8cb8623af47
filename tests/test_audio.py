"""The audio stage on every container and on hostile files.

Containers are made at test time with PyAV itself (the encoders FFmpeg ships in its
wheel), from ``audio_fixtures/two_speakers.wav``: m4a (AAC), mp4 (H.264 + AAC), webm
(Opus), Ogg Opus, mp3, mkv (AAC). Each must decode sample-aligned with the WAV (no shift
from the encoder delay: AAC priming, Opus pre-skip, the mp3 decoder delay) and give the
same diarization within a point of fair DER. Hostile files (cut short, streamed,
phase-inverted, in pipes) are built in temporary folders.
"""

from __future__ import annotations

import fractions
import os
import subprocess
import sys
import threading
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from diarize import Diarizer
from diarize.audio import AUDIO_SUFFIXES, audio_blocks, load_audio, prepare_signal
from diarize.config import AudioConfig
from diarize.errors import AudioError, AudioWarning
from diarize.metrics import evaluate_file
from diarize.segments import Turn

av = pytest.importorskip("av")

FIXTURES = Path(__file__).resolve().parents[1] / "audio_fixtures"
WAV = FIXTURES / "two_speakers.wav"
SR = 16000


def _encode(path: Path, fmt: str, codec: str, rate: int, y: np.ndarray, sr: int, *,
            video: bool = False, audio_tracks: int = 1, channels: int = 1,
            bit_rate: int | None = None) -> Path:
    """Encode float32 samples `y` (shape (n,) or (n, channels)) into `path` with PyAV."""
    layout = "mono" if channels == 1 else "stereo"
    y2 = y.reshape(len(y), -1).astype(np.float32)
    out = av.open(str(path), "w", format=fmt)
    vs = None
    if video:
        vs = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=10)
        vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
    streams = [out.add_stream(codec, rate=rate, layout=layout) for _ in range(audio_tracks)]
    for s in streams:
        if bit_rate:
            s.bit_rate = bit_rate
    resamplers = [av.AudioResampler(format=s.format, layout=layout, rate=rate) for s in streams]
    n, vi = 1024, 0
    for a in range(0, len(y2), n):
        for k, (s, r) in enumerate(zip(streams, resamplers)):
            # the second track holds the signal at a tenth of the level: told apart by level
            chunk = y2[a:a + n] * (1.0 if k == 0 else 0.1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk.T), format="fltp",
                                               layout=layout)
            frame.sample_rate, frame.pts = sr, a
            frame.time_base = fractions.Fraction(1, sr)
            for rf in r.resample(frame):
                for p in s.encode(rf):
                    out.mux(p)
        while vs is not None and vi / 10 <= (a + n) / sr:
            img = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            img.pts, vi = vi, vi + 1
            for p in vs.encode(img):
                out.mux(p)
    for s, r in zip(streams, resamplers):
        for rf in r.resample(None):
            for p in s.encode(rf):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    if vs is not None:
        for p in vs.encode(None):
            out.mux(p)
    out.close()
    return path


#: name -> (container, codec, codec rate, bit rate or None for the encoder's default).
#: LAME's default for 16 kHz mono is 24 kbit/s, which cuts the band above 3 kHz and the
#: diarization finds one speaker; 64 kbit/s is what podcasts of speech use.
CONTAINERS = {
    "aac.m4a": ("mp4", "aac", 16000, None),
    "h264_aac.mp4": ("mp4", "aac", 16000, None),  # with a video track
    "opus.webm": ("webm", "libopus", 48000, None),
    "opus.opus": ("ogg", "libopus", 48000, None),
    "lame.mp3": ("mp3", "libmp3lame", 16000, 64000),
    "aac.mkv": ("matroska", "aac", 16000, None),
}


@pytest.fixture(scope="module")
def original() -> np.ndarray:
    return load_audio(WAV)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory) -> dict[str, Path]:
    y, sr = sf.read(str(WAV), dtype="float32")
    d = tmp_path_factory.mktemp("containers")
    return {name: _encode(d / name, fmt, codec, rate, y, sr, video=name.endswith(".mp4"),
                          bit_rate=bit_rate)
            for name, (fmt, codec, rate, bit_rate) in CONTAINERS.items()}


def _lag(x: np.ndarray, y: np.ndarray) -> int:
    """Samples by which `x` lags `y` (cross-correlation peak over the first 10 s)."""
    from scipy.signal import correlate

    n = min(len(x), len(y), 10 * SR)
    cc = correlate(x[:n].astype(np.float64), y[:n].astype(np.float64), mode="full",
                   method="fft")
    return int(np.argmax(cc)) - (n - 1)


# ----------------------------------------------------------------------- containers
@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_container_decodes_sample_aligned(encoded, original, name):
    y = load_audio(encoded[name])
    assert _lag(y, original) == 0
    # the whole recording, give or take the encoder's padding at the end (one AAC frame)
    assert len(original) <= len(y) <= len(original) + 1024
    # a lossy copy: close to the original sample by sample once aligned
    n = len(original)
    residual = np.sum((y[:n] - original) ** 2) / np.sum(original ** 2)
    assert residual < 0.1, residual


def _rttm(path: Path) -> list[Turn]:
    turns = []
    for line in path.read_text().splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            turns.append(Turn(float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return turns


@pytest.mark.slow
def test_every_container_gives_the_wavs_diarization(encoded):
    """The issue's acceptance: same number of speakers, fair DER within 1 point."""
    reference = _rttm(FIXTURES / "two_speakers.rttm")
    d = Diarizer()

    def fair(result) -> float:
        return evaluate_file(reference, result.turns, collar=0.25, skip_overlap=True).der

    base = d(WAV)
    for name, path in encoded.items():
        result = d(path)
        assert len(result.speakers) == len(base.speakers), name
        # DER in percent: within one point of the WAV's
        assert abs(fair(result) - fair(base)) <= 1.0, (name, fair(result), fair(base))


def test_m4a_is_streamed_in_blocks(tmp_path, original):
    """A long m4a is never decoded whole: what the reader holds stays near one block."""
    long = np.tile(original, 4)  # 2 min
    path = _encode(tmp_path / "long.m4a", "mp4", "aac", SR, long, SR)
    cfg = AudioConfig(block_seconds=2.0)
    tracemalloc.start()
    try:
        n = 0
        for block in audio_blocks(path, config=cfg):
            n += len(block)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n >= len(long)
    # 2 s blocks are 128 KB of float32: a whole-file decode would be 7.7 MB
    assert peak < 2_000_000, peak


def test_no_audio_track_is_one_line(tmp_path):
    path = tmp_path / "video_only.mp4"
    out = av.open(str(path), "w")
    vs = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=10)
    vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
    for i in range(20):
        img = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
        img.pts = i
        for p in vs.encode(img):
            out.mux(p)
    for p in vs.encode(None):
        out.mux(p)
    out.close()
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert str(err.value) == f"{path}: no audio track (the file holds only video)"


def test_several_audio_tracks_take_the_first_and_say_so(tmp_path, original):
    y, sr = sf.read(str(WAV), dtype="float32")
    path = _encode(tmp_path / "two_tracks.mkv", "matroska", "aac", SR, y, sr, audio_tracks=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x = load_audio(path)
    assert [type(w.message) for w in caught] == [AudioWarning]
    assert str(path) in str(caught[0].message) and "first" in str(caught[0].message)
    # the first track is at full level, the second at a tenth
    n = len(original)
    assert abs(np.std(x[:n]) / np.std(original) - 1) < 0.05


@pytest.mark.slow
@pytest.mark.parametrize("quiet", [False, True])
def test_enrolling_from_several_tracks_says_so_unless_quiet(tmp_path, quiet):
    from hostile_helpers import run_cli

    y, sr = sf.read(str(WAV), dtype="float32")
    path = _encode(tmp_path / "two_tracks.mkv", "matroska", "aac", SR, y, sr, audio_tracks=2)
    p = run_cli("enroll", "--voices", tmp_path / "voices", "alice", path,
                *(["-q"] if quiet else []))
    assert p.returncode == 0, p.stderr
    err = p.stderr.decode().splitlines()
    warned = [line for line in err if ": warning: " in line]
    if quiet:
        assert err == []  # -q: errors only
    else:
        assert len(warned) == 1 and "audio tracks" in warned[0], err
        assert warned[0].startswith("diarize: warning: ") and "new voiceprint" in err[-1]


def test_container_suffixes_are_listed():
    assert {".m4a", ".mp4", ".mov", ".mkv", ".webm", ".opus", ".wma", ".aac", ".mp3", ".ogg",
            ".flac", ".wav", ".aiff"} <= AUDIO_SUFFIXES
    assert all(s.startswith(".") and s == s.lower() for s in AUDIO_SUFFIXES)


def test_batch_folder_listing_takes_every_container(encoded):
    from diarize.batch import _audio_files_in

    folder = next(iter(encoded.values())).parent
    assert sorted(p.name for p in _audio_files_in(folder)) == sorted(CONTAINERS)


# ----------------------------------------------------------------------- truncation
def _one_line(err: pytest.ExceptionInfo, path: Path, *parts: str) -> None:
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    for part in parts:
        assert part in message, message


def test_wav_cut_short_is_refused(tmp_path):
    """A data chunk that states 42 s in a file holding 12.5 s."""
    full = tmp_path / "full.wav"
    sf.write(full, np.zeros(42 * SR, dtype=np.int16), SR, subtype="PCM_16")
    path = tmp_path / "cut.wav"
    path.write_bytes(full.read_bytes()[:44 + 2 * int(12.5 * SR)])
    with pytest.raises(AudioError) as err:
        load_audio(path)
    _one_line(err, path, "decoding stopped at 12.50 s of the 42.00 s the header states")


def test_aiff_cut_short_is_refused(tmp_path, original):
    full = tmp_path / "full.aiff"
    sf.write(full, original, SR, subtype="PCM_16")
    path = tmp_path / "cut.aiff"
    path.write_bytes(full.read_bytes()[:len(full.read_bytes()) // 2])
    with pytest.raises(AudioError) as err:
        load_audio(path)
    _one_line(err, path, "decoding stopped at", "of the 30.00 s the header states")


def test_ogg_opus_cut_short_is_refused(tmp_path, original):
    full = tmp_path / "full.ogg"
    sf.write(full, original, SR, format="OGG", subtype="OPUS")
    data = full.read_bytes()
    assert len(load_audio(full)) == len(original)  # the whole file is fine
    for cut in (len(data) * 3 // 4, data.rfind(b"OggS")):  # mid-page, and at a page boundary
        path = tmp_path / f"cut{cut}.ogg"
        path.write_bytes(data[:cut])
        with pytest.raises(AudioError) as err:
            load_audio(path)
        _one_line(err, path, "without its end-of-stream page", "cut short")


def test_webm_cut_short_is_refused(encoded, tmp_path):
    data = encoded["opus.webm"].read_bytes()
    path = tmp_path / "cut.webm"
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(AudioError) as err:
        load_audio(path)
    _one_line(err, path, "decoding stopped at", "the header states")


def _late_matroska(path: Path, y: np.ndarray, *, start: int) -> Path:
    """FLAC in Matroska whose first timestamp is `start` samples (as `ffmpeg -vn -c:a
    copy` keeps a track that began after the picture)."""
    import av

    pcm = np.round(y * 32767).astype(np.int16)
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("flac", rate=SR)
        stream.layout = "mono"
        for at in range(0, len(pcm), 1024):
            frame = av.AudioFrame.from_ndarray(pcm[None, at:at + 1024], format="s16",
                                               layout="mono")
            frame.sample_rate, frame.pts = SR, at + start
            frame.time_base = fractions.Fraction(1, SR)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def test_matroska_track_that_starts_late_is_read_whole(tmp_path, original):
    # the segment's duration runs from time 0, the track's samples from its first
    # timestamp: a complete file was refused as 0.5 s short ("damaged data")
    path = _late_matroska(tmp_path / "late.mka", original, start=SR // 2)
    assert len(load_audio(path)) == len(original)
    cut = tmp_path / "cut.mka"  # and one cut short is still refused
    cut.write_bytes(path.read_bytes()[:path.stat().st_size * 6 // 10])
    with pytest.raises(AudioError) as err:
        load_audio(cut)
    _one_line(err, cut, "decoding stopped at", "the header states")


def test_webm_audio_muxed_after_a_longer_video_is_read_whole(tmp_path, original):
    # FFmpeg gives the audio track the container's (the video's) length when its probe
    # meets no audio packet; the track's own DURATION tag is its length
    import av

    path = tmp_path / "video_first.webm"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libvpx", rate=10)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        audio = out.add_stream("libopus", rate=48000)
        audio.layout = "mono"
        blank = np.zeros((32, 32, 3), np.uint8)
        for _ in range(10 * (len(original) // SR + 2)):  # 2 s longer than the audio
            for packet in video.encode(av.VideoFrame.from_ndarray(blank, format="rgb24")):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=48000)
        for at in range(0, len(original), 960):
            frame = av.AudioFrame.from_ndarray(original[None, at:at + 960].astype(np.float32),
                                               format="flt", layout="mono")
            frame.sample_rate = SR
            for piece in resampler.resample(frame):
                for packet in audio.encode(piece):
                    out.mux(packet)
        for piece in resampler.resample(None):
            for packet in audio.encode(piece):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
    y = load_audio(path)
    assert abs(len(y) - len(original)) < 0.05 * SR


def test_flac_cut_short_names_where_decoding_stopped(tmp_path, original):
    full = tmp_path / "full.flac"
    sf.write(full, original, SR)
    path = tmp_path / "cut.flac"
    path.write_bytes(full.read_bytes()[:len(full.read_bytes()) // 3])
    with pytest.raises(AudioError) as err:
        load_audio(path)
    _one_line(err, path, "decoding stopped at", "of the 30.00 s the header states")
    stopped = float(str(err.value).split("decoding stopped at ")[1].split(" s")[0])
    assert 5.0 < stopped < 15.0  # a third of the bytes: about a third of the 30 s


@pytest.mark.parametrize("fmt, subtype", [("W64", "PCM_16"), ("W64", "FLOAT"), ("AU", "PCM_16"),
                                           ("AU", "ULAW"), ("CAF", "PCM_16"), ("CAF", "FLOAT"),
                                           ("CAF", "ALAC_16")])
def test_w64_au_and_caf_cut_short_are_refused(tmp_path, original, fmt, subtype):
    # libsndfile reads a cut W64 or AU as a shorter recording, and FFmpeg (which reads
    # what libsndfile refuses of a cut CAF) estimates its length from the file size:
    # the header's length is checked on both paths.
    full = tmp_path / f"full.{fmt.lower()}"
    sf.write(full, original, SR, format=fmt, subtype=subtype)
    assert len(load_audio(full)) == len(original)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(full.read_bytes()[:len(full.read_bytes()) // 2])
    with pytest.raises(AudioError) as err:
        load_audio(path)
    _one_line(err, path)
    assert "the header states" in str(err.value) or "corrupt audio data" in str(err.value)


def test_complete_files_are_not_taken_for_cut_ones(tmp_path, original):
    for name, kw in {"a.wav": {}, "a.aiff": {}, "a.flac": {},
                     "a.ogg": {"format": "OGG", "subtype": "VORBIS"}}.items():
        sf.write(tmp_path / name, original, SR, **kw)
        assert len(load_audio(tmp_path / name)) == len(original)


# ----------------------------------------------------------------------- streams
def _streamed_wav(path: Path, pcm: bytes, size: int) -> Path:
    import struct

    path.write_bytes(b"RIFF" + struct.pack("<I", size) + b"WAVE" + b"fmt "
                     + struct.pack("<IHHIIHH", 16, 1, 1, SR, 2 * SR, 2, 16)
                     + b"data" + struct.pack("<I", size) + pcm)
    return path


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_streamed_wav_reads_to_the_end(tmp_path, original, size):
    """A WAV written to a stream states RIFF and data sizes of 0 or 0xFFFFFFFF."""
    full = tmp_path / "full.wav"
    sf.write(full, original, SR, subtype="PCM_16")
    path = _streamed_wav(tmp_path / "streamed.wav", full.read_bytes()[44:], size)
    np.testing.assert_allclose(load_audio(path), load_audio(full), atol=1e-6)


def test_fifo_is_read_through_the_decoder(tmp_path, original):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    full = tmp_path / "full.wav"
    sf.write(full, original, SR, subtype="PCM_16")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as w:
            w.write(full.read_bytes())

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        y = load_audio(fifo)
    finally:
        writer.join()
    np.testing.assert_allclose(y, load_audio(full), atol=1e-6)


@pytest.mark.slow
def test_an_m4a_with_its_index_at_the_end_through_a_pipe_says_so(encoded, tmp_path):
    # FFmpeg's default layout puts the index after the audio: readable by name, not
    # from a pipe, and not damaged either.
    data = encoded["aac.m4a"].read_bytes()
    moov, mdat = data.find(b"moov"), data.find(b"mdat")
    assert 0 < mdat < moov  # the layout this test is about
    p = subprocess.run([sys.executable, "-m", "diarize", "-", "--stdout"], input=data,
                       capture_output=True, cwd=tmp_path, timeout=300)
    err = p.stderr.decode(errors="replace").strip()
    assert p.returncode != 0 and "\n" not in err and "Traceback" not in err
    assert "cannot be read from a pipe" in err and "corrupt" not in err


def test_a_double_sample_beyond_float32_is_named_out_of_range(tmp_path, original):
    path = tmp_path / "huge.wav"
    sf.write(path, original.astype(np.float64) * 1e200, SR, subtype="DOUBLE")
    with pytest.raises(AudioError) as err:
        load_audio(path)
    _one_line(err, path, "beyond 3.4e38")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["/dev/stdin", "-"])
def test_cli_reads_standard_input(tmp_path, name):
    if not os.path.exists("/dev/stdin"):
        pytest.skip("no /dev/stdin here")
    out = tmp_path / "out"
    with open(WAV, "rb") as stdin:
        p = subprocess.run([sys.executable, "-m", "diarize", name, "-o", str(out)],
                           stdin=stdin, capture_output=True, cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert b"Traceback" not in p.stderr
    rttms = list(out.glob("*.rttm"))
    assert [r.name for r in rttms] == ["stdin.rttm"]
    # streamed through the decoder, the same samples and so the same turns as the file
    f = subprocess.run([sys.executable, "-m", "diarize", str(WAV), "--uri", "stdin",
                        "--stdout"], capture_output=True, cwd=tmp_path, timeout=300)
    assert f.returncode == 0
    turns = [line for line in rttms[0].read_text().splitlines() if line.startswith("SPEAKER")]
    assert len(turns) > 3 and "\n".join(turns) + "\n" == f.stdout.decode()


@pytest.mark.slow
def test_enroll_reads_standard_input(tmp_path):
    if not os.path.exists("/dev/stdin"):
        pytest.skip("no /dev/stdin here")
    with open(WAV, "rb") as stdin:
        p = subprocess.run([sys.executable, "-m", "diarize", "enroll", "--voices",
                            str(tmp_path / "v"), "ann", "-"], stdin=stdin,
                           capture_output=True, cwd=tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert (tmp_path / "v" / "ann.npz").is_file()


def test_dash_is_one_recording_given_alone(tmp_path):
    from click.testing import CliRunner

    from diarize.cli import main

    result = CliRunner().invoke(main, ["-", str(WAV)])
    assert result.exit_code == 2
    assert "standard input" in result.output and "only AUDIO" in result.output


# ----------------------------------------------------------------------- downmix
def test_phase_inverted_stereo_does_not_cancel(original):
    inverted = np.stack([original, -original], axis=1)
    np.testing.assert_array_equal(prepare_signal(inverted, sample_rate=SR),
                                  prepare_signal(original, sample_rate=SR))
    # channels-first too, and with one channel 6 dB down
    lopsided = np.stack([0.5 * original, -original])
    y = prepare_signal(lopsided, sample_rate=SR)
    assert np.std(y) > 0.5 * np.std(prepare_signal(original, sample_rate=SR))


def test_phase_inverted_stereo_file_finds_the_speakers(tmp_path, original):
    path = tmp_path / "inverted.wav"
    sf.write(path, np.stack([original, -original], axis=1), SR, subtype="FLOAT")
    result = Diarizer()(path)
    assert len(result.speakers) == len(Diarizer()(WAV).speakers)


@pytest.mark.parametrize("flipped_until", [10.0, 20.0])
def test_a_channel_turned_over_for_part_of_a_block_does_not_cancel(original, flipped_until):
    # one channel in opposite phase for the first seconds only (two takes joined): the
    # plain mean cancels those seconds, the aligned mean the others; neither may win alone
    sign = np.ones_like(original)
    sign[:int(flipped_until * SR)] = -1
    stereo = np.stack([original, sign * original], axis=1)
    config = AudioConfig(highpass_hz=0.0)
    y = prepare_signal(stereo, sample_rate=SR, config=config)
    mono = prepare_signal(original, sample_rate=SR, config=config)
    for a, b in ((0.0, flipped_until), (flipped_until, len(original) / SR)):
        part = slice(int(a * SR) + SR // 10, int(b * SR) - SR // 10)  # away from the switch
        np.testing.assert_allclose(y[part], mono[part], atol=1e-6)


def test_normal_stereo_is_still_the_mean(original):
    rng = np.random.default_rng(0)
    other = (0.01 * rng.standard_normal(len(original))).astype(np.float32)
    for right in (0.5 * original, other, np.zeros_like(original)):
        stereo = np.stack([original, right.astype(np.float32)], axis=1)
        expected = stereo.mean(axis=1, dtype=np.float32)
        np.testing.assert_array_equal(
            prepare_signal(stereo, sample_rate=SR, config=AudioConfig(highpass_hz=0.0)),
            expected)


# ----------------------------------------------------------------------- integer arrays
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_wide_integers_holding_16_bits_are_16_bit_audio(original, dtype):
    pcm16 = np.round(original * 32767).astype(np.int16)
    expected = prepare_signal(pcm16, sample_rate=SR)
    np.testing.assert_array_equal(prepare_signal(pcm16.astype(dtype), sample_rate=SR), expected)


def test_python_list_of_ints_is_16_bit_audio(original):
    pcm16 = np.round(original * 32767).astype(np.int16)
    np.testing.assert_array_equal(prepare_signal(pcm16.tolist(), sample_rate=SR),
                                  prepare_signal(pcm16, sample_rate=SR))
    result = Diarizer()((pcm16.tolist(), SR))
    assert len(result.speakers) == 2


def test_full_scale_int32_keeps_its_scale(original):
    pcm32 = np.round(original * 2147483647.0).astype(np.int32)
    y = prepare_signal(pcm32, sample_rate=SR, config=AudioConfig(highpass_hz=0.0))
    np.testing.assert_allclose(y, original, atol=1e-6)


def test_integers_beyond_32_bits_are_refused(original):
    huge = (original * 2.0 ** 40).astype(np.int64)
    with pytest.raises(AudioError, match="beyond the 32-bit range") as err:
        prepare_signal(huge, sample_rate=SR)
    assert "\n" not in str(err.value)


def test_prepare_signal_resamples_to_the_config_s_rate_unless_told():
    # target_rate's default was 16000 whatever the config said
    x = np.random.default_rng(3).standard_normal(SR).astype(np.float32) * 0.1
    assert len(prepare_signal(x, sample_rate=SR, config=AudioConfig(sample_rate=8000))) == 8000
    assert len(prepare_signal(x, sample_rate=SR)) == 16000
    assert len(prepare_signal(x, sample_rate=SR, target_rate=8000,
                              config=AudioConfig(sample_rate=22050))) == 8000
