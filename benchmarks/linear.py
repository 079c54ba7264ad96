"""Accuracy and cost of the whole calibration on the paper's linear-Gaussian set-up.

For each prior width Sigma = sigma I (sigma in 0.1, 1, 100) and each run seed:
simulate, train the default ensemble, calibrate the exact log R_obs of the
problem's observation, and compare T and C with the exact answer. The log R
error is measured on fresh concordant pairs against the exact log R.

    python benchmarks/linear.py                      # the default estimator
    python benchmarks/linear.py --method classifier  # the paper's classifier
    python benchmarks/linear.py --seeds 0 --sigmas 1 --n-simulations 20000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import accord
from accord.linear import LinearGaussian


def one_case(sigma: float, seed: int, args: argparse.Namespace) -> dict:
    model = LinearGaussian.paper(sigma=sigma, seed=args.problem_seed)
    problem = model.problem()
    log_r_obs = float(model.logR(model.x_A_obs, model.x_B_obs))
    exact = model.tension(log_r_obs)

    start = time.perf_counter()
    estimator = accord.train(problem, args.n_simulations, seed=seed, method=args.method,
                             n_members=args.members)
    result = accord.calibrate(estimator, problem, log_r_obs=log_r_obs,
                              n_calibration=args.n_calibration, seed=seed)
    wall = time.perf_counter() - start

    fresh = accord.simulate(problem, args.n_fresh, seed=10_000 + seed)
    error = estimator.log_ratio(fresh.x_A, fresh.x_B) - model.logR(fresh.x_A, fresh.x_B)
    return dict(sigma=sigma, seed=seed, log_r_obs=log_r_obs, T=result.T, C=result.C,
                T_exact=float(exact.T), C_exact=float(exact.C),
                T_err=result.T_err["total"], rmse=float(np.sqrt(np.mean(error**2))),
                bias=float(np.mean(error)), wall=wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.1, 1.0, 100.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--method", default="posterior")
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--n-simulations", type=int, default=100_000)
    parser.add_argument("--n-calibration", type=int, default=20_000)
    parser.add_argument("--n-fresh", type=int, default=10_000)
    parser.add_argument("--problem-seed", type=int, default=0)
    args = parser.parse_args()

    print(f"method={args.method} members={args.members} "
          f"n_simulations={args.n_simulations} n_calibration={args.n_calibration}")
    header = (f"{'sigma':>6} {'seed':>4} {'logR_obs':>8} {'T':>6} {'T_exact':>7} "
              f"{'|dT|':>6} {'C':>6} {'C_exact':>7} {'|dC|':>6} {'T_err':>6} "
              f"{'RMSE':>6} {'bias':>7} {'wall s':>7}")
    print(header)
    rows = []
    for sigma in args.sigmas:
        for seed in args.seeds:
            r = one_case(sigma, seed, args)
            rows.append(r)
            print(f"{sigma:>6g} {seed:>4d} {r['log_r_obs']:>8.3f} {r['T']:>6.3f} "
                  f"{r['T_exact']:>7.3f} {abs(r['T'] - r['T_exact']):>6.3f} {r['C']:>6.3f} "
                  f"{r['C_exact']:>7.3f} {abs(r['C'] - r['C_exact']):>6.3f} "
                  f"{r['T_err']:>6.3f} {r['rmse']:>6.3f} {r['bias']:>+7.3f} "
                  f"{r['wall']:>7.1f}", flush=True)

    print("\nmean over seeds")
    print(f"{'sigma':>6} {'mean|dT|':>9} {'mean|dC|':>9} {'RMSE':>6} {'wall s':>7}")
    for sigma in args.sigmas:
        group = [r for r in rows if r["sigma"] == sigma]
        dT = np.mean([abs(r["T"] - r["T_exact"]) for r in group])
        dC = np.mean([abs(r["C"] - r["C_exact"]) for r in group])
        print(f"{sigma:>6g} {dT:>9.3f} {dC:>9.3f} {np.mean([r['rmse'] for r in group]):>6.3f} "
              f"{np.mean([r['wall'] for r in group]):>7.1f}")


if __name__ == "__main__":
    main()
