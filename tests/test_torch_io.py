"""Reading torch.save'd state dicts without torch: the authors' 405 LSTMs, crafted archives and
malicious pickles (refused before anything they name is imported or called).

No test here imports torch; ``_no_torch`` makes any import of it fail while a test runs.
"""

from __future__ import annotations

import os
import pickle
import sys

import numpy as np
import pytest
from torch_files import Call, G, dumps, tensor, write_archive

from systems import LSTM, load_model
from systems.torch_io import ModelFileError, UnsafePickleError, read_state_dict


@pytest.fixture(autouse=True)
def _no_torch(monkeypatch):
    """Any ``import torch`` during a test raises ImportError."""
    monkeypatch.setitem(sys.modules, "torch", None)


# ----------------------------------------------------------------------- crafted archives
def test_reads_offsets_strides_and_dtypes(tmp_path):
    """A float64 transposed view, a float16 slice at an offset, a float32 scalar."""
    base = np.arange(12.0)  # storage "0", float64
    half = np.arange(10, dtype=np.float16) / 4  # storage "1"
    state = Call(G("collections", "OrderedDict"), ([
        ("a", tensor("0", "DoubleStorage", 12, 0, (4, 3), (1, 4))),  # base.reshape(3,4).T
        ("b", tensor("1", "HalfStorage", 10, 3, (2, 2), (2, 1))),
        ("c", tensor("0", "DoubleStorage", 12, 5, (), ())),
    ],))
    path = write_archive(tmp_path / "t.pt", dumps(state),
                  {"0": base.tobytes(), "1": half.tobytes()})
    sd = read_state_dict(path)
    np.testing.assert_array_equal(sd["a"], base.reshape(3, 4).T)
    np.testing.assert_array_equal(sd["b"], half[3:7].reshape(2, 2))
    assert sd["c"].shape == () and sd["c"] == 5.0
    assert sd["a"].dtype == np.float64 and sd["b"].dtype == np.float16


def test_a_tensor_past_its_storage_is_refused(tmp_path):
    state = Call(G("collections", "OrderedDict"), ([
        ("a", tensor("0", "FloatStorage", 4, 2, (3,), (1,))),
    ],))
    path = write_archive(tmp_path / "t.pt", dumps(state), {"0": np.zeros(4, np.float32).tobytes()})
    with pytest.raises(ModelFileError, match="tensor 'a' of size .3,., stride .1,. at offset 2 "
                       "runs past its storage of 4 elements"):
        read_state_dict(path)


@pytest.mark.parametrize("target", [("os", "system"), ("posix", "system"),
                                    ("builtins", "eval"), ("builtins", "exec"),
                                    ("subprocess", "Popen"), ("torch", "load")])
def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path, target):
    marker = tmp_path / "pwned"
    cmd = f"open({str(marker)!r}, 'w').write('x')"
    if target[1] == "system" or target[1] == "Popen":
        cmd = f"touch {marker}"
    evil = Call(G(*target), (cmd,))
    path = write_archive(tmp_path / "evil.pt", dumps(evil), {})
    with pytest.raises(UnsafePickleError, match=f"{target[0]}.{target[1]}"):
        load_model(path)
    assert not marker.exists()


def test_the_crafted_pickles_would_run_code_with_plain_pickle(tmp_path):
    """The refusal above is the unpickler's doing: plain pickle.loads runs the same bytes."""
    marker = tmp_path / "ran"
    pkl = dumps(Call(G("builtins", "exec"), (f"open({str(marker)!r}, 'w').write('x')",)))
    pickle.loads(pkl)
    assert marker.exists()


def test_not_a_zip_and_no_dict_are_clear_errors(tmp_path):
    (tmp_path / "legacy.pt").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="not a zip archive"):
        load_model(tmp_path / "legacy.pt")
    path = write_archive(tmp_path / "list.pt", dumps([1, 2]), {})
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
