"""The tuner's folder: settings, finished rungs and the states of the candidates still alive,
written atomically, keyed by a hash of the settings and the data; nothing pickled.

Layout of ``out``::

    tune.json                 the settings (what a rerun compares) and their hash
    theory.json               the theory's candidates (if computed)
    rungs/rung<r>.json        every finished rung: each candidate's epochs, MSEs, criterion
    states/<m>_<seed>.json    the latest state of each candidate (arrays in .npz beside it)

A rung is finished when its JSON file is readable and carries the settings' hash; it is written
after the states it produced, so a run killed at any point resumes from the last finished rung
and re-trains nothing finished. States are encoded by :func:`encode_state`: arrays go to an
``.npz`` file (``allow_pickle=False``), everything else (numbers, strings, lists, tuples,
dicts) to JSON; any other object is refused with one line.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from systems.errors import InputError
from verification.experiment.study_plan import differences
from verification.experiment.table import atomic_write, plain, unplain

#: Bump when a stored rung or state changes meaning.
FORMAT_VERSION = 1


class TuneError(InputError):
    """Input the user can fix (dataset, options, a folder made under other settings)."""


def settings_hash(settings: Mapping[str, Any]) -> str:
    """SHA-256 (16 hex digits) of the settings as sorted JSON."""
    doc = json.dumps(plain(dict(settings)), sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- state codec
def encode_state(state: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """``(doc, arrays)``: a JSON-ready document with every array replaced by
    ``{"__array__": name}`` and tuples by ``{"__tuple__": [...]}``; ``arrays`` maps the names
    to the arrays. Anything but numbers, strings, ``None``, lists, tuples, dicts with string
    keys and arrays is a :class:`TuneError`."""
    arrays: dict[str, np.ndarray] = {}

    def enc(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            if v.dtype == object:
                raise TuneError("a trainer state holds an object array; states are stored "
                                "without pickle (numbers, strings, arrays, lists, dicts)")
            name = f"a{len(arrays)}"
            arrays[name] = v
            return {"__array__": name}
        if isinstance(v, tuple):
            return {"__tuple__": [enc(x) for x in v]}
        if isinstance(v, list):
            return [enc(x) for x in v]
        if isinstance(v, dict):
            if not all(isinstance(k, str) for k in v):
                return {"__intkeys__": [[_key(k), enc(x)] for k, x in v.items()]}
            return {k: enc(x) for k, x in v.items()}
        if isinstance(v, (np.integer, np.floating, np.bool_)):
            return enc(v.item())
        if v is None or isinstance(v, (bool, int, float, str)):
            return plain(v)
        raise TuneError(f"a trainer state holds a {type(v).__name__}; states are stored "
                        "without pickle (numbers, strings, arrays, lists, tuples, dicts)")

    return enc(state), arrays


def _key(k: Any) -> Any:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise TuneError(f"a trainer state has a dict key {k!r}; keys must be str or int")
    return int(k)


def decode_state(doc: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """The inverse of :func:`encode_state`."""
    if isinstance(doc, dict):
        if set(doc) == {"__array__"}:
            return np.array(arrays[doc["__array__"]])
        if set(doc) == {"__tuple__"}:
            return tuple(decode_state(x, arrays) for x in doc["__tuple__"])
        if set(doc) == {"__intkeys__"}:
            return {int(k): decode_state(x, arrays) for k, x in doc["__intkeys__"]}
        return {k: decode_state(x, arrays) for k, x in doc.items()}
    if isinstance(doc, list):
        return [decode_state(x, arrays) for x in doc]
    return unplain(doc)


# --------------------------------------------------------------------------- the folder
class TuneStore:
    """A tuner's output folder (module docstring)."""

    MANIFEST = "tune.json"
    PARTS = ("rungs", "states")

    def __init__(self, out: str | Path, log: Callable[[str], None] = print) -> None:
        self.out = Path(out)
        self.log = log
        self.hash = ""

    def check_layout(self) -> None:
        """``out`` is a folder (or absent) and nothing is in the way; else a TuneError."""
        if self.out.exists() and not self.out.is_dir():
            raise TuneError(f"--out {str(self.out)!r} is a file, not a folder")
        for part in self.PARTS:
            if (self.out / part).exists() and not (self.out / part).is_dir():
                raise TuneError(f"--out: {str(self.out / part)!r} is in the way (a file; the "
                                f"tuner writes its {part} there)")

    def open(self, settings: Mapping[str, Any], resume: bool = True) -> None:
        """Create the folder, or check that it holds a run with these settings (a mismatch is
        a TuneError naming what differs); ``resume=False`` drops an earlier run first."""
        self.check_layout()
        manifest = self.out / self.MANIFEST
        if not resume:
            for part in self.PARTS:
                shutil.rmtree(self.out / part, ignore_errors=True)
            for f in (manifest, self.out / "theory.json"):
                f.unlink(missing_ok=True)
        new = plain(dict(settings))
        if manifest.is_file():
            try:
                old = json.loads(manifest.read_text())["settings"]
            except (OSError, ValueError, KeyError, TypeError):
                raise TuneError(f"{str(manifest)!r} is damaged; rerun with --no-resume to "
                                "start afresh") from None
            diff = differences(old, new)
            if diff:
                raise TuneError(f"--out {str(self.out)!r} holds a tuning run with other "
                                f"settings ({'; '.join(diff)}): rerun with --no-resume to start "
                                "afresh, or choose another --out")
        self.hash = settings_hash(new)
        atomic_write(manifest, json.dumps({"settings": new, "hash": self.hash}, indent=1))

    @classmethod
    def existing(cls, out: str | Path, log: Callable[[str], None] = print) -> TuneStore:
        """The store of the run in ``out``, to read (its records checked against its own
        settings, nothing written); a :class:`TuneError` when ``out`` holds no run."""
        store = cls(out, log)
        store.hash = settings_hash(store.settings())
        return store

    def settings(self) -> dict[str, Any]:
        """The settings of the run in this folder (as its manifest has them); a
        :class:`TuneError` when it holds none."""
        try:
            return dict(json.loads((self.out / self.MANIFEST).read_text())["settings"])
        except (OSError, ValueError, KeyError, TypeError):
            raise TuneError(f"{str(self.out)!r} holds no tuning run (no readable "
                            f"{self.MANIFEST})") from None

    # ------------------------------------------------------------------ rungs
    def rung_path(self, r: int) -> Path:
        return self.out / "rungs" / f"rung{r}.json"

    def read_doc(self, path: Path) -> dict[str, Any] | None:
        """A finished record of this run (same hash), or ``None`` (absent, damaged: logged)."""
        if not path.is_file():
            return None
        try:
            doc = unplain(json.loads(path.read_text()))
        except (OSError, ValueError):
            self.log(f"  {path}: damaged, recomputed")
            return None
        if not isinstance(doc, dict) or doc.get("hash") != self.hash \
                or doc.get("format") != FORMAT_VERSION:
            self.log(f"  {path}: from another run, recomputed")
            return None
        return doc

    def write_doc(self, path: Path, doc: Mapping[str, Any]) -> None:
        atomic_write(path, json.dumps(plain({**doc, "hash": self.hash,
                                             "format": FORMAT_VERSION})))

    # ------------------------------------------------------------------ states
    def state_path(self, m: int, seed: int) -> Path:
        return self.out / "states" / f"m{m}_s{seed}.json"

    def write_state(self, m: int, seed: int, epochs: int, state: Any) -> None:
        """The state of candidate ``(m, seed)`` after ``epochs`` epochs: arrays first, then the
        JSON that names them (and their epochs)."""
        doc, arrays = encode_state(state)
        path = self.state_path(m, seed)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        npz = path.with_name(f"{path.stem}_e{epochs}.npz")
        atomic_write(npz, buf.getvalue())
        self.write_doc(path, {"m": m, "seed": seed, "epochs": epochs, "arrays": npz.name,
                              "state": doc})

    def read_state(self, m: int, seed: int, epochs: int) -> tuple[bool, Any]:
        """``(True, state)`` of candidate ``(m, seed)`` at ``epochs``, or ``(False, None)``."""
        doc = self.read_doc(self.state_path(m, seed))
        if doc is None or doc.get("epochs") != epochs:
            return False, None
        try:
            with np.load(self.out / "states" / doc["arrays"], allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            return True, decode_state(doc["state"], arrays)
        except (OSError, ValueError, KeyError) as exc:
            self.log(f"  state of m = {m}, seed {seed}: unreadable ({exc}), re-trained")
            return False, None

    def prune_states(self, keep: Mapping[tuple[int, int], int]) -> None:
        """Remove the array files of states no longer needed (``keep``: (m, seed) -> epochs)."""
        for p in (self.out / "states").glob("m*_s*_e*.npz"):
            m, s, e = (int(x[1:]) for x in p.stem.split("_"))
            if keep.get((m, s)) != e:
                p.unlink(missing_ok=True)
