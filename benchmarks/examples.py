"""Wall time of each stage of the 21-cm and bump-hunt jobs, and their T and C.

Runs ``accord run 21cm`` (the three amplitudes of B, which share one trained
ensemble) and ``accord run bump`` through the library functions behind them,
:func:`accord.examples.job.run_cm21` and :func:`accord.examples.job.run_bump`,
at their defaults unless told otherwise, in a fresh folder so that no stage
is reused. It prints the wall time of each stage (simulation, training,
nested sampling, calibration) of each example, then every source of
log R_obs with its T and C beside the paper's numbers.

Both run nautilus as their jobs do by default; ``--bump-network`` skips it
for the bump hunt.

Run from the repository root, at low priority on a shared machine:

    nice -n 10 python benchmarks/examples.py
    nice -n 10 python benchmarks/examples.py --examples 21cm --n-simulations 50000
    nice -n 10 python benchmarks/examples.py --examples bump --bump-network
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import accord
from accord import TrainingSettings
from accord.examples import job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", nargs="+", choices=("21cm", "bump"),
                        default=["21cm", "bump"])
    parser.add_argument("--n-simulations", type=int, default=None)
    parser.add_argument("--n-calibration", type=int, default=None)
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--method", default="posterior")
    parser.add_argument("--compress", type=int, default=None,
                        help="classifier: features of each experiment's branch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bump-network", action="store_true",
                        help="bump: calibrate the network's log R only, without "
                             "nested sampling")
    parser.add_argument("--output", type=Path, default=None,
                        help="keep the outputs here (default: a temporary folder)")
    args = parser.parse_args()

    options = {"seed": args.seed,
               "settings": TrainingSettings(method=args.method, n_members=args.members,
                                            compress=args.compress)}
    for name in ("n_simulations", "n_calibration"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    print(f"accord {accord.__version__}; {args.members} members ({args.method}), "
          f"other settings at the jobs' defaults unless given", flush=True)

    results, walls = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        root = args.output or Path(scratch)
        for example in args.examples:
            start = time.perf_counter()
            with warnings.catch_warnings():
                # The jobs' disagreement and bound warnings are in their tables.
                warnings.simplefilter("ignore", accord.AccordWarning)
                if example == "21cm":
                    result = job.run_cm21("all", root / "21cm", **options)
                else:
                    observed = "network" if args.bump_network else "nautilus"
                    result = job.run_bump(root / "bump", observed=observed, **options)
            walls[example] = time.perf_counter() - start
            results.append(result)
            print(f"{example}: done in {walls[example]:.0f} s", flush=True)

    print("\n| example | simulate [s] | train [s] | nested sampling [s] | "
          "calibrate [s] | total wall [s] |")
    print("|---|---|---|---|---|---|")
    for result in results:
        t = result.timings
        print(f"| {result.example} | {t['simulate']:.0f} | {t['train']:.0f} | "
              f"{t['nested_sampling']:.0f} | {t['calibrate']:.0f} | "
              f"{walls[result.example]:.0f} |")
    print("\n(21cm: simulation and training are shared by the three cases; nested "
          "sampling is nautilus on each case plus reading the PolyChord runs; "
          "calibration includes every source's.)")
    for result in results:
        print()
        print(result.summary())


if __name__ == "__main__":
    main()
