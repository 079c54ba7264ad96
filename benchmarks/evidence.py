"""Accuracy and cost of accord's nested sampling against exact evidences.

For the linear-Gaussian pair of arXiv:2407.15478 (3 shared parameters,
50 data points per experiment, noise 0.1, prior N(mu, I)), with and without
2 nuisance parameters per experiment, run nautilus and dynesty over 5 seeds
and print, per sampler and case, the wall time of the three runs and
|logZ - exact| / reported error for A, B, AB and log R.

    python benchmarks/evidence.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

from accord import Problem
from accord.evidence import run_nested_sampling
from accord.priors import Independent, Normal

SETTINGS = {
    "nautilus": dict(n_live=300, sampler_kwargs={"n_networks": 1},
                     run_kwargs={"n_eff": 1500}),
    "dynesty": dict(n_live=200, run_kwargs={"dlogz": 0.1}),
}


def linear_pair(n_nuisance: int, seed: int = 0, n_data: int = 50, noise: float = 0.1):
    """A linear-Gaussian problem and its exact log-evidences."""
    rng = np.random.default_rng(seed)
    shared = ["t0", "t1", "t2"]
    params_A = shared + [f"a{i}" for i in range(n_nuisance)]
    params_B = shared + [f"b{i}" for i in range(n_nuisance)]
    names = shared + params_A[3:] + params_B[3:]
    mu = rng.uniform(0, 1, len(names))

    M, m = {}, {}
    for label, params in [("A", params_A), ("B", params_B)]:
        M[label] = np.zeros((n_data, len(names)))
        columns = [names.index(p) for p in params]
        M[label][:, columns] = rng.uniform(0, 1, (n_data, len(params)))
        m[label] = rng.uniform(0, 1, n_data)
    theta_true = mu + 0.1 * rng.standard_normal(len(names))
    x = {k: M[k] @ theta_true + m[k] + noise * rng.standard_normal(n_data) for k in M}

    def log_likelihood(label):
        return lambda theta, x_obs: stats.norm.logpdf(
            x_obs - theta @ M[label].T - m[label], scale=noise).sum(axis=-1)

    def simulator(label):
        def simulate(theta, g):
            noise_draw = noise * g.standard_normal((len(theta), n_data))
            return theta @ M[label].T + m[label] + noise_draw

        return simulate

    def logZ(labels):
        stacked = np.vstack([M[k] for k in labels])
        offset = np.concatenate([m[k] for k in labels])
        data = np.concatenate([x[k] for k in labels])
        cov = stacked @ stacked.T + noise**2 * np.eye(len(data))
        return float(stats.multivariate_normal.logpdf(data, stacked @ mu + offset, cov))

    prior = Independent(*[Normal(mean, 1.0, name=n) for n, mean in zip(names, mu)])
    problem = Problem(prior, simulator("A"), simulator("B"), params_A=params_A,
                      params_B=params_B, x_A_obs=x["A"], x_B_obs=x["B"],
                      log_likelihood_A=log_likelihood("A"),
                      log_likelihood_B=log_likelihood("B"), name="linear")
    exact = {"A": logZ("A"), "B": logZ("B"), "AB": logZ("AB")}
    exact["R"] = exact["AB"] - exact["A"] - exact["B"]
    return problem, exact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()

    header = (f"{'sampler':9} {'nuisance':>8} {'wall s':>7} "
              + " ".join(f"{'|dZ_' + k + '|/err':>12}" for k in ["A", "B", "AB"])
              + f" {'|dlogR|/err':>12} {'logR err':>9}")
    print(header)
    print("-" * len(header))
    for n_nuisance in [0, 2]:
        problem, exact = linear_pair(n_nuisance)
        for sampler, settings in SETTINGS.items():
            walls, pulls, errors = [], [], []
            for seed in range(args.seeds):
                start = time.perf_counter()
                result = run_nested_sampling(problem, sampler=sampler, seed=seed,
                                             **settings)
                walls.append(time.perf_counter() - start)
                pull = [abs(getattr(result, f"logZ_{k}") - exact[k])
                        / getattr(result, f"logZ_{k}_err") for k in ["A", "B", "AB"]]
                pull.append(abs(result.logR - exact["R"]) / result.logR_err)
                pulls.append(pull)
                errors.append(result.logR_err)
            mean = np.mean(pulls, axis=0)
            print(f"{sampler:9} {n_nuisance:>8d} {np.mean(walls):7.1f} "
                  + " ".join(f"{v:12.2f}" for v in mean)
                  + f" {np.mean(errors):9.3f}", flush=True)
    print(f"\nmeans over {args.seeds} seeds; exact log R = {exact['R']:.3f} "
          f"(2 nuisance case). A pull |d|/err near 0.8 is what a correct error "
          f"gives (the mean of a half-normal).")


if __name__ == "__main__":
    main()
