"""Reading a ``torch.save``'d state dict without torch: a zip archive and a restricted unpickler.

A ``.pt`` file written by ``torch.save(module.state_dict(), path)`` (torch >= 1.6) is a zip
archive ``<name>/data.pkl``, ``<name>/byteorder``, ``<name>/data/<key>``, ...: the pickle
builds an ``OrderedDict`` of tensors, each from ``torch._utils._rebuild_tensor_v2(storage,
offset, size, stride, ...)``, where ``storage`` is a persistent id
``("storage", torch.FloatStorage, key, location, numel)`` naming the raw array
``data/<key>``.

A pickle can run any code (its ``REDUCE`` calls whatever global it names), so the unpickler
here resolves only the globals such a file needs, to our own NumPy-building stand-ins:
``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``,
``torch._utils._rebuild_parameter`` and the ``torch.<Type>Storage`` classes of
:data:`STORAGE_DTYPES`. Any other global is refused with :class:`UnsafePickleError` naming it,
before it is looked up, so nothing it names is ever imported or called.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

#: torch storage classes we read, with their element type (little-endian as stored).
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"),  # widened to float32 on read
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the allowed set (it could run code)."""


class _Storage:
    """Stand-in for a ``torch.<Type>Storage`` class: only its element type matters."""

    def __init__(self, name: str) -> None:
        self.name, self.dtype = name, STORAGE_DTYPES[name]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None) -> np.ndarray:
    """``storage[offset + sum_k idx_k stride_k]`` as a NumPy array of shape ``size`` (a copy)."""
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if not isinstance(storage, np.ndarray) or len(size) != len(stride):
        raise pickle.UnpicklingError("malformed tensor record in the pickle")
    offset = int(storage_offset)
    if any(s < 0 for s in size) or any(s < 0 for s in stride) or offset < 0:
        raise pickle.UnpicklingError(f"negative size/stride/offset {size}, {stride}, {offset}")
    if 0 in size:
        return np.zeros(size, dtype=storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if last >= storage.size:
        raise pickle.UnpicklingError(
            f"tensor of size {size}, stride {stride} at offset {offset} runs past its storage "
            f"of {storage.size} elements"
        )
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=[s * storage.itemsize for s in stride],
        writeable=False,
    )
    return np.array(view)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None) -> np.ndarray:
    """A ``Parameter`` is its data."""
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _Storage(name) for name in STORAGE_DTYPES},
}


class _Unpickler(pickle.Unpickler):
    """Resolves only :data:`_ALLOWED`; storages are read from the archive on demand."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, order: str) -> None:
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.order = archive, prefix, order
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load the global {module}.{name}: a state-dict pickle needs only "
                "collections.OrderedDict, torch._utils._rebuild_tensor_v2/_rebuild_parameter "
                "and torch.*Storage"
            ) from None

    def persistent_load(self, pid: object) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _Storage) and isinstance(pid[2], str)):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, kind, key, _location, numel = pid
        if key not in self.storages:
            name = f"{self.prefix}data/{key}"
            try:
                raw = self.archive.read(name)
            except KeyError:
                raise pickle.UnpicklingError(f"the archive lacks the storage {name!r}") from None
            dtype = kind.dtype.newbyteorder(self.order) if kind.dtype.itemsize > 1 else kind.dtype
            if len(raw) < int(numel) * dtype.itemsize:
                raise pickle.UnpicklingError(
                    f"storage {name!r} holds {len(raw)} bytes, fewer than {numel} elements")
            a = np.frombuffer(raw, dtype=dtype, count=int(numel))
            if kind.name == "BFloat16Storage":  # the high half of a float32
                a = (a.astype(np.uint32) << 16).view(np.float32)
            self.storages[key] = a
        return self.storages[key]


def read_state_dict(path: str | Path) -> OrderedDict[str, np.ndarray]:
    """The tensors of a ``torch.save``'d state dict as NumPy arrays, without importing torch.

    Parameters
    ----------
    path : a ``.pt`` file in torch's zip format (torch >= 1.6, the default since then)

    Returns
    -------
    OrderedDict mapping each key (``"lstm.weight_ih_l0"``, ...) to an array in the stored
    dtype (float32 for most models; bfloat16 is widened to float32)

    Raises
    ------
    UnsafePickleError
        if the pickle names any global outside the allowed set (nothing is executed)
    ValueError
        if the file is not a zip archive with one ``data.pkl`` or holds no dict of tensors
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{str(path)!r} is not a zip archive; only torch.save's zip format (torch >= 1.6) "
            "is read"
        )
    with zipfile.ZipFile(path) as archive:
        pkls = [n for n in archive.namelist() if n.endswith("data.pkl")]
        if len(pkls) != 1:
            raise ValueError(f"{str(path)!r} must hold exactly one data.pkl, found {pkls}")
        prefix = pkls[0][: -len("data.pkl")]
        order = "<"
        if f"{prefix}byteorder" in archive.namelist():
            order = {"little": "<", "big": ">"}.get(
                archive.read(f"{prefix}byteorder").decode().strip(), "")
            if not order:
                raise ValueError(f"{str(path)!r} has an unknown byteorder record")
        obj = _Unpickler(archive.read(pkls[0]), archive, prefix, order).load()
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items()
    ):
        raise ValueError(f"{str(path)!r} does not hold a state dict (a dict of tensors)")
    return OrderedDict(obj)
