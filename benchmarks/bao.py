"""The network's log R against nested sampling on simulated concordant BAO pairs.

For the default BAO problem (SDSS DR12 LRG against DESI DR1, flat LCDM in
Om and H0 r_d), train the ensemble of ``accord run`` once, then draw
``--n-pairs`` concordant data pairs from the prior (theta from the prior,
both surveys simulated from the same theta) and compute log R for each pair
twice: with the ensemble (one forward pass) and with nautilus on the same
prior and likelihoods. Prints the bias and root-mean-square of the
difference beside the nested-sampling errors and the ensemble spread, and
writes every pair's numbers to ``--output`` as JSON.

    python benchmarks/bao.py [--n-pairs 50] [--n-live 300] [--seed 0]

Slow (about 10 s of nested sampling per pair on two cores): run it in the
background, e.g. ``nohup python benchmarks/bao.py > bao_benchmark.log &``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import accord
from accord import Problem
from accord.config import BAOConfig
from accord.evidence import run_nested_sampling
from accord.pipeline import bao_problem_from_config


def pair_problem(problem: Problem, x_A: np.ndarray, x_B: np.ndarray, name: str) -> Problem:
    """The same model and prior, with simulated data in place of the observation."""
    return Problem(problem.prior, problem.simulate_A, problem.simulate_B,
                   x_A_obs=x_A, x_B_obs=x_B, log_likelihood_A=problem.log_likelihood_A,
                   log_likelihood_B=problem.log_likelihood_B, name=name, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pairs", type=int, default=50)
    parser.add_argument("--n-simulations", type=int, default=None,
                        help="training simulations (default: that of accord run)")
    parser.add_argument("--n-live", type=int, default=300)
    parser.add_argument("--n-eff", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("bao_benchmark.json"))
    args = parser.parse_args()

    config = BAOConfig(seed=args.seed)
    if args.n_simulations is not None:
        config = config.replace(n_simulations=args.n_simulations)
    problem, _ = bao_problem_from_config(config)

    start = time.perf_counter()
    estimator = accord.train(problem, config.n_simulations, seed=config.seed,
                             settings=config.training)
    print(f"trained {estimator.n_members} members on {config.n_simulations} "
          f"simulations in {time.perf_counter() - start:.0f} s", flush=True)

    # Pairs from a stream disjoint from the training seed.
    pairs = accord.simulate(problem, args.n_pairs, seed=np.random.SeedSequence(
        args.seed, spawn_key=(99,)))
    members = estimator.log_ratio(pairs.x_A, pairs.x_B, members=True)
    rows = []
    for i in range(args.n_pairs):
        start = time.perf_counter()
        evidence = run_nested_sampling(
            pair_problem(problem, pairs.x_A[i], pairs.x_B[i], f"pair{i}"),
            n_live=args.n_live, seed=args.seed + i, run_kwargs={"n_eff": args.n_eff},
            sampler_kwargs={"n_networks": 1})
        rows.append({"theta": pairs.theta[i].tolist(), "logR_ns": evidence.logR,
                     "logR_ns_err": evidence.logR_err,
                     "log_r": float(members[:, i].mean()),
                     "log_r_spread": float(members[:, i].std(ddof=1)),
                     "wall_s": time.perf_counter() - start})
        print(f"pair {i:3d}: nested sampling {evidence.logR:7.3f} +/- "
              f"{evidence.logR_err:.3f}, network {rows[-1]['log_r']:7.3f} +/- "
              f"{rows[-1]['log_r_spread']:.3f}  ({rows[-1]['wall_s']:.1f} s)", flush=True)
    args.output.write_text(json.dumps({"n_simulations": config.n_simulations,
                                       "n_live": args.n_live, "n_eff": args.n_eff,
                                       "seed": args.seed, "pairs": rows}, indent=1))

    ns = np.array([r["logR_ns"] for r in rows])
    ns_err = np.array([r["logR_ns_err"] for r in rows])
    net = np.array([r["log_r"] for r in rows])
    spread = np.array([r["log_r_spread"] for r in rows])
    diff = net - ns
    combined = np.hypot(ns_err, spread)
    print()
    print(f"{args.n_pairs} concordant pairs, {estimator.n_members} members, "
          f"{config.n_simulations} simulations; nautilus n_live {args.n_live}, "
          f"n_eff {args.n_eff}")
    print(f"  {'quantity':44s}{'value':>10s}")
    for label, value in [
        ("log R by nested sampling, mean", ns.mean()),
        ("log R by nested sampling, std over pairs", ns.std(ddof=1)),
        ("bias: mean(network - nested sampling)", diff.mean()),
        ("standard error of the bias", diff.std(ddof=1) / np.sqrt(diff.size)),
        ("RMS(network - nested sampling)", np.sqrt(np.mean(diff**2))),
        ("nested-sampling error, RMS of quoted", np.sqrt(np.mean(ns_err**2))),
        ("ensemble spread, RMS", np.sqrt(np.mean(spread**2))),
        ("|difference| / combined error, median", np.median(np.abs(diff) / combined)),
        ("fraction with |difference| < 0.5", np.mean(np.abs(diff) < 0.5)),
        ("largest |difference|", np.abs(diff).max()),
    ]:
        print(f"  {label:44s}{value:10.3f}")


if __name__ == "__main__":
    main()
