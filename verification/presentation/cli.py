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
import time
from collections.abc import Sequence as Seq
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

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


class UserError(Exception):
    """An error the user can fix; printed as one line, exit code 2."""


def _version() -> str:
    try:
        return metadata.version("burnin")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


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
    r.add_argument("--seed", type=int, default=0)
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
    return p


# --------------------------------------------------------------------------- reproduce
def load_pair(spec: str) -> tuple[Any, Any]:
    """Training and test data: built-in ``paper_lti`` or ``DIR/train.csv`` + ``DIR/test.csv``."""
    from systems.data import load_csv, paper_lti

    if spec == "builtin":
        return paper_lti("train"), paper_lti("test")
    d = Path(spec)
    if not d.is_dir():
        raise UserError(f"--data {spec!r}: not 'builtin' and not a directory")
    files = [d / "train.csv", d / "test.csv"]
    for f in files:
        if not f.is_file():
            raise UserError(f"--data {spec!r}: {f.name} is missing (need train.csv and test.csv)")
    return tuple(load_csv(f, inputs=["x"], outputs=["y"], name=f"{d.name}/{f.stem}")
                 for f in files)


def reproduce(args: argparse.Namespace) -> int:
    from verification.experiment.gaps import measure
    from verification.presentation import figures
    from verification.presentation.report import write_report

    train, test = load_pair(args.data)
    ms = args.ms if args.ms is not None else (QUICK_MS if args.quick else PAPER_MS)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fit_options = {"restarts": 1} if args.quick else None
    print(f"burnin reproduce: {train.name} / {test.name}, N = {args.N}, m = {list(ms)} -> {out}",
          flush=True)
    t0 = time.perf_counter()
    table = measure(train, test, args.N, ms, stride=1, model="linear", n_h=1, bias=False,
                    w_hh_max=0.999, seed=args.seed, fit_options=fit_options, out_dir=out,
                    resume=not args.no_resume, progress=lambda s: print(s, flush=True))
    t_measure = time.perf_counter() - t0
    print("figures ...", flush=True)
    t1 = time.perf_counter()
    paths = figures.save_all(table, out)
    t_fig = time.perf_counter() - t1
    fit_s = float(np.nansum(table.column("seconds_fit")))
    cert_s = float(np.nansum(table.column("seconds_certify")))
    report = write_report(table, out, seconds={
        "total": time.perf_counter() - t0, "measure": t_measure, "training (this run and "
        "resumed)": fit_s, "certificates": cert_s, "figures": t_fig})
    unsound = [r["m"] for r in table.rows if not r.get("sound")]
    print(f"done in {time.perf_counter() - t0:.1f} s. Wrote:")
    for p in [out / "gaps.csv", out / "gaps.json", *paths, report]:
        print(f"  {p}")
    if unsound:
        print(f"WARNING: rows for m = {unsound} are not sound (a gap exceeds its bound); "
              "see report.md", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- bound / certify
def _load_model(path: str) -> Any:
    from systems.rnn import ElmanRNN

    return ElmanRNN.load(path)


def _cert_dict(c: Any) -> dict[str, Any]:
    return {"verified": bool(c.verified), "lam": c.lam, "C": c.C, "kappa": c.kappa,
            "margin": c.margin, "min_eig": c.min_eig, "reason": c.reason, "solver": c.solver,
            "seconds": c.seconds, "P": None if c.P is None else np.asarray(c.P).tolist()}


def _json_ready(v: Any) -> Any:
    from verification.experiment.table import _plain

    return _plain(v)


def certify_cmd(args: argparse.Namespace) -> int:
    from verification.certificates.lmi_c import certify

    model = _load_model(args.model)
    cert = certify(model)
    if args.json:
        print(json.dumps(_json_ready(_cert_dict(cert)), indent=1))
    elif cert.verified:
        print(f"certified: A1 holds with lam = {cert.lam:.6g}, C = {cert.C:.6g} "
              f"(kappa(P) = {cert.kappa:.4g}, lam nudged by {cert.margin:.2g} for the float64 "
              f"check, solver {cert.solver}, {cert.seconds:.2f} s)")
    else:
        print(f"not certified: {cert.reason}")
    return 0 if cert.verified else 1


def bound_cmd(args: argparse.Namespace) -> int:
    from systems.data import load_csv
    from verification.experiment.model_bound import bound_for_model
    from verification.presentation.report import fmt

    model = _load_model(args.model)
    data = load_csv(args.data, inputs=args.inputs, outputs=args.outputs)
    res = bound_for_model(model, data, args.N, args.m, stride=args.stride, tol=args.tol)
    if args.json:
        print(json.dumps(_json_ready(res.to_dict()), indent=1))
        return 0 if res.certificate.verified else 1
    c = res.certificate
    print(f"model {args.model}: {model.activation}, n_h = {model.n_h}; data {data.name}: "
          f"T = {data.T}, N = {args.N}, stride = {args.stride}")
    if c.verified:
        print(f"certificate (LMI-C): lam = {c.lam:.6g}, C = {c.C:.6g}")
    else:
        print(f"NOT CERTIFIED: {c.reason}. Bounds below are not applicable (n/a).")
    e = res.empirical
    print(f"empirical (sampled, not a certificate): lam = {fmt(e.lam)}, C = {fmt(e.C)} "
          f"from {e.n_pairs} pairs")
    g = res.gain
    print(f"incremental l2 gain (LMI-L): {fmt(getattr(g, 'gamma', math.nan))}")
    cols = [("m", "m"), ("V_zero", "V(0)"), ("V_free", "V(z)"), ("gap_T1", "gap"),
            ("T1_bound", "T1 bound"), ("T1b_paper", "C2 lam^m/(N-m)"), ("P_zero", "P(0)"),
            ("P_h0", "P(h0)"), ("gap_T2", "P gap"), ("T2a_bound", "T2a bound")]
    widths = [max(len(h), 10) for _, h in cols]
    print("  ".join(h.rjust(w) for (_, h), w in zip(cols, widths, strict=True)))
    for r in res.rows:
        print("  ".join(fmt(r.get(k)).rjust(w) for (k, _), w in zip(cols, widths, strict=True)))
    if res.recommendation is not None:
        print("recommended burn-in:")
        print("  " + str(res.recommendation).replace("\n", "\n  "))
    return 0 if c.verified else 1


# --------------------------------------------------------------------------- main
def main(argv: Seq[str] | None = None) -> int:
    """Entry point of ``burnin``; returns the exit code (0 ok, 1 not certified/unsound, 2 error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"reproduce": reproduce, "bound": bound_cmd, "certify": certify_cmd}
    try:
        return handlers[args.command](args)
    except (UserError, ValueError, TypeError, FileNotFoundError, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"burnin {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"burnin {args.command}: interrupted; finished m values are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
