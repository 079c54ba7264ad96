"""Wall time of each stage of the worked examples, and their T and C.

For the 21-cm radiometers (B's amplitude 0.15, 0.2 and 0.25 K; one ensemble
serves all three, since only the observation differs) and for the bump hunt:

1. simulate the training pairs,
2. train the ensemble,
3. nested sampling (nautilus) of A, B and AB on the observed data,
4. calibrate log R_obs against fresh concordant pairs,

and print the time of each stage with T and C next to the paper's numbers.
For the 21-cm cases log R_obs from the shipped PolyChord runs
(tests/data/polychord/21cm) is calibrated as well, side by side with ours.

Run from the repository root, at low priority on a shared machine:

    nice -n 10 python benchmarks/examples.py --n-simulations 20000 --members 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import accord
from accord import TrainingSettings, calibrate, evidence_from_chains, simulate, train
from accord.examples import bump_problem, cm21_problem

POLYCHORD = Path(__file__).resolve().parent.parent / "tests" / "data" / "polychord" / "21cm"
PAPER = {"21cm B=0.15": "T = 2.15", "21cm B=0.2": "T = 0.51", "21cm B=0.25": "T = 2.99",
         "bump": "C = 2.56 (+0.31/-0.29)"}


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def polychord(problem, amplitude):
    roots = [POLYCHORD / d / "test" for d in
             ("exp1", f"exp2_{amplitude:g}", f"joint_{amplitude:g}")]
    return evidence_from_chains(*roots, prior=problem, seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", nargs="+", default=["21cm", "bump"])
    parser.add_argument("--n-simulations", type=int, default=20_000)
    parser.add_argument("--n-calibration", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--method", default="posterior")
    parser.add_argument("--compress", type=int, default=None)
    parser.add_argument("--n-live", type=int, default=500)
    parser.add_argument("--n-eff", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    settings = TrainingSettings(method=args.method, n_members=args.members,
                                compress=args.compress)
    print(f"accord {accord.__version__}; {args.n_simulations} simulations, "
          f"{args.members} members ({args.method}), {args.n_calibration} calibration "
          f"pairs, nautilus n_live={args.n_live} n_eff={args.n_eff}", flush=True)

    timings, results = [], []
    for example in args.examples:
        base = cm21_problem(0.2) if example == "21cm" else bump_problem()
        sims, t_sim = timed(simulate, base, args.n_simulations, seed=args.seed)
        estimator, t_train = timed(train, base, seed=args.seed, settings=settings,
                                   simulations=sims)
        cases = ([(f"21cm B={b:g}", cm21_problem(b), b) for b in (0.15, 0.2, 0.25)]
                 if example == "21cm" else [("bump", base, None)])
        for label, problem, amplitude in cases:
            evidence, t_ns = timed(accord.run_nested_sampling, problem, n_live=args.n_live,
                                   seed=args.seed, run_kwargs={"n_eff": args.n_eff})
            sources = [("nautilus", evidence.logR, evidence.logR_err)]
            if amplitude is not None:
                chains = polychord(problem, amplitude)
                sources.append(("PolyChord", chains.logR, chains.logR_err))
            network = float(estimator.log_ratio(problem.x_A_obs, problem.x_B_obs))
            sources.append(("network", None, 0.0))
            t_cal = 0.0
            for source, logR, logR_err in sources:
                result, seconds = timed(calibrate, estimator, problem, log_r_obs=logR,
                                        log_r_obs_err=logR_err,
                                        n_calibration=args.n_calibration, seed=args.seed + 1)
                t_cal = max(t_cal, seconds)
                results.append((label, source, result.log_r_obs, result.log_r_obs_err,
                                result.T, result.T_err["total"], result.C,
                                result.C_err["total"], result.T_bound or result.C_bound))
            timings.append((label, t_sim, t_train, t_ns, t_cal))
            print(f"{label}: done (network log R_obs {network:.2f})", flush=True)

    print("\n| example | simulate [s] | train [s] | nested sampling [s] | calibrate [s] |")
    print("|---|---|---|---|---|")
    for label, *seconds in timings:
        print(f"| {label} | " + " | ".join(f"{s:.0f}" for s in seconds) + " |")
    print("\n(simulation and training are shared by the three 21-cm cases)")
    print("\n| example | log R_obs from | log R_obs | T | C | paper |")
    print("|---|---|---|---|---|---|")
    for label, source, logR, err, T, T_err, C, C_err, bound in results:
        note = f" ({bound} bound)" if bound else ""
        print(f"| {label} | {source} | {logR:.2f} +/- {err:.2f} | {T:.2f} +/- {T_err:.2f} "
              f"| {C:.2f} +/- {C_err:.2f}{note} | {PAPER[label]} |")


if __name__ == "__main__":
    main()
