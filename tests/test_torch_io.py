"""Reading torch.save'd state dicts without torch: the authors' 405 LSTMs, crafted archives and
malicious pickles (refused before anything they name is imported or called).

No test here imports torch; ``_no_torch`` makes any import of it fail while a test runs.
"""

from __future__ import annotations

import os
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from systems import LSTM, load_model
from systems.torch_io import UnsafePickleError, read_state_dict


@pytest.fixture(autouse=True)
def _no_torch(monkeypatch):
    """Any ``import torch`` during a test raises ImportError."""
    monkeypatch.setitem(sys.modules, "torch", None)


# ----------------------------------------------------------------------- crafted archives
class _G:
    """A pickled reference to a global ``module.name`` (what torch's pickler writes)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name


class _Call:
    """``func(*args)`` in the pickle (a REDUCE)."""

    def __init__(self, func: _G, args: tuple) -> None:
        self.func, self.args = func, args


class _Pid:
    """A persistent id (BINPERSID), as torch.save writes for each storage."""

    def __init__(self, *fields) -> None:
        self.fields = fields


def _enc(obj) -> bytes:
    """Pickle opcodes (protocol 2) for the few object kinds torch.save writes, by hand."""
    if isinstance(obj, _G):
        return b"c" + f"{obj.module}\n{obj.name}\n".encode()
    if isinstance(obj, _Call):
        return _enc(obj.func) + _enc(tuple(obj.args)) + b"R"
    if isinstance(obj, _Pid):
        return _enc(tuple(obj.fields)) + b"Q"
    if isinstance(obj, tuple):
        return b"(" + b"".join(_enc(o) for o in obj) + b"t"
    if isinstance(obj, list):
        return b"]" + b"".join(_enc(o) + b"a" for o in obj)
    if isinstance(obj, bool):
        return b"\x89" if not obj else b"\x88"
    if isinstance(obj, int):
        return b"J" + obj.to_bytes(4, "little", signed=True)
    if isinstance(obj, str):
        raw = obj.encode()
        return b"X" + len(raw).to_bytes(4, "little") + raw
    raise TypeError(type(obj))


def _dumps(obj) -> bytes:
    return b"\x80\x02" + _enc(obj) + b"."


def _tensor(key: str, storage: str, numel: int, offset: int, size: tuple, stride: tuple):
    return _Call(_G("torch._utils", "_rebuild_tensor_v2"),
                 (_Pid("storage", _G("torch", storage), key, "cpu", numel),
                  offset, size, stride, False, _Call(_G("collections", "OrderedDict"), ())))


def _write(path: Path, pkl: bytes, storages: dict[str, bytes], name: str = "archive") -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}/data.pkl", pkl)
        z.writestr(f"{name}/byteorder", "little")
        for key, raw in storages.items():
            z.writestr(f"{name}/data/{key}", raw)
    return path


def test_reads_offsets_strides_and_dtypes(tmp_path):
    """A float64 transposed view, a float16 slice at an offset, a float32 scalar."""
    base = np.arange(12.0)  # storage "0", float64
    half = np.arange(10, dtype=np.float16) / 4  # storage "1"
    state = _Call(_G("collections", "OrderedDict"), ([
        ("a", _tensor("0", "DoubleStorage", 12, 0, (4, 3), (1, 4))),  # base.reshape(3,4).T
        ("b", _tensor("1", "HalfStorage", 10, 3, (2, 2), (2, 1))),
        ("c", _tensor("0", "DoubleStorage", 12, 5, (), ())),
    ],))
    path = _write(tmp_path / "t.pt", _dumps(state),
                  {"0": base.tobytes(), "1": half.tobytes()})
    sd = read_state_dict(path)
    np.testing.assert_array_equal(sd["a"], base.reshape(3, 4).T)
    np.testing.assert_array_equal(sd["b"], half[3:7].reshape(2, 2))
    assert sd["c"].shape == () and sd["c"] == 5.0
    assert sd["a"].dtype == np.float64 and sd["b"].dtype == np.float16


def test_a_tensor_past_its_storage_is_refused(tmp_path):
    state = _Call(_G("collections", "OrderedDict"), ([
        ("a", _tensor("0", "FloatStorage", 4, 2, (3,), (1,))),
    ],))
    path = _write(tmp_path / "t.pt", _dumps(state), {"0": np.zeros(4, np.float32).tobytes()})
    with pytest.raises(pickle.UnpicklingError, match="runs past its storage"):
        read_state_dict(path)


@pytest.mark.parametrize("target", [("os", "system"), ("posix", "system"),
                                    ("builtins", "eval"), ("builtins", "exec"),
                                    ("subprocess", "Popen"), ("torch", "load")])
def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path, target):
    marker = tmp_path / "pwned"
    cmd = f"open({str(marker)!r}, 'w').write('x')"
    if target[1] == "system" or target[1] == "Popen":
        cmd = f"touch {marker}"
    evil = _Call(_G(*target), (cmd,))
    path = _write(tmp_path / "evil.pt", _dumps(evil), {})
    with pytest.raises(UnsafePickleError, match=f"{target[0]}.{target[1]}"):
        load_model(path)
    assert not marker.exists()


def test_the_crafted_pickles_would_run_code_with_plain_pickle(tmp_path):
    """The refusal above is the unpickler's doing: plain pickle.loads runs the same bytes."""
    marker = tmp_path / "ran"
    pkl = _dumps(_Call(_G("builtins", "exec"), (f"open({str(marker)!r}, 'w').write('x')",)))
    pickle.loads(pkl)
    assert marker.exists()


def test_not_a_zip_and_no_dict_are_clear_errors(tmp_path):
    (tmp_path / "legacy.pt").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="not a zip archive"):
        load_model(tmp_path / "legacy.pt")
    path = _write(tmp_path / "list.pt", _dumps([1, 2]), {})
    with pytest.raises(ValueError, match="state dict"):
        read_state_dict(path)


# ----------------------------------------------------------------------- the authors' models
def test_all_authors_models_load_without_torch(shared_models):
    files = sorted((shared_models / "authors_lstm").glob("*/*.pt"))
    assert len(files) == 405
    for f in files:
        m = load_model(f)
        n_y = 2 if f.parent.name == "rlc" else 1
        assert isinstance(m, LSTM) and (m.n_x, m.n_h, m.n_y, m.n_z) == (1, 8, n_y, 16), f
        assert m.theta.dtype == np.float64 and np.all(np.isfinite(m.theta))


def test_authors_model_arrays_are_the_stored_float32(shared_models):
    """The keys map to the LSTM's attributes unchanged (float32 -> float64 is exact)."""
    f = shared_models / "authors_lstm" / "silverbox" / "model_h8_N100_m0_stateless.pt"
    sd = read_state_dict(f)
    assert list(sd) == ["lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
                        "lstm.bias_hh_l0", "fc.weight", "fc.bias"]
    assert all(a.dtype == np.float32 for a in sd.values())
    m = load_model(f)
    for key, attr in [("lstm.weight_ih_l0", "W_ih"), ("lstm.weight_hh_l0", "W_hh"),
                      ("lstm.bias_ih_l0", "b_ih"), ("lstm.bias_hh_l0", "b_hh"),
                      ("fc.weight", "W_hy"), ("fc.bias", "b_y")]:
        np.testing.assert_array_equal(getattr(m, attr), sd[key].astype(np.float64))
    # four distinct tensors were cut from one shared storage at different offsets
    assert len({sd[k].tobytes() for k in sd}) == len(sd)
    assert os.path.getsize(f) < 10_000
