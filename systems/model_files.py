"""Reading model files that may be damaged or hostile: one error class, caps, zip members, weights.

Both model formats are zip archives: the toolkit's ``.npz`` (``systems.rnn.save_npz``) and
torch's ``.pt`` (:mod:`systems.torch_io`). Everything here checks what an archive *declares*
(member sizes in the zip directory, array headers, tensor geometry) against the caps below
before allocating, and reads a member by bounded reads of exactly its declared size, so a file
that lies about its sizes (or inflates from a few KB to GB) costs only the bytes it is allowed.

Caps (per file; the authors' models are about 10 KB, the toolkit's own a few KB):

* :data:`MAX_BYTES` = 64 MiB of array data, summed over the storages or members read and
  again over the arrays built from them: a one-layer LSTM with ``n_h`` about 2000 in float32,
  far beyond what the certificates can handle (their SDPs have size ``n_z``), while a load
  stays within a few hundred MB of memory;
* :data:`MAX_MEMBERS` = 4096 zip members and :data:`MAX_DIRECTORY_BYTES` = 4 MiB of zip
  directory, checked from the end record before the directory is parsed;
* :data:`WEIGHT_LIMIT`: every weight is finite with ``|w| <= 1e100`` (a larger weight is no
  trained model, and its squares overflow float64).

Every way a file can be wrong raises :class:`ModelFileError` (an
:class:`~systems.errors.InputError`) with one line naming the file and what is wrong.
"""

from __future__ import annotations

import io
import reprlib
import zipfile
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np

from .errors import InputError

#: Bytes of array data one model file may hold (see the module docstring).
MAX_BYTES = 64 * 2**20
#: Members of one model archive (torch writes two per tensor plus six).
MAX_MEMBERS = 4096
#: Bytes of the zip directory (about 100 per member).
MAX_DIRECTORY_BYTES = 4 * 2**20
#: Largest accepted weight magnitude.
WEIGHT_LIMIT = 1e100
#: Compression methods read: torch and ``np.savez`` store, ``np.savez_compressed`` deflates;
#: both decompress by bounded steps (bzip2/lzma members would not).
COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
#: The ``.npz`` members that hold a string (a 0-d unicode array), not weights.
STRING_MEMBERS = ("cell", "activation")
NPZ_KIND = ".npz model file (a zip archive of .npy arrays)"
#: Longest ``.npy`` header read (numpy's own default limit).
NPY_HEADER_MAX = 10_000


T = TypeVar("T")
_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlevel = 100, 60, 3


class ModelFileError(InputError):
    """A model file that cannot be read as a model: the one-line message names the file."""


class ModelFileNotFoundError(ModelFileError, FileNotFoundError):
    """The model file does not exist (also a ``FileNotFoundError``, for callers catching that)."""


def where(path: str | Path) -> str:
    """How messages name a file: its path quoted (control characters escaped)."""
    return repr(str(path))


def brief(value: object, limit: int = 120) -> str:
    """A short one-line ``repr`` of a name or value from a file (nesting and length cut)."""
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def plain(name: object) -> str:
    """A name for a message: as it is if printable and short, else its :func:`brief` repr."""
    return name if isinstance(name, str) and name.isprintable() and len(name) <= 100 else (
        brief(name))


def exception_line(exc: BaseException) -> str:
    """``Type: message`` of an exception raised by a parser, on one line of at most 200 chars."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 200 else text[:197] + "..."


def name_list(names: Collection[str], limit: int = 50) -> str:
    """The sorted names as ``['a', 'b']`` (after ``limit`` of them: how many more)."""
    items = sorted(names)
    shown = ", ".join(brief(n, 80) for n in items[:limit])
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return f"[{shown}{more}]"


def check_file(path: str | Path) -> Path:
    """``path`` as a ``Path`` if it is a readable, non-empty regular file, else the error."""
    path = Path(path)
    try:
        if not path.exists():
            raise ModelFileNotFoundError(f"model file {where(path)} does not exist")
        if not path.is_file():
            raise ModelFileError(f"model file {where(path)} is not a regular file")
        empty = path.stat().st_size == 0
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte, no permission, ...
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(f"model file {where(path)}: {exception_line(exc)}") from exc
    if empty:
        raise ModelFileError(f"model file {where(path)} is empty")
    return path


def open_archive(path: Path, kind: str) -> zipfile.ZipFile:
    """Open ``path`` as a zip archive after checking its end record's member count and size.

    ``kind`` names the expected format in messages (``".npz model file"``). The caller
    closes the archive. Duplicate member names are refused (readers disagree on which counts).
    """
    try:
        with open(path, "rb") as f:
            end = zipfile._EndRecData(f)  # the end record only (stable since Python 2)
    except Exception as exc:  # OSError; BadZipFile from a damaged zip64 end record
        raise ModelFileError(f"{where(path)} is not a readable {kind}: "
                             f"{exception_line(exc)}") from exc
    if end is None:
        raise ModelFileError(f"{where(path)} is not a readable {kind}: not a zip archive "
                             "(no end record: another format, or a truncated file)")
    members, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if members > MAX_MEMBERS or size > MAX_DIRECTORY_BYTES:
        raise ModelFileError(
            f"{where(path)}: its zip directory declares {members} members in {size} bytes; "
            f"a model file has at most {MAX_MEMBERS} members and {size_text(MAX_DIRECTORY_BYTES)}"
        )
    try:
        archive = zipfile.ZipFile(path)
    except Exception as exc:  # BadZipFile, OSError, ValueError, ... from a damaged directory
        raise ModelFileError(f"{where(path)} is not a readable {kind}: a damaged zip "
                             f"archive ({exception_line(exc)})") from exc
    names = archive.namelist()
    if len(set(names)) != len(names):
        archive.close()
        twice = {n for n, k in Counter(names).items() if k > 1}
        raise ModelFileError(f"{where(path)}: the zip archive holds several members named "
                             f"{name_list(twice)}")
    return archive


def read_member(archive: zipfile.ZipFile, name: str, n_bytes: int, path: Path, what: str,
                *, head: bool = False) -> bytes:
    """The ``n_bytes`` of member ``name``, which must declare exactly that size.

    Reads by bounded steps (never more than ``n_bytes`` decompressed) and checks the zip CRC
    on the way. With ``head=True``: only the first ``n_bytes`` (at most the declared size) of
    a member of any declared size, to look at a header. ``what`` names the member's role in
    messages (``"tensor 'fc.weight'"``).
    """
    info = archive.getinfo(name)
    if info.compress_type not in COMPRESSIONS:
        raise ModelFileError(f"{where(path)}: {what}: member {brief(name)} uses compression "
                             f"method {info.compress_type}; only stored or deflated is read")
    if head:
        n_bytes = min(n_bytes, info.file_size)
    elif info.file_size != n_bytes:
        raise ModelFileError(f"{where(path)}: {what}: member {brief(name)} declares "
                             f"{info.file_size} bytes, expected {n_bytes}")
    try:
        with archive.open(info) as f:
            raw = f.read(n_bytes)
            if len(raw) == n_bytes and (head or not f.read(1)):  # at the end: CRC checked
                return raw
    except Exception as exc:  # BadZipFile (CRC, header), zlib.error, EOFError, OSError, ...
        raise ModelFileError(f"{where(path)}: {what}: member {brief(name)} is damaged "
                             f"({exception_line(exc)})") from exc
    raise ModelFileError(f"{where(path)}: {what}: member {brief(name)} holds other than the "
                         f"{info.file_size} bytes it declares")


def check_weights(arrays: Mapping[str, np.ndarray], path: str | Path) -> dict[str, np.ndarray]:
    """The arrays as float64 after checking each is real, finite and within ``WEIGHT_LIMIT``.

    Integer arrays convert exactly enough (``|w| <= 1e100``); booleans, complex numbers,
    strings and objects are refused (a complex array would silently lose its imaginary part).
    """
    out = {}
    for name, a in arrays.items():
        a, label = np.asarray(a), f"{where(path)}: {plain(name)}"
        if a.dtype.kind not in "fiu":
            raise ModelFileError(f"{label} has dtype {a.dtype}; weights are real numbers "
                                 "(float or int)")
        w = a.astype(np.float64)
        bad = ~np.isfinite(w)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ModelFileError(
                f"{label} contains NaN or inf at {int(bad.sum())} of its {a.size} entries (shape "
                f"{a.shape}; the first at index {first}): weights must be finite")
        if w.size and (top := float(np.max(np.abs(w)))) > WEIGHT_LIMIT:
            first = tuple(int(i) for i in np.argwhere(np.abs(w) > WEIGHT_LIMIT)[0])
            raise ModelFileError(
                f"{label} has an entry of magnitude {top:.3g} (shape {a.shape}, the first above "
                f"the limit at index {first}); accepted: |w| <= {WEIGHT_LIMIT:.0e}")
        out[name] = w
    return out


def check_names(present: Collection[str], required: Collection[str], optional: Collection[str],
                path: str | Path, accepted: str, noun: str = "arrays") -> None:
    """Refuse unknown and missing names, all of them listed sorted; ``accepted`` says what is."""
    unknown = set(present) - set(required) - set(optional)
    missing = set(required) - set(present)
    if unknown or missing:
        parts = [f"unknown {noun} {name_list(unknown)}" if unknown else "",
                 f"missing the {noun} {name_list(missing)}" if missing else ""]
        raise ModelFileError(f"{where(path)}: {'; '.join(p for p in parts if p)}; "
                             f"accepted: {accepted}")


# ------------------------------------------------------------------------------------- .npz
def read_npz(path: str | Path, required: Collection[str], optional: Collection[str] = (),
             *, accepted: str = "") -> dict[str, np.ndarray]:
    """The arrays ``required`` (and those of ``optional`` present) of an ``.npz`` file.

    Members other than ``<name>.npy`` for these names are refused by name before anything is
    read; each member's ``.npy`` header (dtype, shape) is checked against its declared size and
    :data:`MAX_BYTES` before its data are read. Object and structured dtypes are refused.
    ``accepted`` describes the accepted member set in messages.

    Returns
    -------
    dict mapping each name to its array (stored dtype and shape)
    """
    path = check_file(path)
    with open_archive(path, NPZ_KIND) as archive:
        members = _npy_members(archive, path)
        check_names(members, required, optional, path,
                    accepted or f"{sorted(required)} and optionally {sorted(optional)}")
        out, total = {}, 0
        for name in members:
            out[name] = _read_npy(archive, name, path, MAX_BYTES - total)
            total += out[name].nbytes
    return out


def read_npz_member(path: str | Path, name: str) -> np.ndarray | None:
    """The array ``name`` of an ``.npz`` file (``None`` if absent), not reading the others."""
    path = check_file(path)
    with open_archive(path, NPZ_KIND) as archive:
        return _read_npy(archive, name, path, MAX_BYTES) if name in _npy_members(
            archive, path) else None


def _npy_members(archive: zipfile.ZipFile, path: Path) -> list[str]:
    """The array names of an ``.npz`` archive (its members ``<name>.npy``); others refused."""
    names = archive.namelist()
    other = [n for n in names if not n.endswith(".npy")]
    if other:
        raise ModelFileError(f"{where(path)}: members {name_list(other)} are not .npy arrays; "
                             "an .npz model file holds only <name>.npy members")
    return [n[: -len(".npy")] for n in names]


def _read_npy(archive: zipfile.ZipFile, name: str, path: Path, budget: int) -> np.ndarray:
    """Array ``name`` of an ``.npz``, its header checked against ``budget`` bytes first."""
    member, what = f"{name}.npy", f"array {brief(name)}"
    buf = io.BytesIO(read_member(archive, member, NPY_HEADER_MAX + 16, path, what, head=True))
    try:
        version = np.lib.format.read_magic(buf)
        reader = {(1, 0): np.lib.format.read_array_header_1_0,
                  (2, 0): np.lib.format.read_array_header_2_0}[version]
        shape, fortran, dtype = reader(buf, max_header_size=NPY_HEADER_MAX)
    except Exception as exc:  # ValueError, KeyError (version), SyntaxError in the header
        raise ModelFileError(f"{where(path)}: {what}: member {brief(member)} is not a .npy "
                             f"array ({exception_line(exc)})") from exc
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or (
            dtype.kind not in "biufcU"):
        raise ModelFileError(f"{where(path)}: {what} has dtype {dtype}; a model file holds "
                             "numbers and strings only")
    count = checked_count(shape, dtype.itemsize, budget,
                          f"{where(path)}: {what} declares shape {shape} of {dtype}")
    n_bytes, offset = count * dtype.itemsize, buf.tell()
    file_size = archive.getinfo(member).file_size
    if offset + n_bytes != file_size:
        raise ModelFileError(f"{where(path)}: {what}: its header declares shape {shape} of "
                             f"{dtype} ({n_bytes} bytes) but the member holds "
                             f"{file_size - offset} bytes of data")
    raw = read_member(archive, member, file_size, path, what)
    a = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    return (a.reshape(shape[::-1]).T if fortran else a.reshape(shape)).copy()


def checked_count(shape: tuple[int, ...], itemsize: int, budget: int, what: str) -> int:
    """Elements of ``shape`` if ``itemsize`` times them fit in ``budget`` bytes, else the error.

    Stops multiplying once over the budget (no huge products of hostile sizes); ``what``
    begins the message (the file and the array).
    """
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ModelFileError(f"{what}: sizes must be integers >= 0")
    count = 1
    for n in shape:
        count *= n
        if count * itemsize > budget:
            raise ModelFileError(f"{what}: {size_text(count * itemsize)} or more; the arrays "
                                 f"of a model file may total at most {size_text(MAX_BYTES)}")
    return count


def size_text(n_bytes: int) -> str:
    """``n_bytes`` for people: ``1.6 GB``, ``64 MiB``, ``12 bytes``."""
    if n_bytes >= 2**20 and n_bytes % 2**20 == 0:
        return f"{n_bytes // 2**20} MiB"
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{n_bytes} bytes"


def npz_cell(path: str | Path) -> str:
    """The ``cell`` string of an ``.npz`` model file (``"elman"`` if absent: older files)."""
    a = read_npz_member(path, "cell")
    return "elman" if a is None else _npz_string(a, "cell", path)


def read_npz_model(path: str | Path, cell: str, required: Collection[str],
                   optional: Collection[str] = ()) -> dict[str, np.ndarray | str]:
    """The members of an ``.npz`` model file of ``cell``: weights float64, strings ``str``.

    Refuses a file of another cell (naming :func:`systems.load_model`), unknown and missing
    members (by name, before reading any), and weights that are not real, finite numbers of
    magnitude at most :data:`WEIGHT_LIMIT`.
    """
    found = npz_cell(path)
    if found != cell:
        raise ModelFileError(f"{where(path)} holds a {brief(found)} model, not {cell!r}; "
                             "systems.load_model reads any cell")
    arrays = read_npz(path, required, optional,
                      accepted=f"the {cell} arrays {sorted(required)}"
                      + (f" and optionally {sorted(optional)}" if optional else ""))
    strings = {k: _npz_string(arrays.pop(k), k, path) for k in STRING_MEMBERS if k in arrays}
    return {**check_weights(arrays, path), **strings}


def build_model(path: str | Path, build: Callable[[], T]) -> T:
    """``build()``, its ``ValueError`` (shapes that do not fit together) naming the file."""
    try:
        return build()
    except ValueError as exc:
        raise ModelFileError(f"{where(path)} holds an inconsistent model: {exc}") from exc


def _npz_string(a: np.ndarray, name: str, path: str | Path) -> str:
    if a.dtype.kind != "U" or a.shape != () or len(str(a)) > 16:
        raise ModelFileError(f"{where(path)}: array {name!r} must be a short string such as "
                             f"'tanh' or 'lstm', got dtype {a.dtype}, shape {a.shape}")
    return str(a)
