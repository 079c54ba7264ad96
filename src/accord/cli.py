"""The ``accord`` command: parse options, call the library, report."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from ._version import __version__
from .exceptions import AccordError

logger = logging.getLogger("accord")

EXAMPLES = ("linear",)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="accord",
        description="Calibrated Bayesian tension between two experiments, in sigma.")
    parser.add_argument("--version", action="version", version=f"accord {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="simulate, train and calibrate a built-in example",
        description="Simulate concordant data, train the ensemble, calibrate the "
                    "observed log R and write result.json, summary.txt and figures.")
    run.add_argument("example", nargs="?", default="linear", choices=EXAMPLES,
                     help="built-in problem (default: %(default)s)")
    run.add_argument("--seed", type=int, default=0, help="seed of the run (default 0)")
    run.add_argument("--output", type=Path, default=None,
                     help="output directory (default: accord-output/EXAMPLE)")
    run.add_argument("--n-simulations", type=int, default=100_000,
                     help="training simulations (default %(default)s)")
    run.add_argument("--n-calibration", type=int, default=20_000,
                     help="fresh concordant pairs for calibration (default %(default)s)")
    run.add_argument("--members", type=int, default=5,
                     help="networks in the ensemble (default %(default)s)")
    run.add_argument("--method", choices=("posterior", "classifier"), default="posterior",
                     help="estimator of log R (default %(default)s)")
    run.add_argument("--log-r-obs", type=float, default=None,
                     help="observed log R (default: the example's own)")
    run.add_argument("--log-r-obs-err", type=float, default=0.0,
                     help="standard error of --log-r-obs")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    linear = run.add_argument_group("linear example")
    linear.add_argument("--sigma", type=float, default=1.0,
                        help="prior covariance Sigma = sigma * I (default 1)")
    linear.add_argument("--problem-seed", type=int, default=0,
                        help="seed of the random design matrices (default 0)")
    return parser


def _run_linear(args: argparse.Namespace) -> int:
    from .estimator import TrainingSettings
    from .linear import LinearGaussian
    from .pipeline import run

    if not args.sigma > 0:
        raise ValueError(f"--sigma must be positive; got {args.sigma}")
    model = LinearGaussian.paper(sigma=args.sigma, seed=args.problem_seed)
    problem = model.problem()
    exact_obs = float(model.logR(model.x_A_obs, model.x_B_obs))
    log_r_obs = exact_obs if args.log_r_obs is None else args.log_r_obs
    exact = model.tension(log_r_obs)
    exact_sample = model.concordance_sample(20_000, np.random.default_rng(args.seed))
    output = args.output or Path("accord-output") / f"linear_sigma{args.sigma:g}"

    result = run(
        problem, output, n_simulations=args.n_simulations,
        n_calibration=args.n_calibration, seed=args.seed,
        log_r_obs=log_r_obs, log_r_obs_err=args.log_r_obs_err,
        settings=TrainingSettings(method=args.method, n_members=args.members),
        progress=not args.quiet, exact_log_r=exact_sample,
        extra={"exact": {"logR_obs": exact_obs, "P": float(exact.P),
                         "T": float(exact.T), "C": float(exact.C)},
               "sigma": args.sigma, "problem_seed": args.problem_seed})
    cal = result.calibration
    print(cal.summary())
    print(f"\n  exact answer  T = {float(exact.T):.3f}, C = {float(exact.C):.3f}   "
          f"(network - exact: {cal.T - float(exact.T):+.3f}, "
          f"{cal.C - float(exact.C):+.3f})")
    print("  time (s)      " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items()))
    print(f"  written to    {result.output}/ (result.json, summary.txt, "
          f"concordance.png, cdf.png, training.png, estimator/)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``accord`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="accord: %(message)s")
    warnings.simplefilter("default")
    try:
        if args.command == "run":
            return {"linear": _run_linear}[args.example](args)
    except (AccordError, ValueError, TypeError) as error:
        print(f"accord: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("accord: interrupted; finished stages are on disk and a rerun with "
              "the same options resumes from them", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
