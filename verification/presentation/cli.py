"""The ``burnin`` command: a thin layer over the library (``main(argv)`` is testable in-process).

Subcommands: ``reproduce`` (the paper's Section 5.1 experiment, figures and report),
``bound`` (a saved model and its data -> constants, bounds over ``m``, recommended burn-in),
``certify`` (a saved model -> the LMI-C certificate; for LSTM/GRU models the global delta-ISS
condition, else the on-data certificate on the data's windows, beside sampled constants).
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

from systems.benchmarks import DATASETS
from verification.presentation import study_cli, tune_cli
from verification.presentation.exits import NOT_CERTIFIED, OK, UserError, guarded, validating
from verification.presentation.text import fmt, text_table

QUICK_MS = (0, 10, 20)
PAPER_MS = (0, 4, 8, 12, 16, 20)

MODEL_HELP = ("model: .npz written by ElmanRNN/LSTM/GRU.save, or a torch state dict (.pt) of "
              "a one-layer RNN/LSTM/GRU with a linear readout")
GATED_CERTIFY_EXAMPLE = """example (an LSTM on the scaled RLC training split; the authors' models:
github.com/jdschille/rnn-training, folder 02_public_datasets/code/models):
  burnin certify models/rlc/model_N100_m0_stateless --benchmark rlc --stride 200 --json
"""


REPRODUCE_EXAMPLE = """example:
  burnin reproduce --out results                 # built-in data, m = 0, 4, ..., 20
  burnin reproduce --out quick --quick           # m = 0, 10, 20 only
  burnin reproduce --data paper --out authors    # the authors' published series
"""
BOUND_EXAMPLE = """example (makes a model and data first, then bounds it):
  python -c "from systems.rnn import ElmanRNN; ElmanRNN([[0.8]], [[1.0]], None, [[0.5]], None, activation='linear').save('model.npz')"
  python -c "from systems.data import paper_lti; import numpy as np; s = paper_lti('train'); np.savetxt('data.csv', np.c_[s.x, s.y], delimiter=',', header='x,y', comments='')"
  burnin bound model.npz --data data.csv --inputs x --outputs y --N 21 --m 0 5 10 20
"""  # noqa: E501
GATED_BOUND_EXAMPLE = """example (an LSTM on the scaled RLC training split, every 200th window):
  burnin bound models/rlc/model_N100_m0_stateless.pt --benchmark rlc --N 100 --m 0 20 40 60 80 --stride 200
"""  # noqa: E501
CERTIFY_EXAMPLE = """example:
  python -c "from systems.rnn import ElmanRNN; ElmanRNN([[0.5, 0.2], [0.0, 0.4]], [[1.0], [0.5]], None, [[1.0, -1.0]], None).save('model.npz')"
  burnin certify model.npz
"""  # noqa: E501


#: numpy floating-point errors raised, not warned, while ``bound``/``certify`` run.
STRICT = {"over": "raise", "invalid": "raise"}


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


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, help="CSV with a header row")
    p.add_argument("--inputs", nargs="+", default=None, help="input column names (with --data)")
    p.add_argument("--outputs", nargs="+", default=None,
                   help="output column names (with --data)")
    p.add_argument("--benchmark", default=None, choices=sorted(DATASETS),
                   help="a benchmark's training split, scaled as the authors did "
                   "(the data ship with the package)")
    p.add_argument("--data-root", default=None,
                   help="another folder with <benchmark>_{train,val,test}.csv[.gz] "
                   "(default: $BURNIN_DATA_ROOT, else the packaged copy)")


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
                   help="'builtin' (systems.data.paper_lti, our noise draw), 'paper' (the "
                   "authors' published series, shipped with the package) or a directory with "
                   "train.csv and test.csv (columns x, y)")
    r.add_argument("--ms", type=int, nargs="+", default=None,
                   help=f"burn-ins to run (default {' '.join(map(str, PAPER_MS))})")
    r.add_argument("--quick", action="store_true",
                   help=f"m = {', '.join(map(str, QUICK_MS))} and lighter solver settings")
    r.add_argument("--N", type=int, default=21, help="window length (default 21)")
    r.add_argument("--seed", type=_nonnegative, default=0, help="random seed (>= 0)")
    r.add_argument("--no-resume", action="store_true", help="recompute finished m values")

    b = sub.add_parser("bound", help="certificate and T1/T2 bounds over m for a saved model "
                       "(LSTM/GRU: beside the measured price of the zero state)",
                       epilog=BOUND_EXAMPLE + GATED_BOUND_EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("model", help=MODEL_HELP)
    _data_args(b)
    b.add_argument("--N", type=int, required=True, help="window length")
    b.add_argument("--m", type=int, nargs="+", default=None, help="burn-ins (default 0..N-1)")
    b.add_argument("--stride", type=int, default=1, help="window stride (default 1)")
    b.add_argument("--tol", type=float, default=0.05,
                   help="recommendation tolerance: T1 bound <= tol * min_m V(theta; 0) "
                   "(LSTM/GRU: tol * the model's free-run loss on the windows) (default 0.05)")
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")

    c = sub.add_parser("certify", help="A1 certificate of a saved model (LMI-C; LSTM/GRU: "
                       "global delta-ISS or on the data)",
                       epilog=CERTIFY_EXAMPLE + GATED_CERTIFY_EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("model", help=MODEL_HELP)
    _data_args(c)
    c.add_argument("--N", type=int, default=100,
                   help="LSTM/GRU: window length (default 100)")
    c.add_argument("--stride", type=int, default=1,
                   help="LSTM/GRU: certify the windows starting at 0, K, 2K, ... (default 1: "
                   "every window; about 45 s for the RLC training split, minutes for Silverbox)")
    c.add_argument("--json", action="store_true", help="print JSON")
    study_cli.add_parser(sub)
    tune_cli.add_parser(sub)
    return p


# --------------------------------------------------------------------------- checks
def load_pair(spec: str) -> tuple[Any, Any]:
    """Training and test data: built-in ``paper_lti``, the authors' packaged series (``paper``)
    or ``DIR/train.csv`` + ``DIR/test.csv``."""
    from systems.benchmarks import paper_series
    from systems.data import load_csv, paper_lti

    if spec == "builtin":
        return paper_lti("train"), paper_lti("test")
    if spec == "paper":
        return paper_series("train"), paper_series("test")
    d = Path(spec)
    if not d.is_dir():
        what = "a file" if d.exists() else "does not exist"
        raise UserError(f"--data {spec!r}: {what}; give 'builtin', 'paper' or a directory with "
                        "train.csv and test.csv")
    missing = [f for f in ("train.csv", "test.csv") if not (d / f).is_file()]
    if missing:
        raise UserError(f"--data {spec!r}: the directory has no {' and no '.join(missing)} "
                        "(need train.csv and test.csv, columns x, y)")
    return tuple(load_csv(d / f"{s}.csv", inputs=["x"], outputs=["y"], name=f"{d.name}/{s}")
                 for s in ("train", "test"))


def load_model(path: str) -> Any:
    """A saved model (:func:`systems.cells.load_model`: ``.npz`` of any cell or a torch state
    dict), checked before any work. Elman: the certificates' own input check
    (:func:`verification.certificates.sdp.check_model`: ``n_h >= 1``, finite weights of
    magnitude at most ``WEIGHT_MAX``, so that ``C**2`` and squared outputs stay finite); LSTM/GRU:
    the same range for every parameter."""
    from systems.cells import load_model as read_model
    from verification.certificates.sdp import WEIGHT_MAX, check_model

    model = read_model(path)
    try:
        if model.cell == "elman":
            check_model(model)
        else:
            theta = np.asarray(model.theta, dtype=np.float64)
            if not np.all(np.isfinite(theta)):
                raise ValueError("the parameters contain NaN or inf: weights must be finite")
            top = float(np.max(np.abs(theta), initial=0.0))
            if top > WEIGHT_MAX:
                raise ValueError(f"a parameter has magnitude {top:.3g}: the certificates need "
                                 f"weights in [-{WEIGHT_MAX:.0e}, {WEIGHT_MAX:.0e}]")
    except ValueError as exc:
        raise UserError(f"model {path!r}: {exc}") from None
    return model


def load_data(args: argparse.Namespace, model: Any) -> Any:
    """The data of ``bound``/``certify``: ``--data`` CSV (``--inputs``, ``--outputs``) as given,
    or ``--benchmark NAME`` (``--data-root DIR`` or ``$BURNIN_DATA_ROOT`` override the packaged
    data): the training split scaled as the authors did
    (:func:`systems.benchmarks.load_benchmark`). Its ``n_x``, ``n_y`` must match the model's."""
    from systems.benchmarks import load_benchmark
    from systems.data import load_csv

    if (args.data is None) == (args.benchmark is None):
        raise UserError("give either --data FILE.csv (with --inputs and --outputs) or "
                        "--benchmark NAME")
    if args.benchmark is not None:
        data = load_benchmark(args.benchmark, args.data_root).scaled["train"]
    else:
        missing = [f"--{k}" for k in ("inputs", "outputs") if getattr(args, k) is None]
        if missing:
            raise UserError(f"--data needs {' and '.join(missing)} (column names)")
        data = load_csv(args.data, inputs=args.inputs, outputs=args.outputs)
    if (data.n_x, data.n_y) != (model.n_x, model.n_y):
        raise UserError(f"the model has n_x = {model.n_x}, n_y = {model.n_y}; the data "
                        f"{data.name!r} has n_x = {data.n_x}, n_y = {data.n_y}")
    return data


def check_settings(args: argparse.Namespace, data: Any) -> None:
    """``bound``/``certify`` settings against the data: ``1 <= N <= T``, ``stride >= 1``, every
    ``m`` in ``0..N-1``, ``tol > 0`` (library checks; run inside :func:`validating`)."""
    from systems.windows import Windows, check_burn_in

    Windows(data.T, args.N, args.stride)
    for m in getattr(args, "m", None) or ():
        check_burn_in(m, args.N)
    tol = getattr(args, "tol", None)
    if tol is not None and not tol > 0:
        raise UserError(f"--tol must be > 0, got {tol}")


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

    with validating():
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

    with validating():
        model = load_model(args.model)
    if model.cell != "elman":
        return certify_gated(args, model)
    if args.data is not None or args.benchmark is not None:
        raise UserError("--data/--benchmark are for LSTM/GRU models; an Elman model is "
                        "certified globally by LMI-C (use 'burnin bound' for its data)")
    cert = certify(model)
    _finite_constants(cert)
    if args.json:
        _print_json(cert.to_dict())
    elif cert.verified:
        print(f"certified: A1 holds with lam = {cert.lam:.6g}, C = {cert.C:.6g} "
              f"(kappa(P) = {cert.kappa:.4g}, lam nudged by {cert.margin:.2g} for the float64 "
              f"check, solver {cert.solver}, {cert.seconds:.2f} s)")
    else:
        print(f"not certified: {cert.reason}")
    return OK if cert.verified else NOT_CERTIFIED


BOUND_COLUMNS = [("m", "m"), ("V_zero", "V(0)"), ("V_free", "V(z)"), ("gap_T1", "gap"),
                 ("T1_bound", "T1 bound"), ("T1b_paper", "C2 lam^m/(N-m)"), ("P_zero", "P(0)"),
                 ("P_h0", "P(h0)"), ("gap_T2", "P gap"), ("T2a_bound", "T2a bound")]


def bound_cmd(args: argparse.Namespace) -> int:
    from verification.experiment.model_bound import bound_for_model

    with validating():
        model = load_model(args.model)
        data = load_data(args, model)
        check_settings(args, data)
    if model.cell != "elman":
        return bound_gated(args, model, data)
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


# --------------------------------------------------------------------------- LSTM / GRU
def gated_doc(mc: Any, data: Any, stride: int) -> dict[str, Any]:
    """The record ``certify``/``bound`` print for an LSTM/GRU, from
    :func:`verification.experiment.model_constants.model_constants`: the global certificate if
    it holds, else the on-data one (on exactly the windows named), sampled constants beside."""
    from verification.certificates import steps_to

    g, o, s = mc.global_ or {}, mc.on_data, mc.sampled
    glob = bool(g.get("verified"))
    chosen = g if glob else o
    return {
        "verified": bool(chosen["verified"]), "kind": chosen["kind"],
        "lam": chosen["lam"], "C": chosen["C"],
        "region": g["region"] if glob else mc.region,
        "steps_to_1pct": (float(steps_to(chosen["lam"], chosen["C"]))
                          if chosen["verified"] else math.inf),
        "lam_empirical": s["lam"], "C_empirical": s["C"],
        "empirical": {"certified": False, "note": s["note"], "n_pairs": s["n_pairs"],
                      "contracting": s["contracting"]},
        "cell": mc.cell, "n_h": mc.n_h, "data": data.name, "T": data.T, "N": mc.windows["N"],
        "stride": stride, "windows": mc.windows["S"], "window_starts": mc.windows["label"],
        "global": g, "on_data": {**o, "region": mc.region},
    }


def _gated_summary(d: dict[str, Any]) -> list[str]:
    g, o = d["global"], d["on_data"]
    lines = [f"{d['cell']} (n_h = {d['n_h']}) on {d['data']}: T = {d['T']}, N = {d['N']}, "
             f"{d['window_starts']}",
             f"global ({g.get('quantity', '')}): {g.get('reason', 'not computed')}",
             f"on-data: {o['reason']}" + ("" if not o["verified"] else
                                          f"; lam = {fmt(o['lam'])}, C = {fmt(o['C'])}, "
                                          f"1% after {fmt(o['steps_to_1pct'])} steps "
                                          f"({o['seconds']:.1f} s)"),
             f"sampled (not a certificate): lam = {fmt(d['lam_empirical'])}, "
             f"C = {fmt(d['C_empirical'])}"]
    if d["verified"]:
        lines.insert(0, f"certified ({d['kind']}): A1 holds with lam = {d['lam']:.6g}, "
                     f"C = {d['C']:.6g} on {d['region']}")
    else:
        lines.insert(0, f"not certified: global: {g.get('reason')}; on-data: {o['reason']}")
    return lines


def certify_gated(args: argparse.Namespace, model: Any) -> int:
    """``burnin certify`` for an LSTM/GRU: global if it verifies (the on-data certificate is
    then not computed), else on the data's windows."""
    from verification.experiment.model_constants import model_constants

    with validating():
        data = load_data(args, model)
        check_settings(args, data)
    mc = model_constants(model, data, args.N, [], stride=args.stride, on_data="if-needed")
    doc = gated_doc(mc, data, args.stride)
    if args.json:
        _print_json(doc)
    else:
        print("\n".join(_gated_summary(doc)))
    return OK if doc["verified"] else NOT_CERTIFIED


#: ``bound`` on an LSTM/GRU: the price of the zero state beside both T1 forms.
PRICE_COLUMNS = [("m", "m"), ("V_zero", "V(0)"), ("V_point", "V(z*)"), ("gap", "price"),
                 ("T1_env", "T1 envelope"), ("T1_fit", "T1 fitted"), ("sound", "sound"),
                 ("ratio_env", "env/price"), ("ratio_fit", "fit/price")]


def bound_gated(args: argparse.Namespace, model: Any, data: Any) -> int:
    """``burnin bound`` for an LSTM/GRU, on the windows ``--stride`` selects, all numbers on
    exactly those windows:

    * the price of the zero state per ``m``, ``V(theta; 0) - V(theta; z*)`` with the best
      window states ``z*``, beside T1 at ``(theta, z*)`` in both forms (certified envelope and
      fitted ``(lam, C)``, from the on-data certificate of the pairs ``(z*_i, 0)``), sound and
      bound/price (:func:`verification.experiment.zero_state.price_of_zero_state`);
    * the constants and the recommended burn-in
      (:func:`verification.experiment.model_constants.model_constants`): T1 at the model's
      free-run states ``z_i``, certified only where its constants are proven on exactly these
      windows (else from sampled constants, labelled an estimate).
    """
    from verification.experiment.model_constants import model_constants
    from verification.experiment.zero_state import leaves_rows, price_of_zero_state

    mc = model_constants(model, data, args.N, args.m, stride=args.stride, tol=args.tol)
    ms = [r["m"] for r in mc.rows]
    price = price_of_zero_state(model, data, args.N, ms, stride=args.stride)
    rows = leaves_rows(price)
    doc = gated_doc(mc, data, args.stride) | {
        "price": [r | {"sound": s["sound"]} for r, s in zip(price.rows, rows, strict=True)],
        "price_windows": price.windows["label"], "price_seconds": price.seconds,
        "rows": mc.rows, "bound_used": mc.bound_used, "certified_bound": mc.certified,
        "loss_level": mc.loss_level,
        "recommendation": None if mc.recommendation is None else
        {**mc.to_dict()["recommendation"], "certified": mc.certified}}
    unsound = [r["m"] for r in rows if r["sound"] is False]
    if args.json:
        _print_json(doc)
    else:
        print("\n".join(_gated_summary(doc)))
        print(f"the price of the zero state on {price.windows['label']} "
              f"({price.seconds:.1f} s): V(0) - V(z*), z* the best state of each window; T1 at "
              "(theta, z*) from the on-data certificate of the pairs (z*_i, 0)")
        print(text_table(rows, PRICE_COLUMNS))
        rec = mc.recommendation
        print(f"recommended burn-in: m = {rec.m} ({rec.reason})" if rec and rec.m is not None
              else f"no recommended burn-in: {rec.reason if rec else mc.bound_used}")
    if unsound:
        print(f"WARNING: the price exceeds its bound at m = {unsound} (a bug: please report)",
              file=sys.stderr)
    return OK if mc.certified and not unsound else NOT_CERTIFIED


# --------------------------------------------------------------------------- main
COMMANDS = {"reproduce": reproduce, "bound": bound_cmd, "certify": certify_cmd,
            "study": study_cli.run, "tune": tune_cli.run}


def _overflow(exc: BaseException) -> str | None:
    """``bound``/``certify`` run with float64 overflow as an error: a model or data set too
    large for float64 is an input error, not ``C = inf`` after a page of warnings."""
    if isinstance(exc, (FloatingPointError, OverflowError)):
        return (f"float64 overflow or invalid value while computing ({exc}): the model or the "
                "data are too large for float64; scale them")
    return None


def main(argv: Seq[str] | None = None) -> int:
    """Entry point of ``burnin``; returns the exit code (:mod:`~verification.presentation.exits`:
    0 done, 1 not certified or unsound, 2 input error, 3 internal error, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    strict = args.command in ("bound", "certify")

    def run() -> int:
        with warnings.catch_warnings(), np.errstate(**STRICT if strict else {}):
            if strict:
                warnings.simplefilter("error", RuntimeWarning)
            return COMMANDS[args.command](args)

    return guarded(args.command, run, _overflow if strict else None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
