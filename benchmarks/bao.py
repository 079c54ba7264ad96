"""The network's log R against nested sampling on simulated concordant BAO pairs.

For the default BAO problem (SDSS DR12 LRG against DESI DR1, flat LCDM in
Om and H0 r_d), draw ``--n-pairs`` concordant data pairs from the prior
(theta from the prior, both surveys simulated from the same theta) and
compute log R for each pair with nautilus on the same prior and likelihoods.
Then train the ensemble of ``accord run`` once and compare its log R for
every pair. Prints the bias and root-mean-square of the difference beside
the nested-sampling errors and the ensemble spread, and writes every pair's
numbers to ``--output`` as JSON.

The nested-sampling results are cached pair by pair in ``--cache``, written
after each pair: an interrupted run keeps what it did, a larger
``--n-pairs`` only adds pairs, and estimator variants (``--n-components``,
``--max-epochs``, ...) are compared on the same pairs without sampling again.
Pair ``i`` is drawn from its own seed, so it does not depend on ``--n-pairs``.

    python benchmarks/bao.py [--n-pairs 30] [--cache bao_pairs.json] [--seed 0]
    python benchmarks/bao.py --sampling-only      # fill the cache, no training

Slow (about 15 s of nested sampling per pair on two cores): run it in the
background, e.g. ``nice -n 10 nohup python benchmarks/bao.py > bao.log &``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

import accord
from accord import Problem
from accord.config import BAOConfig
from accord.evidence import run_nested_sampling
from accord.bao import bao_problem_from_config


def pair_problem(problem: Problem, x_A: np.ndarray, x_B: np.ndarray, name: str) -> Problem:
    """The same model and prior, with simulated data in place of the observation."""
    return Problem(problem.prior, problem.simulate_A, problem.simulate_B,
                   x_A_obs=x_A, x_B_obs=x_B, log_likelihood_A=problem.log_likelihood_A,
                   log_likelihood_B=problem.log_likelihood_B, name=name, check=False)


def draw_pair(problem: Problem, seed: int, index: int) -> accord.Simulations:
    """Pair ``index``, from a seed stream disjoint from the training seed."""
    return accord.simulate(problem, 1, seed=np.random.SeedSequence(seed, spawn_key=(99, index)),
                           executor="serial")


def read_cache(path: Path, settings: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Cached pairs by index; refuses a cache made with other sampling settings."""
    if not path.is_file():
        return {}
    stored = json.loads(path.read_text())
    if stored.get("settings") != settings:
        raise SystemExit(f"{path} was made with {stored.get('settings')}, not {settings}; "
                         f"use another --cache")
    return {int(row["index"]): row for row in stored["pairs"]}


def write_cache(path: Path, settings: dict[str, Any], rows: dict[int, dict[str, Any]]) -> None:
    """Atomic replace, so that an interruption never leaves a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"settings": settings,
                               "pairs": [rows[i] for i in sorted(rows)]}, indent=1))
    os.replace(tmp, path)


def sample_pairs(problem: Problem, args: argparse.Namespace,
                 settings: dict[str, Any]) -> list[dict[str, Any]]:
    rows = read_cache(args.cache, settings)
    for i in range(args.n_pairs):
        if i in rows:
            continue
        pair = draw_pair(problem, args.seed, i)
        start = time.perf_counter()
        evidence = run_nested_sampling(
            pair_problem(problem, pair.x_A[0], pair.x_B[0], f"pair{i}"),
            n_live=args.n_live, seed=args.seed + i, run_kwargs={"n_eff": args.n_eff},
            sampler_kwargs={"n_networks": 1})
        rows[i] = {"index": i,
                   "theta": dict(zip(problem.names, pair.theta[0].tolist())),
                   "x_A": pair.x_A[0].tolist(), "x_B": pair.x_B[0].tolist(),
                   "logR_ns": evidence.logR, "logR_ns_err": evidence.logR_err,
                   "wall_s": time.perf_counter() - start}
        write_cache(args.cache, settings, rows)
        print(f"pair {i:3d}: nested sampling {evidence.logR:7.3f} +/- "
              f"{evidence.logR_err:.3f}  ({rows[i]['wall_s']:.1f} s)", flush=True)
    return [rows[i] for i in range(args.n_pairs)]


def summary(rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
    ns = np.array([r["logR_ns"] for r in rows])
    ns_err = np.array([r["logR_ns_err"] for r in rows])
    net = np.array([r["log_r"] for r in rows])
    spread = np.array([r["log_r_spread"] for r in rows])
    diff = net - ns
    combined = np.hypot(ns_err, spread)
    return [
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
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pairs", type=int, default=30)
    parser.add_argument("--cache", type=Path, default=Path("bao_pairs.json"),
                        help="nested-sampling results per pair, read and extended")
    parser.add_argument("--sampling-only", action="store_true",
                        help="fill the cache and stop, without training")
    parser.add_argument("--n-simulations", type=int, default=None,
                        help="training simulations (default: that of accord run)")
    parser.add_argument("--n-live", type=int, default=300)
    parser.add_argument("--n-eff", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("bao_benchmark.json"))
    parser.add_argument("--estimator", type=Path, default=None,
                        help="load the ensemble from this directory if it exists; "
                             "otherwise train it and save it there")
    parser.add_argument("--training", type=json.loads, default={},
                        help='TrainingSettings overrides as JSON, e.g. \'{"n_components": 3}\'')
    args = parser.parse_args()

    config = BAOConfig(seed=args.seed)
    if args.n_simulations is not None:
        config = config.replace(n_simulations=args.n_simulations)
    if args.training:
        config = config.replace(training=dataclasses.replace(config.training,
                                                             **args.training))
    problem, _ = bao_problem_from_config(config)

    sampling = {"seed": args.seed, "n_live": args.n_live, "n_eff": args.n_eff,
                "data_A": list(config.data_A), "data_B": list(config.data_B),
                "parameterisation": config.parameterisation, "prior": config.prior}
    rows = sample_pairs(problem, args, sampling)
    if args.sampling_only:
        return

    start = time.perf_counter()
    if args.estimator is not None and args.estimator.is_dir():
        estimator = accord.load(args.estimator)
        config = config.replace(training=estimator.settings,
                                n_simulations=estimator.n_simulations)
    else:
        estimator = accord.train(problem, config.n_simulations, seed=config.seed,
                                 settings=config.training)
        if args.estimator is not None:
            estimator.save(args.estimator)
    train_s = time.perf_counter() - start
    epochs = [len(h[k]["train"]) for h in estimator.history for k in h]
    print(f"trained {estimator.n_members} members on {config.n_simulations} "
          f"simulations in {train_s:.0f} s; epochs per network {epochs} "
          f"(cap {config.training.max_epochs})", flush=True)

    x_A = np.array([r["x_A"] for r in rows])
    x_B = np.array([r["x_B"] for r in rows])
    members = estimator.log_ratio(x_A, x_B, members=True)
    for i, row in enumerate(rows):
        row["log_r"] = float(members[:, i].mean())
        row["log_r_spread"] = float(members[:, i].std(ddof=1))
        theta = ", ".join(f"{k} {v:.4g}" for k, v in row["theta"].items())
        print(f"pair {i:3d}: nested sampling {row['logR_ns']:7.3f} +/- "
              f"{row['logR_ns_err']:.3f}, network {row['log_r']:7.3f} +/- "
              f"{row['log_r_spread']:.3f}  ({theta})")

    table = summary(rows)
    args.output.write_text(json.dumps({
        "n_simulations": config.n_simulations, "training": config.training.__dict__,
        "train_s": train_s, "epochs": epochs, "sampling": sampling,
        "summary": dict(table), "pairs": rows}, indent=1))
    print()
    print(f"{len(rows)} concordant pairs, {estimator.n_members} members, "
          f"{config.n_simulations} simulations; nautilus n_live {args.n_live}, "
          f"n_eff {args.n_eff}")
    print(f"  {'quantity':44s}{'value':>10s}")
    for label, value in table:
        print(f"  {label:44s}{value:10.3f}")


if __name__ == "__main__":
    main()
