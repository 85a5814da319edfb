"""The ``burnin`` command: a thin layer over the library (``main(argv)`` is testable in-process).

Subcommands: ``reproduce`` (the paper's Section 5.1 experiment, figures and report),
``bound`` (a saved model and its data -> constants, bounds over ``m``, recommended burn-in),
``certify`` (a saved model -> the LMI-C certificate).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence as Seq
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from verification.presentation import study_cli
from verification.presentation.text import fmt, text_table

QUICK_MS = (0, 10, 20)
PAPER_MS = (0, 4, 8, 12, 16, 20)

REPRODUCE_EXAMPLE = """example:
  burnin reproduce --out results                 # built-in data, m = 0, 4, ..., 20
  burnin reproduce --out quick --quick           # m = 0, 10, 20 (under a minute)
  burnin reproduce --data ../shared/data/paper_synthetic --out authors
"""
BOUND_EXAMPLE = """example (makes a model and data first, then bounds it):
  python -c "from systems.rnn import ElmanRNN; ElmanRNN([[0.8]], [[1.0]], None, [[0.5]], None, activation='linear').save('model.npz')"
  python -c "from systems.data import paper_lti; import numpy as np; s = paper_lti('train'); np.savetxt('data.csv', np.c_[s.x, s.y], delimiter=',', header='x,y', comments='')"
  burnin bound model.npz --data data.csv --inputs x --outputs y --N 21 --m 0 5 10 20
"""  # noqa: E501
CERTIFY_EXAMPLE = """example:
  python -c "from systems.rnn import ElmanRNN; ElmanRNN([[0.5, 0.2], [0.0, 0.4]], [[1.0], [0.5]], None, [[1.0, -1.0]], None).save('model.npz')"
  burnin certify model.npz
"""  # noqa: E501


#: numpy floating-point errors raised, not warned, while ``bound``/``certify`` run.
STRICT = {"over": "raise", "invalid": "raise"}


class UserError(Exception):
    """An error the user can fix; printed as one line, exit code 2."""


def _version() -> str:
    try:
        return metadata.version("burnin")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _nonnegative(text: str) -> int:
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} must be >= 0")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="burnin",
        description="Bounds on what truncated BPTT with a burn-in loses against "
        "full-sequence training (Schiller et al., ICLR 2026), with certified constants.",
    )
    p.add_argument("--version", action="version", version=f"burnin {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("reproduce", help="run the paper's synthetic experiment (Section 5.1)",
                       epilog=REPRODUCE_EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--out", default="results", help="output directory (default: results)")
    r.add_argument("--data", default="builtin",
                   help="'builtin' (systems.data.paper_lti) or a directory with train.csv and "
                   "test.csv (columns x, y), e.g. ../shared/data/paper_synthetic")
    r.add_argument("--ms", type=int, nargs="+", default=None,
                   help=f"burn-ins to run (default {' '.join(map(str, PAPER_MS))})")
    r.add_argument("--quick", action="store_true",
                   help=f"m = {', '.join(map(str, QUICK_MS))} and lighter solver settings")
    r.add_argument("--N", type=int, default=21, help="window length (default 21)")
    r.add_argument("--seed", type=_nonnegative, default=0, help="random seed (>= 0)")
    r.add_argument("--no-resume", action="store_true", help="recompute finished m values")

    b = sub.add_parser("bound", help="certificate and T1/T2 bounds over m for a saved model",
                       epilog=BOUND_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("model", help="model .npz written by ElmanRNN.save")
    b.add_argument("--data", required=True, help="CSV with a header row")
    b.add_argument("--inputs", required=True, nargs="+", help="input column names")
    b.add_argument("--outputs", required=True, nargs="+", help="output column names")
    b.add_argument("--N", type=int, required=True, help="window length")
    b.add_argument("--m", type=int, nargs="+", default=None, help="burn-ins (default 0..N-1)")
    b.add_argument("--stride", type=int, default=1)
    b.add_argument("--tol", type=float, default=0.05,
                   help="recommendation tolerance: T1 bound <= tol * min_m V(theta; 0) "
                   "(default 0.05)")
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")

    c = sub.add_parser("certify", help="LMI-C certificate of a saved model",
                       epilog=CERTIFY_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("model", help="model .npz written by ElmanRNN.save")
    c.add_argument("--json", action="store_true", help="print JSON")
    study_cli.add_parser(sub)
    return p


# --------------------------------------------------------------------------- checks
def load_pair(spec: str) -> tuple[Any, Any]:
    """Training and test data: built-in ``paper_lti`` or ``DIR/train.csv`` + ``DIR/test.csv``."""
    from systems.data import load_csv, paper_lti

    if spec == "builtin":
        return paper_lti("train"), paper_lti("test")
    d = Path(spec)
    if not d.is_dir():
        what = "a file" if d.exists() else "does not exist"
        raise UserError(f"--data {spec!r}: {what}; give 'builtin' or a directory with "
                        "train.csv and test.csv")
    missing = [f for f in ("train.csv", "test.csv") if not (d / f).is_file()]
    if missing:
        raise UserError(f"--data {spec!r}: the directory has no {' and no '.join(missing)} "
                        "(need train.csv and test.csv, columns x, y)")
    return tuple(load_csv(d / f"{s}.csv", inputs=["x"], outputs=["y"], name=f"{d.name}/{s}")
                 for s in ("train", "test"))


def load_model(path: str) -> Any:
    """A saved model, checked before any work with the certificates' own input check
    (:func:`verification.certificates.sdp.check_model`: ``n_h >= 1``, finite weights of
    magnitude at most ``WEIGHT_MAX``, so that ``C**2`` and squared outputs stay finite)."""
    from systems.rnn import ElmanRNN
    from verification.certificates.sdp import check_model

    model = ElmanRNN.load(path)
    try:
        check_model(model)
    except ValueError as exc:
        raise UserError(f"model {path!r}: {exc}") from None
    return model


def check_out_dir(out: Path) -> Path:
    """Create ``out`` (after every other check) and prove it writable with a probe file."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {str(out)!r} is a file, not a directory")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".burnin-probe-"):
            pass
    except OSError as exc:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise UserError(f"--out {str(out)!r} is not writable: {exc.strerror or exc}") from exc
    return out


# --------------------------------------------------------------------------- commands
def reproduce(args: argparse.Namespace) -> int:
    from systems.windows import Windows, check_burn_in
    from verification.experiment.gaps import measure
    from verification.presentation import figures
    from verification.presentation.report import write_report

    train, test = load_pair(args.data)
    ms = args.ms if args.ms is not None else (QUICK_MS if args.quick else PAPER_MS)
    Windows(train.T, args.N, 1)  # N <= T, before anything is written
    ms = sorted({check_burn_in(m, args.N) for m in ms})
    out = check_out_dir(Path(args.out))
    print(f"burnin reproduce: {train.name} / {test.name}, N = {args.N}, m = {ms} -> {out}",
          flush=True)
    t0 = time.perf_counter()
    table = measure(train, test, args.N, ms, stride=1, model="linear", n_h=1, bias=False,
                    w_hh_max=0.999, seed=args.seed,
                    fit_options={"restarts": 1} if args.quick else None, out_dir=out,
                    resume=not args.no_resume, progress=lambda s: print(s, flush=True))
    t_measure = time.perf_counter() - t0
    print("figures ...", flush=True)
    paths = figures.save_all(table, out)
    t_fig = time.perf_counter() - t0 - t_measure
    report = write_report(table, out, seconds={
        "total": time.perf_counter() - t0, "measure": t_measure,
        "training (this run and resumed)": float(np.nansum(table.column("seconds_fit"))),
        "certificates": float(np.nansum(table.column("seconds_certify"))), "figures": t_fig})
    print(f"done in {time.perf_counter() - t0:.1f} s. Wrote:")
    for p in [out / "gaps.csv", out / "gaps.json", *paths, report]:
        print(f"  {p}")
    unsound = [r["m"] for r in table.rows if not r.get("sound")]
    if unsound:
        print(f"WARNING: rows for m = {unsound} are not sound (a gap exceeds its bound); "
              "see report.md", file=sys.stderr)
        return 1
    return 0


def _print_json(doc: dict[str, Any]) -> None:
    from verification.experiment.table import plain

    print(json.dumps(plain(doc), indent=1))


def _finite_constants(cert: Any) -> None:
    """A certificate with an infinite or NaN constant is an input the float64 check cannot
    handle (e.g. ``W_hy ~ 1e308``): an input error, never 'certified, C = inf'."""
    bad = [k for k in ("lam", "C") if not np.isfinite(float(getattr(cert, k)))]
    if cert.verified and bad:
        raise UserError(f"the certificate's {' and '.join(bad)} overflow float64 "
                        f"({', '.join(f'{k} = {getattr(cert, k)}' for k in bad)}); scale the model")


def certify_cmd(args: argparse.Namespace) -> int:
    from verification.certificates.lmi_c import certify

    cert = certify(load_model(args.model))
    _finite_constants(cert)
    if args.json:
        _print_json(cert.to_dict())
    elif cert.verified:
        print(f"certified: A1 holds with lam = {cert.lam:.6g}, C = {cert.C:.6g} "
              f"(kappa(P) = {cert.kappa:.4g}, lam nudged by {cert.margin:.2g} for the float64 "
              f"check, solver {cert.solver}, {cert.seconds:.2f} s)")
    else:
        print(f"not certified: {cert.reason}")
    return 0 if cert.verified else 1


BOUND_COLUMNS = [("m", "m"), ("V_zero", "V(0)"), ("V_free", "V(z)"), ("gap_T1", "gap"),
                 ("T1_bound", "T1 bound"), ("T1b_paper", "C2 lam^m/(N-m)"), ("P_zero", "P(0)"),
                 ("P_h0", "P(h0)"), ("gap_T2", "P gap"), ("T2a_bound", "T2a bound")]


def bound_cmd(args: argparse.Namespace) -> int:
    from systems.data import load_csv
    from verification.experiment.model_bound import bound_for_model

    model = load_model(args.model)
    data = load_csv(args.data, inputs=args.inputs, outputs=args.outputs)
    res = bound_for_model(model, data, args.N, args.m, stride=args.stride, tol=args.tol)
    c, e = res.certificate, res.empirical
    _finite_constants(c)
    if args.json:
        _print_json(res.to_dict())
        return 0 if c.verified else 1
    print(f"model {args.model}: {model.activation}, n_h = {model.n_h}; data {data.name}: "
          f"T = {data.T}, N = {args.N}, stride = {args.stride}")
    print(f"certificate (LMI-C): lam = {c.lam:.6g}, C = {c.C:.6g}" if c.verified else
          f"NOT CERTIFIED: {c.reason}. Bounds below are not applicable (n/a).")
    print(f"empirical (sampled, not a certificate): lam = {fmt(e.lam)}, C = {fmt(e.C)} "
          f"from {e.n_pairs} pairs")
    print(f"incremental l2 gain (LMI-L): {fmt(getattr(res.gain, 'gamma', math.nan))}")
    print(text_table(res.rows, BOUND_COLUMNS))
    if res.recommendation is not None:
        print("recommended burn-in:")
        print("  " + str(res.recommendation).replace("\n", "\n  "))
    return 0 if c.verified else 1


# --------------------------------------------------------------------------- main
#: Errors the user can fix: one line on stderr, exit code 2, no traceback.
INPUT_ERRORS = (UserError, ValueError, TypeError, OSError, ArithmeticError)
COMMANDS = {"reproduce": reproduce, "bound": bound_cmd, "certify": certify_cmd,
            "study": study_cli.run}


def _message(exc: BaseException) -> str:
    if isinstance(exc, ArithmeticError):  # FloatingPointError, OverflowError, ZeroDivisionError
        return (f"float64 overflow or invalid value while computing ({exc}): the model or the "
                "data are too large for float64; scale them")
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: Seq[str] | None = None) -> int:
    """Entry point of ``burnin``; returns the exit code (0 ok, 1 not certified/unsound, 2 error).

    ``bound`` and ``certify`` run with float64 overflow and invalid operations as errors: a
    model or data too large for float64 is an input error (exit 2, one line), not a page of
    ``RuntimeWarning`` lines followed by ``inf``.
    """
    args = build_parser().parse_args(argv)
    strict = args.command in ("bound", "certify")
    try:
        with warnings.catch_warnings(), np.errstate(**STRICT if strict else {}):
            if strict:
                warnings.simplefilter("error", RuntimeWarning)
            return COMMANDS[args.command](args)
    except INPUT_ERRORS as exc:
        print(f"burnin {args.command}: error: {_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"burnin {args.command}: interrupted; finished m values are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
