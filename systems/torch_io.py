"""Reading a ``torch.save``'d state dict without torch: a zip archive and a restricted unpickler.

Format read: ``torch.save(module.state_dict(), path)`` with torch >= 1.6 (the zip format, the
default since then; the older tar/pickle format is refused). The archive holds
``<name>/data.pkl``, ``<name>/byteorder`` and one member ``<name>/data/<key>`` of raw
elements per storage; the pickle builds an ``OrderedDict`` of tensors, each from
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``, where ``storage``
is a persistent id ``("storage", torch.FloatStorage, key, location, numel)`` naming the
member ``data/<key>``. Storage types read: :data:`STORAGE_DTYPES` (bfloat16 is widened to
float32); either byte order.

A pickle can run any code (its ``REDUCE`` calls whatever global it names), so:

* the pickle's opcodes are listed first (without running them) and only those a state dict
  needs are accepted (:data:`OPCODES`; no byte strings, buffers, extension codes or object
  construction opcodes), with memo indices at most the pickle's length: a pickle of a few
  bytes can otherwise make the unpickler allocate gigabytes;
* the unpickler resolves only ``collections.OrderedDict``,
  ``torch._utils._rebuild_tensor_v2``, ``torch._utils._rebuild_parameter`` and the
  ``torch.<Type>Storage`` classes, to inert stand-ins that only record their arguments. Any
  other global is refused with :class:`UnsafePickleError` naming it, before it is looked up,
  so nothing it names is imported or called. The stand-ins cannot be altered by the pickle
  (``BUILD`` on them fails), so one file cannot change how the next is read;
* nothing is read from the storages until the whole pickle has been checked: every tensor's
  storage reference, its size, stride and offset (within its storage), each storage's
  declared element count against its member's size in the zip directory, and the totals
  against the caps of :mod:`systems.model_files` (64 MiB of storages, 64 MiB of tensors,
  4096 tensors, at most :data:`MAX_NDIM` axes; the pickle itself at most 1 MiB). Members are
  then read by bounded steps, CRC-checked; members no tensor uses are never read.

Every way a file can be wrong raises :class:`~systems.model_files.ModelFileError` (a
``ValueError``) with one line naming the file, and the tensor where there is one.
"""

from __future__ import annotations

import io
import pickle
import pickletools
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model_files import (
    MAX_BYTES,
    ModelFileError,
    brief,
    check_file,
    checked_count,
    exception_line,
    name_list,
    open_archive,
    plain,
    read_member,
    size_text,
    where,
)

__all__ = ["ModelFileError", "StateDictFile", "UnsafePickleError", "read_state_dict"]

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

#: Pickle opcodes a state dict needs (protocols 0-5 as torch.save writes them); any other
#: opcode is refused before unpickling.
OPCODES = frozenset({
    "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK",
    "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE", "GET", "BINGET", "LONG_BINGET",
    "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "EMPTY_LIST", "LIST", "APPEND",
    "APPENDS", "EMPTY_DICT", "DICT", "SETITEM", "SETITEMS",
    "NONE", "NEWTRUE", "NEWFALSE", "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1",
    "FLOAT", "BINFLOAT", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE",
    "GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD", "BINPERSID",
})
_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
#: Bytes of ``data.pkl`` (about 100 per tensor; the authors' are 675).
MAX_PICKLE_BYTES = 2**20
#: Entries of one state dict.
MAX_TENSORS = 4096
#: Axes of one tensor.
MAX_NDIM = 8


class UnsafePickleError(ModelFileError, pickle.UnpicklingError):
    """The pickle names a global or uses an opcode outside the allowed set (it could run code
    or exhaust memory); nothing it names was imported or called."""


class _Inert:
    """A stand-in the pickle can reference and call but not alter (no ``__dict__``, no setattr)."""

    __slots__ = ("_label", "_call")

    def __init__(self, label: str, call=None) -> None:
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_call", call)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{self._label} cannot be modified by a pickle")

    def __repr__(self) -> str:
        return self._label

    def __call__(self, *args: object) -> object:
        if self._call is None:
            raise TypeError(f"{self._label} is called; a state dict only names it in the "
                            "persistent id of a storage")
        return self._call(*args)


@dataclass(frozen=True, slots=True, repr=False)
class _StorageRef:
    """A persistent id as the pickle gave it (checked later, with the tensor using it)."""

    pid: object

    def __repr__(self) -> str:
        return "<persistent id>"


@dataclass(frozen=True, slots=True, repr=False)
class _TensorRef:
    """The arguments of one ``_rebuild_tensor_v2`` call (checked later, with its key)."""

    args: tuple

    def __repr__(self) -> str:
        return "<tensor>"


def _rebuild_parameter(*args: object) -> object:
    """``_rebuild_parameter(data, requires_grad, hooks)``: a parameter is its data."""
    if not args:
        raise TypeError("torch._utils._rebuild_parameter is called without its data")
    return args[0]


_STORAGE_TYPES = {name: _Inert(f"torch.{name}") for name in STORAGE_DTYPES}
_ALLOWED = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _Inert("torch._utils._rebuild_tensor_v2",
                                                   lambda *args: _TensorRef(args)),
    ("torch._utils", "_rebuild_parameter"): _Inert("torch._utils._rebuild_parameter",
                                                   _rebuild_parameter),
    **{("torch", name): kind for name, kind in _STORAGE_TYPES.items()},
}
_STORAGE_NAMES = {id(kind): name for name, kind in _STORAGE_TYPES.items()}


class _Unpickler(pickle.Unpickler):
    """Resolves only :data:`_ALLOWED`; persistent ids are kept as they are, unread."""

    def __init__(self, data: bytes, path: Path) -> None:
        super().__init__(io.BytesIO(data))
        self.path = path

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise UnsafePickleError(
                f"{where(self.path)}: refusing to load the global {plain(module)}."
                f"{plain(name)}: a state-dict pickle needs only collections.OrderedDict, "
                "torch._utils._rebuild_tensor_v2/_rebuild_parameter and torch.*Storage (save "
                "module.state_dict(), not the module)"
            ) from None

    def persistent_load(self, pid: object) -> _StorageRef:
        return _StorageRef(pid)


@dataclass(frozen=True)
class _Tensor:
    """A checked tensor record: ``storage[offset + sum_k idx_k stride_k]`` of shape ``size``."""

    member: str
    kind: str
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]
    count: int


class StateDictFile:
    """A ``torch.save`` archive whose pickle has been read and checked; no tensor read yet.

    Use as a context manager: ``with StateDictFile(path) as f: f.shapes; f.read()``.
    Construction raises :class:`ModelFileError` for anything wrong with the file's
    structure or declared sizes, naming the file and the tensor (see the module docstring).

    Attributes
    ----------
    path : the file
    shapes : dict mapping each key to its tensor's shape, in the file's order
    dtypes : dict mapping each key to the dtype :meth:`read` returns for it
    """

    def __init__(self, path: str | Path) -> None:
        self.path = check_file(path)
        self._archive = open_archive(self.path, "torch.save file (the zip format of torch >= 1.6)")
        try:
            prefix, self._order = self._layout()
            obj = self._unpickle(f"{prefix}data.pkl")
            self._tensors, self._storages = self._check(obj, prefix)
        except BaseException:
            self._archive.close()
            raise
        self.shapes = {k: t.size for k, t in self._tensors.items()}
        self.dtypes = {k: _out_dtype(t.kind) for k, t in self._tensors.items()}

    def __enter__(self) -> StateDictFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._archive.close()

    def read(self) -> OrderedDict[str, np.ndarray]:
        """The tensors as NumPy arrays (copies) in the stored dtype (bfloat16 as float32)."""
        data = {m: self._storage(m, kind, numel) for m, (kind, numel) in self._storages.items()}
        out = OrderedDict()
        for key, t in self._tensors.items():
            s = data[t.member]
            if t.count == 0:
                out[key] = np.zeros(t.size, dtype=s.dtype)
                continue
            view = np.lib.stride_tricks.as_strided(
                s[t.offset:], shape=t.size, strides=[k * s.itemsize for k in t.stride],
                writeable=False)
            out[key] = np.array(view)
        return out

    # ------------------------------------------------------------------ steps
    def _layout(self) -> tuple[str, str]:
        """The archive's folder prefix (``"<name>/"``) and byte order (``"<"`` or ``">"``)."""
        names = self._archive.namelist()
        pkls = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise ModelFileError(
                f"{where(self.path)} holds {len(pkls)} '<name>/data.pkl' members "
                f"(members: {name_list(names, 8)}); a torch.save zip archive holds one")
        prefix = pkls[0][: -len("data.pkl")]
        if f"{prefix}byteorder" not in names:
            return prefix, "<"
        raw = read_member(self._archive, f"{prefix}byteorder", 16, self.path, "byteorder",
                          head=True)
        order = {b"little": "<", b"big": ">"}.get(raw.strip())
        if order is None:
            raise ModelFileError(f"{where(self.path)}: unknown byteorder record {brief(raw)}; "
                                 "expected 'little' or 'big'")
        return prefix, order

    def _unpickle(self, member: str) -> object:
        """The object ``data.pkl`` builds, its opcodes checked first."""
        size = self._archive.getinfo(member).file_size
        if size > MAX_PICKLE_BYTES:
            raise ModelFileError(f"{where(self.path)}: data.pkl declares {size_text(size)}; "
                                 f"a state dict's pickle has at most "
                                 f"{size_text(MAX_PICKLE_BYTES)}")
        data = read_member(self._archive, member, size, self.path, "data.pkl")
        try:
            for op, arg, _ in pickletools.genops(data):
                if op.name not in OPCODES:
                    raise UnsafePickleError(
                        f"{where(self.path)}: data.pkl uses the pickle opcode {op.name}, "
                        "which a state dict does not need; refused before unpickling")
                if op.name in _MEMO_PUTS and arg > len(data):
                    raise UnsafePickleError(
                        f"{where(self.path)}: data.pkl stores at memo index {arg}, beyond its "
                        f"{len(data)} bytes; refused before unpickling")
            return _Unpickler(data, self.path).load()
        except ModelFileError:
            raise
        except Exception as exc:  # whatever a damaged pickle makes the unpickler raise
            raise ModelFileError(f"{where(self.path)}: data.pkl is not a state-dict pickle "
                                 f"({exception_line(exc)})") from exc

    def _check(self, obj: object, prefix: str) -> tuple[dict[str, _Tensor], dict]:
        """Checked tensors by key and the storages they use: ``member -> (kind, numel)``."""
        if not isinstance(obj, dict):
            raise ModelFileError(f"{where(self.path)} holds a {type(obj).__name__}, not a "
                                 "state dict (a dict of tensors)")
        if len(obj) > MAX_TENSORS:
            raise ModelFileError(f"{where(self.path)}: the state dict has {len(obj)} entries; "
                                 f"at most {MAX_TENSORS} are read")
        tensors: dict[str, _Tensor] = {}
        storages: dict[str, tuple[str, int]] = {}
        used = {"storages": 0, "tensors": 0}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise ModelFileError(f"{where(self.path)}: the state dict has a key "
                                     f"{brief(key)} that is not a string")
            what = f"{where(self.path)}: tensor {brief(key)}"
            tensors[key] = t = self._tensor(what, value, prefix, storages, used)
            used["tensors"] += t.count * _out_dtype(t.kind).itemsize
        return tensors, storages

    def _tensor(self, what: str, value: object, prefix: str, storages: dict,
                used: dict[str, int]) -> _Tensor:
        """One entry checked: its storage reference, geometry, and sizes against the caps."""
        if not isinstance(value, _TensorRef):
            raise ModelFileError(f"{what} is a {type(value).__name__}, not a tensor")
        if not 4 <= len(value.args) <= 7:
            raise ModelFileError(f"{what}: _rebuild_tensor_v2 has {len(value.args)} "
                                 "arguments, expected (storage, offset, size, stride, ...)")
        ref, offset, size, stride = value.args[:4]
        pid = ref.pid if isinstance(ref, _StorageRef) else None
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and id(pid[1]) in _STORAGE_NAMES and isinstance(pid[2], str)
                and _is_count(pid[4])):
            raise ModelFileError(f"{what}: its storage is {brief(pid or ref)}, expected a "
                                 "persistent id ('storage', torch.<Type>Storage, key, "
                                 "location, numel)")
        if not (_is_count(offset) and isinstance(size, tuple) and isinstance(stride, tuple)
                and len(size) == len(stride) <= MAX_NDIM
                and all(_is_count(n) for n in size + stride)):
            raise ModelFileError(
                f"{what}: offset {brief(offset)}, size {brief(size)}, stride {brief(stride)}; "
                f"expected integers >= 0, size and stride of one length <= {MAX_NDIM}")
        kind, member, numel = _STORAGE_NAMES[id(pid[1])], f"{prefix}data/{pid[2]}", pid[4]
        self._storage_checked(what, member, kind, numel, storages, used)
        count = checked_count(size, _out_dtype(kind).itemsize, MAX_BYTES - used["tensors"],
                              f"{what} has size {size}")
        if count and offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) >= numel:
            raise ModelFileError(
                f"{what} of size {size}, stride {stride} at offset {offset} runs past its "
                f"storage of {numel} elements")
        return _Tensor(member, kind, offset, size, stride, count)

    def _storage_checked(self, what: str, member: str, kind: str, numel: int,
                         storages: dict, used: dict[str, int]) -> None:
        """Record storage ``member`` after checking its declared size against the archive."""
        if member in storages:
            if storages[member] != (kind, numel):
                raise ModelFileError(f"{what}: storage {brief(member)} is declared twice "
                                     f"differently, {storages[member]} and {(kind, numel)}")
            return
        itemsize = STORAGE_DTYPES[kind].itemsize
        checked_count((numel,), itemsize, MAX_BYTES - used["storages"],
                      f"{what}: its storage {brief(member)} declares {numel} elements of "
                      f"{kind}")
        try:
            held = self._archive.getinfo(member).file_size
        except KeyError:
            raise ModelFileError(f"{what}: its storage {brief(member)} is not in the "
                                 "archive") from None
        if held != numel * itemsize:
            raise ModelFileError(f"{what}: its storage {brief(member)} declares {numel} "
                                 f"elements of {kind} ({numel * itemsize} bytes) but the "
                                 f"archive member holds {held} bytes")
        storages[member] = (kind, numel)
        used["storages"] += numel * itemsize

    def _storage(self, member: str, kind: str, numel: int) -> np.ndarray:
        """A storage's elements, read by bounded steps (its size was checked in ``_check``)."""
        dtype = STORAGE_DTYPES[kind]
        dtype = dtype.newbyteorder(self._order) if dtype.itemsize > 1 else dtype
        raw = read_member(self._archive, member, numel * dtype.itemsize, self.path,
                          f"storage {brief(member)}")
        a = np.frombuffer(raw, dtype=dtype, count=numel)
        if kind == "BFloat16Storage":  # the high half of a float32
            a = (a.astype(np.uint32) << 16).view(np.float32)
        return a


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
    ModelFileError
        for anything wrong with the file, one line naming it (and the tensor): see the module
        docstring; :class:`UnsafePickleError` (a subclass) if the pickle names a global or uses
        an opcode outside the allowed set (nothing is executed);
        ``ModelFileNotFoundError`` (a subclass, also a ``FileNotFoundError``) if it is missing
    """
    with StateDictFile(path) as f:
        return f.read()


def _out_dtype(kind: str) -> np.dtype:
    """The dtype :meth:`StateDictFile.read` returns for a storage type."""
    return np.dtype(np.float32) if kind == "BFloat16Storage" else STORAGE_DTYPES[kind]


def _is_count(x: object) -> bool:
    """An ``int`` (not a ``bool``) that is ``>= 0``."""
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0
