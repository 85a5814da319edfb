"""Hostile and damaged model files: never a different model, never a memory blow-up, never a
traceback, always one ``ModelFileError`` line that names the file and the tensor.

Every hostile file is built here (``torch_files`` writes the torch format opcode by opcode);
payloads are harmless. No test imports torch (``_no_torch``).
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from torch_files import (
    Build,
    Call,
    G,
    Pid,
    Raw,
    dumps,
    ordered_dict,
    patch_declared_size,
    tensor,
    torch_state,
    write_archive,
    write_state_dict,
)

from systems import GRU, LSTM, ElmanRNN, load_model
from systems.model_files import MAX_BYTES, ModelFileError, ModelFileNotFoundError
from systems.torch_io import UnsafePickleError, read_state_dict

FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: Peak Python-tracked memory (tracemalloc) allowed while refusing a memory bomb: the file's
#: directory, headers and pickle, a few KB, with room for the interpreter's own allocations.
BOMB_PEAK_BYTES = 4 * 2**20
#: Byte positions flipped per fuzzed file (of about 3000).
FUZZ_FLIPS = 800
CELL_CLASS = {"elman": ElmanRNN, "lstm": LSTM, "gru": GRU}


@pytest.fixture(autouse=True)
def _no_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)


def _refused(path: Path, *fragments: str, load=load_model) -> str:
    """``load(path)`` raises ``ModelFileError``; its one-line message names the file and holds
    every fragment. Returns the message."""
    with pytest.raises(ModelFileError) as info:
        load(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg, msg
    for f in fragments:
        assert f in msg, (f, msg)
    return msg


def _peak_while(fn) -> int:
    """Peak bytes traced by ``tracemalloc`` while ``fn()`` runs."""
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


# ------------------------------------------------------------ 1. exactly the model in the file
@pytest.mark.parametrize("extra", [
    {"ln.weight": (8,), "ln.bias": (8,)},          # a LayerNorm after the LSTM
    {"fc.scale": (1,)},                            # an extra readout parameter
    {"lstm.weight_hr_l0": (8, 8)},                 # nn.LSTM(proj_size=...)
    {"lstm.weight_ih_l1": (32, 8), "lstm.weight_hh_l1": (32, 8)},   # a second layer
    {"lstm.weight_ih_l0_reverse": (32, 1)},        # bidirectional
])
def test_unknown_tensors_are_refused_all_listed_sorted(tmp_path, extra):
    rng = np.random.default_rng(1)
    state = torch_state("lstm", 1, 8, 1, rng, prefix="lstm.")
    state |= {k: rng.normal(size=s).astype(np.float32) for k, s in extra.items()}
    path = write_state_dict(tmp_path / "extra.pt", state)
    msg = _refused(path, "unknown tensors", "accepted")
    listed = [msg.index(repr(k)) for k in sorted(extra)]
    assert listed == sorted(listed), msg


def test_unknown_tensors_are_refused_before_any_tensor_is_read(tmp_path):
    """The extra tensor's storage is damaged (bad CRC): the refusal names the unknown key, so
    the key set was checked from the pickle alone, before reading storages."""
    state = torch_state("lstm", 1, 8, 1, np.random.default_rng(12), prefix="lstm.")
    state["ln.weight"] = np.ones(8, np.float32)
    path = write_state_dict(tmp_path / "extra.pt", state)
    data = bytearray(path.read_bytes())
    at = data.index(np.ones(8, np.float32).tobytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    _refused(path, "unknown tensors ['ln.weight']")
    _refused(path, "member 'archive/data/6' is damaged", "Bad CRC-32", load=read_state_dict)


def test_one_bias_without_the_other_is_refused(tmp_path):
    state = torch_state("lstm", 1, 8, 1, np.random.default_rng(2), prefix="lstm.")
    del state["lstm.bias_ih_l0"]
    _refused(write_state_dict(tmp_path / "half.pt", state),
             "missing the tensors ['lstm.bias_ih_l0']", "or neither")


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_bias_false_layers_read_as_zero_biases(tmp_path, cell):
    """nn.X(bias=False) + nn.Linear(bias=False): the file's weights and zero biases."""
    state = torch_state(cell, 2, 3, 2, np.random.default_rng(3), prefix="")
    for k in ("bias_ih_l0", "bias_hh_l0", "fc.bias"):
        del state[k]
    m = load_model(write_state_dict(tmp_path / "nobias.pt", state))
    w = {k: v.astype(np.float64) for k, v in state.items()}
    if cell == "elman":
        ref = ElmanRNN(w["weight_hh_l0"], w["weight_ih_l0"], None, w["fc.weight"], None)
    else:
        ref = CELL_CLASS[cell](w["weight_ih_l0"], w["weight_hh_l0"], None, None,
                               w["fc.weight"], None)
    assert type(m) is type(ref)
    np.testing.assert_array_equal(m.theta, ref.theta)


@pytest.mark.parametrize("drop, add, fragment", [
    (("fc.weight", "fc.bias"), {}, "missing the tensors ['<fc>.weight']"),
    ((), {"head.weight": (1, 3)}, "2 candidate readouts ['fc.weight', 'head.weight']"),
    (("rnn.weight_ih_l0", "rnn.weight_hh_l0"), {}, "no recurrent layers"),
    ((), {"enc.weight_hh_l0": (3, 3)}, "several recurrent layers"),
    (("rnn.weight_ih_l0",), {}, "missing the tensors ['rnn.weight_ih_l0']"),
])
def test_missing_or_ambiguous_parts_are_named(tmp_path, drop, add, fragment):
    state = torch_state("elman", 2, 3, 1, np.random.default_rng(4))
    state = {k: v for k, v in state.items() if k not in drop}
    state |= {k: np.ones(s, np.float32) for k, s in add.items()}
    _refused(write_state_dict(tmp_path / "parts.pt", state), fragment)


def test_npz_unknown_and_missing_members_are_named(tmp_path):
    m = LSTM(*(np.zeros(s) for s in LSTM.param_shapes(1, 2, 1).values()))
    path = m.save(tmp_path / "m.npz")
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("ln_weight.npy", _npy(np.ones(2)))
    _refused(path, "unknown arrays ['ln_weight']")
    np.savez(tmp_path / "short.npz", cell=np.array("lstm"), W_ih=np.zeros((8, 1)))
    _refused(tmp_path / "short.npz", "missing the arrays ['W_hh', 'W_hy', 'b_hh', 'b_ih', 'b_y']")


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


# ------------------------------------------------------------ 2. messages that help
@pytest.mark.parametrize("key, shape, fragments", [
    ("lstm.weight_hh_l0", (32, 7), ["'lstm.weight_hh_l0' has shape (32, 7)", "(G n_h, n_h)"]),
    ("lstm.weight_ih_l0", (30, 1), ["'lstm.weight_ih_l0' has shape (30, 1)",
                                    "(4 n_h, n_x) = (32, n_x)"]),
    ("lstm.bias_hh_l0", (31,), ["'lstm.bias_hh_l0' has shape (31,)", "(4 n_h,) = (32,)"]),
    ("fc.weight", (1, 7), ["'fc.weight' has shape (1, 7)", "(n_y, n_h) = (n_y, 8)"]),
    ("fc.bias", (2,), ["'fc.bias' has shape (2,)", "(n_y,) = (1,)"]),
])
def test_a_wrong_shape_names_the_tensor_and_the_expected_shape(tmp_path, key, shape,
                                                               fragments):
    state = torch_state("lstm", 1, 8, 1, np.random.default_rng(5), prefix="lstm.")
    state[key] = np.zeros(shape, np.float32)
    _refused(write_state_dict(tmp_path / "shape.pt", state), *fragments)


@pytest.mark.parametrize("value, fragment", [
    (np.nan, "contains NaN or inf at 1 of its 256 entries (shape (32, 8); the first at index "
             "(2, 5))"),
    (np.inf, "contains NaN or inf at 1 of its 256 entries"),
    (1e120, "magnitude 1e+120"),
])
def test_bad_weights_name_the_file_and_the_tensor(tmp_path, value, fragment):
    state = torch_state("lstm", 1, 8, 1, np.random.default_rng(6), prefix="lstm.")
    state["lstm.weight_hh_l0"] = state["lstm.weight_hh_l0"].astype(np.float64)
    state["lstm.weight_hh_l0"][2, 5] = value
    _refused(write_state_dict(tmp_path / "w.pt", state), "lstm.weight_hh_l0", fragment)
    m = LSTM(*(np.zeros(s) for s in LSTM.param_shapes(1, 2, 1).values()))
    path = m.save(tmp_path / "w.npz")
    arrays = {k: getattr(m, k) for k in ("W_ih", "W_hh", "b_ih", "b_hh", "W_hy", "b_y")}
    arrays["W_hh"] = np.full((8, 2), value)
    np.savez(path, cell=np.array("lstm"), **arrays)
    _refused(path, "W_hh", fragment.split(" at 1 of")[0].split(" (")[0])


def test_complex_and_object_npz_arrays_are_refused(tmp_path):
    """np.float64(complex) would drop the imaginary part: a different model."""
    m = ElmanRNN(np.eye(2) * 0.5, np.ones((2, 1)), None, np.ones((1, 2)), None)
    arrays = {"W_hh": m.W_hh + 1j, "W_xh": m.W_xh, "b_h": m.b_h, "W_hy": m.W_hy, "b_y": m.b_y}
    np.savez(tmp_path / "c.npz", activation=np.array("tanh"), **arrays)
    _refused(tmp_path / "c.npz", "W_hh has dtype complex128")
    arrays["W_hh"] = np.array([None, 1.0], dtype=object)
    np.savez(tmp_path / "o.npz", activation=np.array("tanh"), allow_pickle=True, **arrays)
    msg = _refused(tmp_path / "o.npz", "'W_hh' has dtype object")
    assert "allow_pickle" not in msg


@pytest.mark.parametrize("content", [b"", b"\x93NUMPY", b"PK\x03\x04 garbage",
                                     bytes(np.random.default_rng(7).integers(0, 256, 500,
                                                                             np.uint8))])
@pytest.mark.parametrize("suffix", [".npz", ".pt"])
def test_not_a_model_file_is_one_line(tmp_path, content, suffix):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(content)
    msg = _refused(path)
    assert "allow_pickle" not in msg


def test_a_missing_file_is_a_model_file_error_and_a_file_not_found_error(tmp_path):
    with pytest.raises(ModelFileNotFoundError, match="does not exist") as info:
        load_model(tmp_path / "nope.pt")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ModelFileError)
    _refused(tmp_path, "not a regular file")


# ------------------------------------------------------------ 3. memory bombs
def _storage_bomb(tmp_path: Path, declared: int, stored: bytes, numel: int,
                  compression=zipfile.ZIP_DEFLATED) -> Path:
    """An LSTM state dict whose 'fc.weight' storage holds ``stored`` (deflated)."""
    state = torch_state("lstm", 1, 8, 1, np.random.default_rng(8), prefix="lstm.")
    path = write_state_dict(tmp_path / "bomb.pt", state)
    with zipfile.ZipFile(path) as z:
        items = {n: z.read(n) for n in z.namelist()}
    pkl = items["archive/data.pkl"].replace(
        Raw(_int_op(4 * 8 * 1)).data, Raw(_int_op(numel)).data, 1) if numel else (
        items["archive/data.pkl"])
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for n, raw in items.items():
            z.writestr(n, pkl if n.endswith("data.pkl") else stored if n.endswith("/4") else raw)
    if declared:
        patch_declared_size(path, "archive/data/4", declared)
    return path


def _int_op(n: int) -> bytes:
    return b"J" + n.to_bytes(4, "little", signed=True)


def _deflated_zeros_member(path: Path, member: str, n_bytes: int, header: bytes = b"") -> None:
    """Append ``member``: ``header`` then ``n_bytes`` zeros, deflated (streamed, never held)."""
    chunk = bytes(2**22)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=1) as z, z.open(member, "w", force_zip64=True) as f:
        f.write(header)
        for _ in range(n_bytes // len(chunk)):
            f.write(chunk)
        f.write(bytes(n_bytes % len(chunk)))


def test_a_storage_that_inflates_past_the_cap_is_refused_unread(tmp_path):
    """A 100 MB float32 storage deflated to ~100 KB, its size declared honestly."""
    numel = 25_000_000
    state = {"fc.weight": tensor("0", "FloatStorage", numel, 0, (1, 8), (8, 1))}
    path = write_archive(tmp_path / "bomb.pt", dumps(ordered_dict(list(state.items()))), {})
    _deflated_zeros_member(path, "archive/data/0", 4 * numel)
    assert path.stat().st_size < 2**20
    peak = _peak_while(lambda: _refused(path, "'fc.weight'", "25000000 elements",
                                        "at most 64 MiB"))
    assert peak < BOMB_PEAK_BYTES


def test_a_storage_that_lies_about_its_size_is_read_only_as_declared(tmp_path):
    """The directory declares 32 bytes for a member that inflates to 100 MB: 32 are read,
    the CRC check fails; nothing close to 100 MB is allocated."""
    state = [("fc.weight", tensor("0", "FloatStorage", 8, 0, (1, 8), (8, 1)))]
    path = write_archive(tmp_path / "liar.pt", dumps(ordered_dict(state)), {})
    _deflated_zeros_member(path, "archive/data/0", 100_000_000)
    patch_declared_size(path, "archive/data/0", 32)
    peak = _peak_while(lambda: _refused(path, load=read_state_dict))
    assert peak < BOMB_PEAK_BYTES


@pytest.mark.parametrize("size, stride, numel, fragment", [
    ((10**8,), (0,), 1, "'fc.bias' has size (100000000,)"),           # stride 0: one element
    ((10**6, 10**6), (10**6, 1), 4, "'fc.bias' has size (1000000, 1000000)"),
    ((2,), (1,), 10**12, "declares 1000000000000 elements"),            # storage declared huge
])
def test_huge_declared_tensors_are_refused_before_allocating(tmp_path, size, stride, numel,
                                                             fragment):
    state = [("fc.bias", tensor("0", "FloatStorage", numel, 0, size, stride))]
    path = write_archive(tmp_path / "huge.pt", dumps(ordered_dict(state)),
                         {"0": np.zeros(min(numel, 4), np.float32).tobytes()})
    peak = _peak_while(lambda: _refused(path, fragment, "64 MiB", load=read_state_dict))
    assert peak < BOMB_PEAK_BYTES


def test_npz_members_are_checked_before_reading(tmp_path):
    """An unused 1 GB member (declared) and a used one whose header declares 3.2 GB."""
    m = ElmanRNN(np.eye(2) * 0.5, np.ones((2, 1)), None, np.ones((1, 2)), None)
    path = m.save(tmp_path / "m.npz")
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("unused.npy", _npy(np.zeros(1000)))
    patch_declared_size(path, "unused.npy", 10**9)
    peak = _peak_while(lambda: _refused(path, "unknown arrays ['unused']"))
    assert peak < BOMB_PEAK_BYTES

    path = tmp_path / "big.npz"
    np.savez(path, W_xh=m.W_xh, b_h=m.b_h, W_hy=m.W_hy, b_y=m.b_y, activation=np.array("tanh"),
             cell=np.array("elman"))
    header = io.BytesIO()  # the .npy header alone: shape (20000, 20000), 3.2 GB of float64
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (20000, 20000)})
    _deflated_zeros_member(path, "W_hh.npy", 2**20, header.getvalue())
    peak = _peak_while(lambda: _refused(path, "'W_hh' declares shape (20000, 20000)",
                                        "64 MiB"))
    assert peak < BOMB_PEAK_BYTES


def test_pickle_opcodes_that_allocate_are_refused_before_unpickling(tmp_path):
    """BINBYTES8 of 8 GB and a memo index of 5e7 make pickle allocate 8 GB / 800 MB; the
    opcodes are listed (not run) first."""
    for name, ops, fragment in [
            ("binbytes8", b"\x8e" + (2**33).to_bytes(8, "little") + b"abc", "bytes8"),
            ("memo", b"N" + b"r" + (50_000_000).to_bytes(4, "little"), "memo index 50000000"),
            ("bytes", b"\x8e" + (3).to_bytes(8, "little") + b"abc", "opcode BINBYTES8")]:
        path = write_archive(tmp_path / f"{name}.pt", b"\x80\x02" + ops + b".", {})
        assert _peak_while(lambda p=path, f=fragment: _refused(p, f)) < BOMB_PEAK_BYTES
    with pytest.raises(UnsafePickleError, match="opcode BINBYTES8"):
        load_model(path)


def test_an_archive_with_too_many_members_is_refused(tmp_path):
    path = write_archive(tmp_path / "many.pt", dumps(ordered_dict([])), {})
    with zipfile.ZipFile(path, "a") as z:
        for i in range(5000):
            z.writestr(f"archive/pad/{i}", b"")
    _refused(path, "5002 members")


# ------------------------------------------------------------ 4. one exception class
def _hostile_pickles() -> dict[str, object]:
    storage = Pid("storage", G("torch", "FloatStorage"), "0", "cpu", 4)
    rebuild = G("torch._utils", "_rebuild_tensor_v2")
    return {
        "size a string": ordered_dict([("fc.bias", Call(rebuild, (storage, 0, "4", (1,))))]),
        "storage an int": ordered_dict([("fc.bias", Call(rebuild, (7, 0, (4,), (1,))))]),
        "two arguments": ordered_dict([("fc.bias", Call(rebuild, (storage, 0)))]),
        "negative stride": ordered_dict([("fc.bias", Call(rebuild, (storage, 0, (4,), (-1,))))]),
        "storage called": ordered_dict([("fc.bias", Call(G("torch", "FloatStorage"), (4,)))]),
        "OrderedDict(7)": Call(G("collections", "OrderedDict"), (7,)),
        "a list": [1, 2],
        "an int key": ordered_dict([(1, Call(rebuild, (storage, 0, (4,), (1,))))]),
        "not a tensor": ordered_dict([("fc.bias", 3)]),
        "storage absent": ordered_dict([("fc.bias", Call(rebuild, (
            Pid("storage", G("torch", "FloatStorage"), "9", "cpu", 4), 0, (4,), (1,))))]),
        "bad pid": ordered_dict([("fc.bias", Call(rebuild, (Pid("storage", 1, 2), 0, (4,),
                                                            (1,))))]),
        "memo miss": Raw(b"h\x07"),
        "BUILD on storage": Build(G("torch", "FloatStorage"), {"name": "BFloat16Storage"}),
        "BUILD slots": Build(G("torch._utils", "_rebuild_tensor_v2"),
                             (None, {"__defaults__": (1,)})),
        "parameter()": Call(G("torch._utils", "_rebuild_parameter"), ()),
    }


@pytest.mark.parametrize("name", list(_hostile_pickles()))
def test_hostile_pickles_end_in_one_model_file_error(tmp_path, name):
    pkl = dumps(_hostile_pickles()[name])
    path = write_archive(tmp_path / "h.pt", pkl, {"0": np.zeros(4, np.float32).tobytes()})
    _refused(path, load=read_state_dict)
    _refused(path)


def test_unsafe_pickle_error_is_a_model_file_error_and_an_unpickling_error():
    assert issubclass(UnsafePickleError, ModelFileError)
    assert issubclass(UnsafePickleError, pickle.UnpicklingError)
    assert issubclass(ModelFileError, ValueError)


def test_a_pickle_cannot_change_how_later_files_are_read(tmp_path):
    """BUILD on the stand-ins for torch.FloatStorage / _rebuild_tensor_v2 is refused, and the
    next file still reads as the arrays written into it (with a file-level stand-in that a
    pickle can alter, every later float32 storage would be read as bfloat16)."""
    state = torch_state("lstm", 1, 4, 1, np.random.default_rng(11))
    honest = write_state_dict(tmp_path / "honest.pt", state)
    for name in ("BUILD on storage", "BUILD slots"):
        path = write_archive(tmp_path / "t.pt", dumps(_hostile_pickles()[name]), {})
        _refused(path, load=read_state_dict)
    np.testing.assert_array_equal(load_model(honest).W_hh, state["rnn.weight_hh_l0"])


def test_other_zip_damage_is_one_line(tmp_path):
    path = write_archive(tmp_path / "nopkl.pt", b"", {})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/byteorder", "little")
    _refused(path, "0 '<name>/data.pkl' members")
    good = (FIXTURES / "torch_rnn.pt").read_bytes()
    with zipfile.ZipFile(FIXTURES / "torch_rnn.pt") as src, zipfile.ZipFile(
            tmp_path / "bz2.pt", "w", compression=zipfile.ZIP_BZIP2) as z:
        for n in src.namelist():
            z.writestr(n, src.read(n))
    _refused(tmp_path / "bz2.pt", "compression method 12")
    (tmp_path / "order.pt").write_bytes(good)
    with zipfile.ZipFile(FIXTURES / "torch_rnn.pt") as src, zipfile.ZipFile(
            tmp_path / "order.pt", "w") as z:
        for n in src.namelist():
            z.writestr(n, b"middle" if n.endswith("byteorder") else src.read(n))
    _refused(tmp_path / "order.pt", "unknown byteorder record b'middle'")


def _fuzz_outcome(path: Path, reference: np.ndarray) -> str:
    """Load ``path``: ``"refused"`` on ModelFileError, ``"same"`` if the model is the
    reference; anything else (another exception, another model) fails the test."""
    try:
        model = load_model(path)
    except ModelFileError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc), str(exc)
        return "refused"
    np.testing.assert_array_equal(model.theta, reference)
    return "same"


@pytest.mark.parametrize("source", ["torch_gru.pt", "model.npz"])
def test_fuzz_truncations_flips_and_noise(tmp_path, source):
    """Every truncation, flipped bytes at 800 seeded positions (seeded values), random bytes:
    a ModelFileError or the very same model, nothing else. (The file is changed in place,
    ``os.truncate``/``os.pwrite``: rewriting a file is slow on some file systems.)"""
    reference = load_model(FIXTURES / "torch_gru.pt")
    path = tmp_path / f"fuzz{Path(source).suffix}"
    if source == "model.npz":
        reference.save(path)
    else:
        path.write_bytes((FIXTURES / source).read_bytes())
    good, rng, seen = path.read_bytes(), np.random.default_rng(9), set()
    fd = os.open(path, os.O_WRONLY)
    try:
        for i in rng.choice(len(good), size=FUZZ_FLIPS, replace=False):
            os.pwrite(fd, bytes([good[i] ^ int(rng.integers(1, 256))]), int(i))
            seen.add(("flip", _fuzz_outcome(path, reference.theta)))
            os.pwrite(fd, good[i: i + 1], int(i))
        for n in range(len(good) - 1, -1, -1):
            os.truncate(path, n)
            seen.add(("cut", _fuzz_outcome(path, reference.theta)))
        noise = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
        for n in rng.integers(1, 4000, size=100):
            os.pwrite(fd, noise[n:] + noise[:n], 0)
            os.truncate(path, int(n))
            seen.add(("noise", _fuzz_outcome(path, reference.theta)))
    finally:
        os.close(fd)
    assert seen >= {("cut", "refused"), ("flip", "refused"), ("flip", "same"),
                    ("noise", "refused")}


def test_the_cap_admits_large_honest_models(tmp_path):
    """A 4 MB state dict (n_h = 500 LSTM) reads; the cap is about bombs, not big models."""
    state = torch_state("lstm", 2, 500, 1, np.random.default_rng(10))
    m = load_model(write_state_dict(tmp_path / "big.pt", state))
    assert (m.n_h, m.n_x) == (500, 2)
    np.testing.assert_array_equal(m.W_hh, state["rnn.weight_hh_l0"].astype(np.float64))
    assert sum(a.nbytes for a in state.values()) < MAX_BYTES
