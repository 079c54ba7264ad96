"""The ``accord`` command: parse options, call the library, report."""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._version import __version__
from .exceptions import AccordError
from .report import summary_text

if TYPE_CHECKING:
    from .config import BAOConfig

logger = logging.getLogger("accord")

EXAMPLES = ("bao", "linear", "21cm", "bump")
SAMPLED_EXAMPLES = ("bao", "linear")

_CONFIG_HELP = """\
configuration file (bao):
  --config FILE.toml selects the surveys, the model, the prior, the budget and
  where log R_obs comes from; every key is optional and unknown keys are
  errors. Options given on the command line override the file.

    seed = 0
    n_simulations = 50000
    n_calibration = 50000
    name = "DESI DR2 vs SDSS DR12+DR16"

    [data]                      # shipped names (accord.bao.list_bao()) or
    A = ["sdss_dr12_lrg", "sdss_dr16_lrg_z0.70"]   # {mean = "x_mean.txt",
    B = ["desi_dr2_lrg+elg_z0.93", "desi_dr2_elg_z1.32"]  # cov = "x_cov.txt"}

    [model]
    parameterisation = "Om_H0rd"    # or "physical" (omega_b, omega_c, h)
    [model.prior]                   # override any parameter's default prior
    Om = { type = "uniform", low = 0.05, high = 0.7 }   # also loguniform, normal

    [training]                      # fields of accord.TrainingSettings
    method = "posterior"            # or "classifier"
    members = 5

    [observed]                      # where log R_obs comes from:
    source = "sampler"              # nested sampling here (nautilus, dynesty)
    n_live = 500                    #   with sampler, n_live, n_repeats, seed
    # source = "numbers"            # logR, logR_err (or logZ_A, logZ_B,
    # logR = 4.6                    #   logZ_AB with their _err)
    # logR_err = 0.1
    # source = "chains"             # root_A, root_B, root_AB, n_samples
    # source = "network"            # the network's own estimate

  `accord run bao --print-config` prints the full default file.
"""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit with code 1, like all others."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        self.exit(1, f"accord: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="accord",
        description="Calibrated Bayesian tension between two experiments, in sigma.")
    parser.add_argument("--version", action="version", version=f"accord {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="simulate, train and calibrate a built-in example",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Simulate concordant data, train the ensemble, obtain the "
                    "observed log R, calibrate it and write result.json, "
                    "summary.txt, report.md and figures. Without arguments: SDSS "
                    "DR12 LRG (z = 0.38, 0.51) against DESI DR1 (z = 0.71, 0.93, "
                    "1.32) BAO in flat LCDM, log R_obs by nested sampling "
                    "(nautilus) on the simulations' own prior. The paper's other "
                    "demonstrations: 'linear' (exact answers), '21cm' (two "
                    "radiometers; docs/cm21.md) and 'bump' (two colliders; "
                    "docs/bump.md). A rerun with the same options reuses finished "
                    "stages.",
        epilog=_CONFIG_HELP)
    run.add_argument("example", nargs="?", default="bao", choices=EXAMPLES,
                     help="built-in problem (default: %(default)s)")
    run.add_argument("--config", type=Path, default=None,
                     help="TOML configuration of the bao run (see below)")
    run.add_argument("--print-config", action="store_true",
                     help="print the default bao configuration file and exit")
    run.add_argument("--seed", type=int, default=None,
                     help="seed of the run (default 0)")
    run.add_argument("--output", type=Path, default=None,
                     help="output directory (default: accord-output/EXAMPLE)")
    run.add_argument("--n-simulations", type=int, default=None,
                     help="training simulations (default 50000 for bao, 100000 "
                          "for linear, 20000 for 21cm and bump)")
    run.add_argument("--n-calibration", type=int, default=None,
                     help="fresh concordant pairs for calibration (default 50000; "
                          "20000 for 21cm and bump)")
    run.add_argument("--members", type=int, default=None,
                     help="networks in the ensemble (default 5; 2 for 21cm and "
                          "bump)")
    run.add_argument("--method", choices=("posterior", "classifier"), default=None,
                     help="estimator of log R (default posterior)")
    run.add_argument("--log-r-obs", type=float, default=None,
                     help="observed log R (default: the example's own; for bao, "
                          "nested sampling)")
    run.add_argument("--log-r-obs-err", type=float, default=None,
                     help="standard error of --log-r-obs")
    run.add_argument("--n-live", type=int, default=None,
                     help="live points of the nested sampler (default 500 for bao, "
                          "300 for 21cm, 200 for bump with --observed nautilus)")
    run.add_argument("--n-eff", type=int, default=None,
                     help="21cm, bump: nautilus stops at this effective sample size "
                          "(default 2000 for 21cm, 1000 for bump)")
    run.add_argument("--no-figures", action="store_true", help="write no figures")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("--executor", default="auto",
                     help="where simulations run: auto (default), serial, processes:N, "
                          "threads:N, dask:N, dask://HOST:PORT or mpi (see "
                          "docs/scaling.md); the numbers do not depend on it")
    linear = run.add_argument_group("linear example")
    linear.add_argument("--sigma", type=float, default=1.0,
                        help="prior covariance Sigma = sigma * I (default 1)")
    linear.add_argument("--problem-seed", type=int, default=0,
                        help="seed of the random design matrices (default 0)")
    cm21 = run.add_argument_group("21cm example")
    cm21.add_argument("--amplitude-B", choices=("0.15", "0.2", "0.25", "all"),
                      default=None,
                      help="B's true amplitude in K, which selects B's observed "
                           "spectrum; 'all' runs the three cases on one trained "
                           "ensemble (default all)")
    examples = run.add_argument_group("21cm and bump examples")
    examples.add_argument("--observed", choices=("polychord", "nautilus", "network"),
                          default=None,
                          help="log R_obs of the main result; the others are "
                               "reported beside it. 21cm: the published PolyChord "
                               "runs (default), nautilus here, or the network "
                               "('network' skips nautilus); bump: nautilus "
                               "(default) or the network")
    _add_evidence_parser(commands)
    return parser


def _add_evidence_parser(commands: Any) -> None:
    evidence = commands.add_parser(
        "evidence", help="log Z_A, log Z_B, log Z_AB and log R_obs",
        description="Compute the observed log R = log Z_AB - log Z_A - log Z_B with "
                    "its error: from nested-sampling chains, by running a nested "
                    "sampler on a built-in example, or from numbers.")
    sources = evidence.add_subparsers(dest="source", required=True)

    chains = sources.add_parser(
        "chains", help="read PolyChord, MultiNest, UltraNest or Cobaya runs",
        description="Read three nested-sampling runs (A, B and the joint AB) with "
                    "anesthetic and report log R as a distribution over simulated "
                    "prior volumes, with anesthetic's classical statistics.")
    chains.add_argument("root_A", help="file root of the run on A's data alone")
    chains.add_argument("root_B", help="file root of the run on B's data alone")
    chains.add_argument("root_AB", help="file root of the joint run")
    chains.add_argument("--n-samples", type=int, default=1000,
                        help="simulated prior volumes (default %(default)s)")
    chains.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    chains.add_argument("--json", type=Path, default=None, help="also write JSON here")

    sample = sources.add_parser(
        "sample", help="nested-sample a built-in example",
        description="Run nested sampling on A, B and AB of a built-in example, "
                    "through the same prior object as its simulations.")
    sample.add_argument("example", nargs="?", default="bao", choices=SAMPLED_EXAMPLES)
    sample.add_argument("--config", type=Path, default=None,
                        help="TOML configuration of the bao example (see accord run "
                             "--help)")
    sample.add_argument("--sampler", choices=("nautilus", "dynesty"), default="nautilus")
    sample.add_argument("--n-live", type=int, default=None, help="live points")
    sample.add_argument("--n-repeats", type=int, default=1,
                        help="independent runs with different seeds (default 1)")
    sample.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    sample.add_argument("--checkpoint", type=Path, default=None,
                        help="directory for checkpoints; a rerun resumes from them")
    sample.add_argument("--json", type=Path, default=None, help="also write JSON here")
    sample.add_argument("--quiet", action="store_true", help="no sampler output")

    numbers = sources.add_parser(
        "numbers", help="combine log-evidences you already have",
        description="Give log Z_A, log Z_B and log Z_AB with their errors, or "
                    "log R with its error.")
    for name in ("A", "B", "AB"):
        numbers.add_argument(f"--logZ-{name}", type=float, default=None)
        numbers.add_argument(f"--logZ-{name}-err", type=float, default=0.0)
    numbers.add_argument("--logR", type=float, default=None)
    numbers.add_argument("--logR-err", type=float, default=None)
    numbers.add_argument("--json", type=Path, default=None, help="also write JSON here")


def _evidence_problem(args: argparse.Namespace) -> Any:
    if args.example == "linear":
        from .linear import LinearGaussian

        if args.config is not None:
            raise ValueError("--config applies to the bao example only")
        return LinearGaussian.paper(sigma=1.0, seed=0).problem()
    from .bao.job import bao_problem_from_config
    from .config import BAOConfig, load_config

    config = load_config(args.config) if args.config is not None else BAOConfig()
    problem, _ = bao_problem_from_config(config)
    return problem


def _run_evidence(args: argparse.Namespace) -> int:
    import json

    from . import evidence

    if args.source == "chains":
        result = evidence.evidence_from_chains(args.root_A, args.root_B, args.root_AB,
                                               n_samples=args.n_samples, seed=args.seed)
    elif args.source == "numbers":
        result = evidence.evidence_from_numbers(
            logZ_A=args.logZ_A, logZ_B=args.logZ_B, logZ_AB=args.logZ_AB,
            logZ_A_err=args.logZ_A_err, logZ_B_err=args.logZ_B_err,
            logZ_AB_err=args.logZ_AB_err, logR=args.logR, logR_err=args.logR_err)
    else:
        result = evidence.run_nested_sampling(
            _evidence_problem(args), sampler=args.sampler, n_live=args.n_live,
            seed=args.seed, n_repeats=args.n_repeats, checkpoint_dir=args.checkpoint,
            progress=_progress(args))

    print(f"log R_obs from {result.source}")
    for label in ("A", "B", "AB"):
        value = getattr(result, f"logZ_{label}")
        if value is not None:
            print(f"  log Z_{label:<3s} {value:12.4f} +/- {getattr(result, f'logZ_{label}_err'):.4f}")
    print(f"  log R     {result.logR:12.4f} +/- {result.logR_err:.4f}")
    if result.logS is not None:
        print(f"  log S     {result.logS:12.4f} +/- {result.logS_err:.4f}   d_G = "
              f"{result.d_G:.2f}, p = {result.p_S:.3g}, {result.sigma_S:.2f} sigma "
              f"(suspiciousness)")
    if args.json is not None:
        args.json.write_text(json.dumps(result.to_dict(), indent=1))
        print(f"  written to {args.json}")
    return 0


def _progress(args: argparse.Namespace) -> bool:
    """Progress bars and sampler status lines only for a person at a terminal."""
    return not args.quiet and sys.stderr.isatty()


def _given(value: Any, default: Any) -> Any:
    """The option's value if it was given (0 included), else the default."""
    return default if value is None else value


def _run_linear(args: argparse.Namespace) -> int:
    from .estimator import TrainingSettings
    from .linear import LinearGaussian
    from .pipeline import run

    if not args.sigma > 0:
        raise ValueError(f"--sigma must be positive; got {args.sigma}")
    if args.config is not None or args.n_live is not None:
        raise ValueError("--config and --n-live apply to the bao example only")
    _only_for(args, "linear")
    if args.log_r_obs_err is not None and args.log_r_obs is None:
        raise ValueError("--log-r-obs-err needs --log-r-obs")
    model = LinearGaussian.paper(sigma=args.sigma, seed=args.problem_seed)
    problem = model.problem()
    exact_obs = float(model.logR(model.x_A_obs, model.x_B_obs))
    log_r_obs = exact_obs if args.log_r_obs is None else args.log_r_obs
    exact = model.tension(log_r_obs)
    seed = 0 if args.seed is None else args.seed
    exact_sample = model.concordance_sample(20_000, np.random.default_rng(seed))
    output = args.output or Path("accord-output") / f"linear_sigma{args.sigma:g}"

    result = run(
        problem, output, n_simulations=_given(args.n_simulations, 100_000),
        n_calibration=_given(args.n_calibration, 50_000), seed=seed,
        log_r_obs=log_r_obs, log_r_obs_err=_given(args.log_r_obs_err, 0.0),
        settings=TrainingSettings(method=_given(args.method, "posterior"),
                                  n_members=_given(args.members, 5)),
        progress=_progress(args), exact_log_r=exact_sample, figures=not args.no_figures,
        executor=args.executor,
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


def _bao_config(args: argparse.Namespace) -> BAOConfig:
    """The configuration file, with the command line's overrides."""
    from dataclasses import replace

    from .config import BAOConfig, ObservedSettings, load_config

    config = BAOConfig() if args.config is None else load_config(args.config)
    changes: dict[str, Any] = {}
    for option, key, minimum in [("seed", "seed", 0),
                                 ("n_simulations", "n_simulations", 10),
                                 ("n_calibration", "n_calibration", 100)]:
        value = getattr(args, option)
        if value is not None:
            if value < minimum:
                flag = "--" + option.replace("_", "-")
                raise ValueError(f"{flag} must be >= {minimum}; got {value}")
            changes[key] = value
    training = {}
    if args.members is not None:
        training["n_members"] = args.members
    if args.method is not None:
        training["method"] = args.method
    if training:
        changes["training"] = replace(config.training, **training)
    if args.log_r_obs is not None:
        err = 0.0 if args.log_r_obs_err is None else args.log_r_obs_err
        changes["observed"] = ObservedSettings(
            source="numbers", options={"logR": args.log_r_obs, "logR_err": err})
    elif args.log_r_obs_err is not None:
        raise ValueError("--log-r-obs-err needs --log-r-obs")
    if args.n_live is not None:
        if config.observed.source != "sampler" or args.log_r_obs is not None:
            raise ValueError("--n-live applies when log R_obs comes from the sampler")
        if args.n_live < 10:
            raise ValueError(f"--n-live must be >= 10; got {args.n_live}")
        sampling = replace(config.observed.sampling, n_live=args.n_live)
        changes["observed"] = replace(config.observed, sampling=sampling)
    return config.replace(**changes)


def _run_bao(args: argparse.Namespace) -> int:
    from .bao.job import run_bao
    from .config import DEFAULT_CONFIG

    if args.print_config:
        print(DEFAULT_CONFIG, end="")
        return 0
    if args.sigma != 1.0 or args.problem_seed != 0:
        raise ValueError("--sigma and --problem-seed apply to the linear example only")
    _only_for(args, "bao")
    config = _bao_config(args)
    output = args.output or Path("accord-output") / "bao"
    start = time.perf_counter()
    result = run_bao(config, output, progress=_progress(args), executor=args.executor,
                     figures=not args.no_figures)
    print(summary_text(result))
    print(f"  wall time     {time.perf_counter() - start:.1f} s")
    written = sorted(p.name for p in result.output.iterdir()
                     if p.suffix in (".json", ".md", ".txt", ".png"))
    print(f"  written to    {result.output}/ ({', '.join(written)})")
    return 0


def _only_for(args: argparse.Namespace, example: str) -> None:
    """Refuse the options of other examples, naming them."""
    options = {"--amplitude-B": ("21cm",), "--observed": ("21cm", "bump"),
               "--n-eff": ("21cm", "bump")}
    given = [flag for flag, owners in options.items() if example not in owners
             and getattr(args, flag[2:].replace("-", "_")) is not None]
    if given:
        owners = sorted({owner for flag in given for owner in options[flag]})
        verb = "applies" if len(given) == 1 else "apply"
        raise ValueError(f"{', '.join(given)} {verb} to the {' and '.join(owners)} "
                         f"example{'s' if len(owners) > 1 else ''} only, not to "
                         f"{example}")


def _check_minimum(args: argparse.Namespace, minimums: dict[str, int]) -> None:
    for option, minimum in minimums.items():
        value = getattr(args, option)
        if value is not None and value < minimum:
            flag = "--" + option.replace("_", "-")
            raise ValueError(f"{flag} must be >= {minimum}; got {value}")


def _run_example(args: argparse.Namespace) -> int:
    """``accord run 21cm`` and ``accord run bump``: the paper's demonstrations."""
    from dataclasses import replace

    from .estimator import TrainingSettings
    from .examples import job

    example = args.example
    if args.config is not None:
        raise ValueError(f"--config applies to the bao example only, not to {example}")
    if args.log_r_obs is not None or args.log_r_obs_err is not None:
        raise ValueError(f"--log-r-obs and --log-r-obs-err do not apply to {example}; "
                         f"its log R_obs comes from nested sampling"
                         + (" (choose the source with --observed)"
                            if example == "21cm" else ""))
    if args.sigma != 1.0 or args.problem_seed != 0:
        raise ValueError("--sigma and --problem-seed apply to the linear example only")
    _only_for(args, example)
    _check_minimum(args, {"seed": 0, "n_simulations": 10, "n_calibration": 100,
                          "members": 1, "n_live": 10, "n_eff": 1})

    defaults = job.CM21_SAMPLING if example == "21cm" else job.BUMP_SAMPLING
    sampling = replace(defaults, n_live=_given(args.n_live, defaults.n_live),
                       n_eff=_given(args.n_eff, defaults.n_eff))
    options: dict[str, Any] = {
        "settings": TrainingSettings(method=_given(args.method, "posterior"),
                                     n_members=_given(args.members, 2)),
        "sampling": sampling, "progress": _progress(args),
        "figures": not args.no_figures, "executor": args.executor}
    for option in ("seed", "n_simulations", "n_calibration"):
        if getattr(args, option) is not None:
            options[option] = getattr(args, option)
    output = args.output or Path("accord-output") / example

    start = time.perf_counter()
    if example == "21cm":
        result = job.run_cm21(_given(args.amplitude_B, "all"), output,
                              observed=_given(args.observed, "polychord"), **options)
    else:
        if args.observed == "polychord":
            raise ValueError("--observed polychord applies to the 21cm example only; "
                             "the bump hunt has no published chains (choose network "
                             "or nautilus)")
        result = job.run_bump(output, observed=_given(args.observed, "nautilus"),
                              **options)
    print(result.summary())
    print(f"  wall time {time.perf_counter() - start:.1f} s")
    written = sorted(p.name for p in result.output.iterdir()
                     if p.suffix in (".json", ".md", ".txt", ".png"))
    print(f"  written   {result.output}/ ({', '.join(written)})")
    return 0


def _one_line_warning(message: Warning | str, category: type[Warning], *args: Any,
                      **kwargs: Any) -> str:
    """Warnings at the terminal as one line, without the source line behind them."""
    return f"accord: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``accord`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="accord: %(message)s")
    warnings.simplefilter("default")
    warnings.formatwarning = _one_line_warning
    try:
        if args.command == "evidence":
            return _run_evidence(args)
        if args.command == "run":
            if args.print_config and args.example != "bao":
                raise ValueError("--print-config applies to the bao example only")
            return {"bao": _run_bao, "linear": _run_linear, "21cm": _run_example,
                    "bump": _run_example}[args.example](args)
    except (AccordError, ValueError, TypeError, ImportError, ConnectionError) as error:
        print(f"accord: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("accord: interrupted; finished stages are on disk and a rerun with "
              "the same options resumes from them", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
