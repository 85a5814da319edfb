"""Writing torch.save-format files without torch, honest or hostile, for the reader's tests.

The pickle is written opcode by opcode (protocol 2, as torch.save writes it), so a test can
put in it exactly what a hostile file would: any global, any arguments, any persistent id.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np


class G:
    """A pickled reference to a global ``module.name`` (what torch's pickler writes)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name


class Call:
    """``func(*args)`` in the pickle (a REDUCE)."""

    def __init__(self, func: object, args: tuple) -> None:
        self.func, self.args = func, args


class Build:
    """``obj``, ``state``, BUILD: sets attributes of ``obj`` (``__dict__`` or setattr)."""

    def __init__(self, obj: object, state: object) -> None:
        self.obj, self.state = obj, state


class Pid:
    """A persistent id (BINPERSID), as torch.save writes for each storage."""

    def __init__(self, *fields: object) -> None:
        self.fields = fields


class Raw:
    """Opcodes given as bytes, put in the pickle unchanged."""

    def __init__(self, data: bytes) -> None:
        self.data = data


def enc(obj: object) -> bytes:
    """Pickle opcodes (protocol 2) for the few object kinds torch.save writes, by hand."""
    if isinstance(obj, Raw):
        return obj.data
    if isinstance(obj, G):
        return b"c" + f"{obj.module}\n{obj.name}\n".encode()
    if isinstance(obj, Call):
        return enc(obj.func) + enc(tuple(obj.args)) + b"R"
    if isinstance(obj, Build):
        return enc(obj.obj) + enc(obj.state) + b"b"
    if isinstance(obj, Pid):
        return enc(tuple(obj.fields)) + b"Q"
    if isinstance(obj, tuple):
        return b"(" + b"".join(enc(o) for o in obj) + b"t"
    if isinstance(obj, list):
        return b"]" + b"".join(enc(o) + b"a" for o in obj)
    if isinstance(obj, dict):
        return b"}" + b"".join(enc(k) + enc(v) + b"s" for k, v in obj.items())
    if obj is None:
        return b"N"
    if isinstance(obj, bool):
        return b"\x88" if obj else b"\x89"
    if isinstance(obj, int):
        if -(2**31) <= obj < 2**31:
            return b"J" + obj.to_bytes(4, "little", signed=True)
        raw = obj.to_bytes((obj.bit_length() + 8) // 8, "little", signed=True)
        return b"\x8a" + bytes([len(raw)]) + raw  # LONG1
    if isinstance(obj, str):
        raw = obj.encode()
        return b"X" + len(raw).to_bytes(4, "little") + raw
    raise TypeError(type(obj))


def dumps(obj: object) -> bytes:
    return b"\x80\x02" + enc(obj) + b"."


def ordered_dict(items: list[tuple[str, object]]) -> Call:
    """``collections.OrderedDict([(key, value), ...])``."""
    return Call(G("collections", "OrderedDict"), (items,))


def tensor(key: str, storage: str, numel: int, offset: int, size: tuple, stride: tuple) -> Call:
    """``_rebuild_tensor_v2`` of storage ``data/<key>``, as torch.save writes it."""
    return Call(G("torch._utils", "_rebuild_tensor_v2"),
                (Pid("storage", G("torch", storage), key, "cpu", numel),
                 offset, size, stride, False, Call(G("collections", "OrderedDict"), ())))


def write_archive(path: Path, pkl: bytes, storages: dict[str, bytes], name: str = "archive",
                  compression: int = zipfile.ZIP_STORED) -> Path:
    """A torch.save-style zip: ``<name>/data.pkl``, ``byteorder`` and the storages."""
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        z.writestr(f"{name}/data.pkl", pkl)
        z.writestr(f"{name}/byteorder", "little")
        for key, raw in storages.items():
            z.writestr(f"{name}/data/{key}", raw)
    return path


STORAGES = {np.dtype("float32"): "FloatStorage", np.dtype("float64"): "DoubleStorage"}


def write_state_dict(path: Path, state: dict[str, np.ndarray]) -> Path:
    """``state`` as torch.save writes a state dict: one storage per tensor, C order."""
    items, storages = [], {}
    for i, (key, a) in enumerate(state.items()):
        a = np.ascontiguousarray(a)
        stride = tuple(s // a.itemsize for s in a.strides)
        items.append((key, tensor(str(i), STORAGES[a.dtype], a.size, 0, a.shape, stride)))
        storages[str(i)] = a.tobytes()
    return write_archive(path, dumps(ordered_dict(items)), storages)


def torch_state(cell: str, n_x: int, n_h: int, n_y: int, rng: np.random.Generator,
                prefix: str = "rnn.") -> dict[str, np.ndarray]:
    """A float32 state dict of a one-layer ``nn.RNN``/``nn.LSTM``/``nn.GRU`` + ``nn.Linear``."""
    G = {"elman": 1, "gru": 3, "lstm": 4}[cell]
    shapes = {"weight_ih_l0": (G * n_h, n_x), "weight_hh_l0": (G * n_h, n_h),
              "bias_ih_l0": (G * n_h,), "bias_hh_l0": (G * n_h,)}
    state = {prefix + k: rng.normal(scale=0.5, size=s).astype(np.float32)
             for k, s in shapes.items()}
    state["fc.weight"] = rng.normal(size=(n_y, n_h)).astype(np.float32)
    state["fc.bias"] = rng.normal(size=n_y).astype(np.float32)
    return state


def patch_declared_size(path: Path, member: str, size: int) -> None:
    """Make the zip directory (and the local header) declare ``size`` uncompressed bytes for
    ``member`` without changing its data: a file that lies about its sizes."""
    data = bytearray(path.read_bytes())
    for sig, size_at, name_len_at, fixed in ((b"PK\x01\x02", 24, 28, 46),
                                            (b"PK\x03\x04", 22, 26, 30)):
        start = 0
        while (start := data.find(sig, start)) >= 0:
            (n,) = struct.unpack_from("<H", data, start + name_len_at)
            if data[start + fixed: start + fixed + n].decode() == member:
                struct.pack_into("<I", data, start + size_at, size)
            start += 4
    path.write_bytes(bytes(data))
