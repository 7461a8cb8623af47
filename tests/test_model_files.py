"""Model files are untrusted input: only known arrays are read, sizes checked first."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from diarize.errors import ModelError
from diarize.gmm import _io, load_arrays
from diarize.sad import MODEL_PATH, load_model
from diarize.speakers import UBM_PATH, load_ubm


def _huge_zero_npz(path: Path, *, name: str, nbytes: int, extra: dict | None = None) -> None:
    """An .npz whose member `name` is `nbytes` of zeros, deflated, written in pieces so the
    test itself never holds it."""
    header = {"descr": "|u1", "fortran_order": False, "shape": (nbytes,)}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in (extra or {}).items():
            with zf.open(f"{key}.npy", "w") as f:
                np.lib.format.write_array(f, np.asarray(arr))
        with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, header)
            chunk = bytes(2**24)
            left = nbytes
            while left:
                f.write(chunk[:min(left, len(chunk))])
                left -= min(left, len(chunk))


def test_only_the_named_arrays_are_read(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, **{"ubm/a": np.arange(3), "ubm/b": np.ones((2, 2)), "cohort": np.zeros(4),
                      "junk": np.zeros(5), "other/x": np.zeros(1)})
    got = load_arrays(path, what="UBM", names=("ubm/", "cohort"))
    assert sorted(got) == ["cohort", "ubm/a", "ubm/b"]
    np.testing.assert_array_equal(got["ubm/b"], np.ones((2, 2)))
    assert got["ubm/b"].flags.writeable


def test_fortran_order_and_byte_order_survive(tmp_path):
    path = tmp_path / "m.npz"
    a = np.asfortranarray(np.arange(12.0).reshape(3, 4)).astype(">f8")
    np.savez(path, **{"ubm/a": a})
    got = load_arrays(path, what="UBM", names=("ubm/",))["ubm/a"]
    np.testing.assert_array_equal(got, a)


def test_shipped_models_still_load():
    load_model.cache_clear()
    load_ubm.cache_clear()
    speech, nonspeech = load_model(str(MODEL_PATH))
    assert speech.means_.shape == nonspeech.means_.shape
    assert load_ubm(str(UBM_PATH)).gmm.means_.ndim == 2


def test_an_unknown_member_over_the_limits_is_not_read(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    _huge_zero_npz(path, name="junk", nbytes=2**20, extra={"ubm/a": np.arange(3)})
    monkeypatch.setattr(_io, "MAX_ARRAY_BYTES", 2**10)
    monkeypatch.setattr(_io, "MAX_TOTAL_BYTES", 2**10)
    assert sorted(load_arrays(path, what="UBM", names=("ubm/",))) == ["ubm/a"]


def test_a_known_member_over_the_limit_is_refused_before_decompressing(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    _huge_zero_npz(path, name="ubm/attr:means_", nbytes=2**20)
    monkeypatch.setattr(_io, "MAX_ARRAY_BYTES", 2**19)
    with pytest.raises(ModelError, match=r"m\.npz.*'ubm/attr:means_'.*limit"):
        load_arrays(path, what="UBM", names=("ubm/",))


def test_the_total_is_limited_too(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    np.savez(path, **{f"ubm/{i}": np.zeros(2**15, np.uint8) for i in range(4)})
    monkeypatch.setattr(_io, "MAX_TOTAL_BYTES", 3 * 2**15)
    with pytest.raises(ModelError, match="its arrays.*limit"):
        load_arrays(path, what="UBM", names=("ubm/",))


def test_a_header_that_claims_more_than_the_member_holds_is_refused(tmp_path):
    # the header's shape decides the allocation: it must not be believed over the archive
    path = tmp_path / "m.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("ubm/a.npy", "w") as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "<f8", "fortran_order": False, "shape": (2**28,)})
            f.write(bytes(64))
    with pytest.raises(ModelError, match="header claims"):
        load_arrays(path, what="UBM", names=("ubm/",))


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, **{"ubm/a": np.array([{"x": 1}], dtype=object)})
    with pytest.raises(ModelError, match="Python objects"):
        load_arrays(path, what="UBM", names=("ubm/",))


def test_a_zip_bomb_model_is_a_model_error_for_the_sad_and_the_ubm(tmp_path, monkeypatch):
    monkeypatch.setattr(_io, "MAX_ARRAY_BYTES", 2**19)
    path = tmp_path / "bomb.npz"
    _huge_zero_npz(path, name="speech/attr:means_", nbytes=2**20)
    load_model.cache_clear()
    with pytest.raises(ModelError, match=r"bomb\.npz.*limit"):
        load_model(str(path))
    ubm = tmp_path / "ubm_bomb.npz"
    _huge_zero_npz(ubm, name="cohort", nbytes=2**20)
    load_ubm.cache_clear()
    with pytest.raises(ModelError, match=r"ubm_bomb\.npz.*limit"):
        load_ubm(str(ubm))


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="resource is POSIX")
def test_loading_a_1_gib_zero_array_stays_small(tmp_path):
    """The issue's case, smaller: a 1 GiB zero array (1 MB on disk) under a name the SAD
    model reads, with the real limits. The peak resident memory of a fresh process that
    tries to load it grows far less than the array's size (3 GiB took 3.2 GB before)."""
    path = tmp_path / "bomb.npz"
    _huge_zero_npz(path, name="speech/attr:means_", nbytes=2**30)
    assert path.stat().st_size < 10 * 2**20
    code = textwrap.dedent(f"""
        import resource
        from diarize.errors import ModelError
        from diarize.sad import load_model
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            load_model({str(path)!r})
        except ModelError as exc:
            print("refused:", exc)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print("grew_kib", after - before)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "refused:" in out and "limit" in out
    grew_kib = int(out.split("grew_kib")[1])
    assert grew_kib < 200 * 1024


# ------------------------------------------------- the configuration's files, before work
@pytest.mark.parametrize("settings, words", [
    ({"voices__nuisance_path": "/no/such/nuisance.npz"}, ["voices.link_nuisance_rank", "nuisance.npz"]),
    ({"cluster__link_nuisance_rank": 1000}, ["cluster.link_nuisance_rank 1000", "directions"]),
    ({"voices__nuisance_rank": 8, "voices__nuisance_path": "/no/such.npz"}, ["voices.nuisance_rank"]),
])
def test_a_nuisance_subspace_that_cannot_serve_is_refused_before_any_work(settings, words):
    from diarize.config import load_config
    from diarize.models import check_model_files

    with pytest.raises(ModelError) as info:
        check_model_files(load_config().replace(**settings))
    assert "\n" not in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_the_default_configuration_reads_no_nuisance_file(monkeypatch):
    # the shipped subspace at its shipped ranks is tested with the package: startup
    # does not pay for reading it
    from diarize import speakers
    from diarize.config import load_config
    from diarize.models import check_model_files

    def refuse(*args, **kwargs):
        raise AssertionError("the nuisance subspace was read")

    monkeypatch.setattr(speakers, "load_nuisance", refuse)
    check_model_files(load_config())
