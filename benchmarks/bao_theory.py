"""Time the flat LCDM BAO theory: 100 000 parameter draws at 10 redshifts.

Run with ``python benchmarks/bao_theory.py``; prints the best of a few
repeats for the distances alone and for a full simulated data vector.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from accord.bao import default_bao_problem, distances_over_rd


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--draws", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    problem = default_bao_problem()
    theta = problem.prior.sample(args.draws, rng)
    z = np.array([0.295, 0.38, 0.51, 0.706, 0.93, 1.317, 1.491, 1.8, 2.0, 2.33])

    t_dist = best_time(lambda: distances_over_rd(theta, z), args.repeats)
    t_sim = best_time(lambda: problem.simulate_pairs(theta, rng), args.repeats)
    t_like = best_time(
        lambda: problem.log_likelihood_A(theta, problem.x_A_obs), args.repeats
    )
    print(f"{args.draws} draws x {z.size} redshifts, D_M, D_H, D_V: {t_dist:.3f} s")
    print(f"{args.draws} simulated pairs of the default problem (4 + 6 values): "
          f"{t_sim:.3f} s")
    print(f"{args.draws} log-likelihoods of experiment A: {t_like:.3f} s")


if __name__ == "__main__":
    main()
