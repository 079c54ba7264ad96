"""Cost of accord as the work grows: workers, simulations, data length, members.

Every case runs in a fresh Python process, which reports its own wall times
and peak resident memory, so that one case's memory does not hide
another's. Tables go to the terminal; plots and a JSON of every figure to
``--output``.

    python benchmarks/scale.py                     # everything (about an hour)
    python benchmarks/scale.py --parts workers ensemble
    python benchmarks/scale.py --parts simulations --max-simulations 100000

Parts:

- ``workers``: a simulator that sleeps 10 ms per simulation (5 ms in each
  experiment's simulator), serially, in a process pool of two and on a local
  Dask cluster of two workers (after a warm-up chunk per worker, as workers
  import accord on their first task); the speed-up and whether the numbers
  equal the serial run's.
- ``ensemble``: training time of the default ensemble of five against one
  member alone (linear problem, 100 000 simulations).
- ``simulations``: 10 000 to 1 000 000 simulations of 50 + 50 data points,
  written to a store and trained from it (streamed above 512 MiB): seconds
  to simulate, seconds per training epoch, peak memory.
- ``length``: 50 to 5 000 data points per experiment (the classifier with
  compression branches, and the posterior estimator): seconds per epoch and
  peak memory.
- ``members``: 1 to 10 members: seconds per epoch and peak memory.
- ``accuracy``: |T - T_exact| on the exact linear problem with 5 000 data
  points per experiment.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PARTS = ("workers", "ensemble", "simulations", "length", "members", "accuracy")


# --------------------------------------------------------------------------
# One case, run in its own process


class SleepySimulator:
    """A linear-Gaussian simulator that also sleeps 10 ms per simulation."""

    def __init__(self, simulate, seconds: float = 0.01) -> None:
        self.simulate = simulate
        self.seconds = seconds

    def __call__(self, theta, rng):
        time.sleep(self.seconds * len(theta))
        return self.simulate(theta, rng)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def case_workers(options: dict) -> dict:
    import accord
    from accord.executors import executor_from_spec
    from accord.linear import LinearGaussian

    model = LinearGaussian.paper(sigma=1.0, seed=0)
    base = model.problem()
    problem = accord.Problem(base.prior, SleepySimulator(base.simulate_A, 0.005),
                             SleepySimulator(base.simulate_B, 0.005),
                             params_A=base.params_A, params_B=base.params_B)
    n, chunk = options["n"], options["chunk_size"]
    out = {}
    reference = None
    for spec in ("serial", "processes:2", "dask:2"):
        with executor_from_spec(spec) as executor:
            # Workers import accord (and torch) on their first task: a start-up
            # cost paid once per worker, kept out of the timing.
            accord.simulate(problem, 2 * chunk, seed=0, chunk_size=chunk,
                            executor=executor)
            start = time.perf_counter()
            sims = accord.simulate(problem, n, seed=1, chunk_size=chunk, executor=executor)
            wall = time.perf_counter() - start
        if reference is None:
            reference = sims
        same = bool(np.array_equal(sims.x_A, reference.x_A)
                    and np.array_equal(sims.x_B, reference.x_B)
                    and np.array_equal(sims.theta, reference.theta))
        out[spec] = {"wall": wall, "same": same}
    return out


def case_ensemble(options: dict) -> dict:
    import accord
    from accord.linear import LinearGaussian

    problem = LinearGaussian.paper(sigma=1.0, seed=0).problem()
    sims = accord.simulate(problem, options["n"], seed=1)
    out = {}
    for n_members in (1, 5):
        start = time.perf_counter()
        estimator = accord.train(problem, seed=2, simulations=sims, n_members=n_members,
                                 max_epochs=options["epochs"], patience=10**6)
        out[n_members] = {"wall": time.perf_counter() - start,
                          "epochs": [len(h["A"]["train"]) for h in estimator.history]}
    return out


def case_train(options: dict) -> dict:
    """Simulate into a store (or memory), train for a few epochs; time and memory."""
    import accord
    from accord.linear import LinearGaussian

    model = LinearGaussian.paper(sigma=1.0, seed=0, n_data=options["length"])
    problem = model.problem()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        store = accord.simulate_to_store(problem, options["n"], Path(directory) / "sims",
                                         seed=1, chunk_size=options.get("chunk", 10_000))
        simulated = time.perf_counter() - start
        start = time.perf_counter()
        accord.train(problem, seed=2, simulations=store, n_members=options["members"],
                     method=options["method"], compress=options.get("compress"),
                     max_epochs=options["epochs"], patience=10**6)
        trained = time.perf_counter() - start
    return {"simulate": simulated, "train": trained,
            "per_epoch": trained / options["epochs"], "peak_mib": _peak_mib()}


def case_accuracy(options: dict) -> dict:
    import accord
    from accord.linear import LinearGaussian

    model = LinearGaussian.paper(sigma=1.0, seed=0, n_data=options["length"])
    problem = model.problem()
    log_r_obs = float(model.logR(model.x_A_obs, model.x_B_obs))
    exact = model.tension(log_r_obs)
    start = time.perf_counter()
    estimator = accord.train(problem, options["n"], seed=options["seed"],
                             n_members=options["members"])
    result = accord.calibrate(estimator, problem, log_r_obs=log_r_obs,
                              n_calibration=options["n_calibration"], seed=options["seed"])
    wall = time.perf_counter() - start
    fresh = accord.simulate(problem, 2000, seed=10_000)
    error = estimator.log_ratio(fresh.x_A, fresh.x_B) - model.logR(fresh.x_A, fresh.x_B)
    return {"T": result.T, "T_exact": float(exact.T), "C": result.C,
            "C_exact": float(exact.C), "T_err": result.T_err["total"],
            "rmse": float(np.sqrt(np.mean(error**2))), "wall": wall,
            "peak_mib": _peak_mib()}


CASES = {"workers": case_workers, "ensemble": case_ensemble, "train": case_train,
         "accuracy": case_accuracy}


def run_case(kind: str, **options) -> dict:
    """Run one case in a fresh interpreter and return its figures."""
    command = [sys.executable, __file__, "--case", json.dumps({"kind": kind, **options})]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"case {kind} {options} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# Parts: cases, tables, plots


def part_workers(args) -> dict:
    result = run_case("workers", n=args.sleepy_n, chunk_size=50)
    serial = result["serial"]["wall"]
    print(f"\nworkers: {args.sleepy_n} simulations of a simulator sleeping 10 ms each "
          f"(chunks of 50)")
    print(f"{'executor':>12} {'wall s':>7} {'speed-up':>8} {'same numbers':>12}")
    for spec, row in result.items():
        print(f"{spec:>12} {row['wall']:>7.2f} {serial / row['wall']:>8.2f} "
              f"{str(row['same']):>12}")
    return result


def part_ensemble(args) -> dict:
    result = run_case("ensemble", n=args.ensemble_n, epochs=args.epochs)
    one, five = result["1"]["wall"], result["5"]["wall"]
    print(f"\nensemble: {args.ensemble_n} simulations, {args.epochs} epochs each")
    print(f"one member {one:.1f} s, five members together {five:.1f} s: ratio "
          f"{five / one:.2f}")
    return result


def part_simulations(args) -> dict:
    sizes = [n for n in (10_000, 30_000, 100_000, 300_000, 1_000_000)
             if n <= args.max_simulations]
    print(f"\nsimulations: 50 + 50 data points, {args.members} members, "
          f"{args.epochs} epochs, from a store")
    print("(s/epoch: training wall time over the epochs, set-up included)")
    print(f"{'n':>9} {'simulate s':>10} {'s/epoch':>8} {'peak MiB':>9}")
    rows = {}
    for n in sizes:
        r = run_case("train", n=n, length=50, members=args.members, method="posterior",
                     epochs=args.epochs)
        rows[n] = r
        print(f"{n:>9d} {r['simulate']:>10.1f} {r['per_epoch']:>8.2f} "
              f"{r['peak_mib']:>9.0f}", flush=True)
    return rows


def part_length(args) -> dict:
    print(f"\nlength: {args.length_n} simulations, {args.members} members, "
          f"{args.epochs} epochs")
    print(f"{'points':>7} {'method':>22} {'s/epoch':>8} {'peak MiB':>9}")
    rows = {}
    for length in (50, 500, 5000):
        for method, compress in (("classifier", 16), ("posterior", None)):
            r = run_case("train", n=args.length_n, length=length, members=args.members,
                         method=method, compress=compress, epochs=args.epochs,
                         chunk=2000)
            label = f"{method}" + (f" compress={compress}" if compress else "")
            rows[f"{length} {label}"] = r
            print(f"{length:>7d} {label:>22} {r['per_epoch']:>8.2f} "
                  f"{r['peak_mib']:>9.0f}", flush=True)
    return rows


def part_members(args) -> dict:
    print(f"\nmembers: {args.ensemble_n} simulations, {args.epochs} epochs")
    print(f"{'members':>7} {'s/epoch':>8} {'peak MiB':>9}")
    rows = {}
    for n_members in (1, 2, 5, 10):
        r = run_case("train", n=args.ensemble_n, length=50, members=n_members,
                     method="posterior", epochs=args.epochs)
        rows[n_members] = r
        print(f"{n_members:>7d} {r['per_epoch']:>8.2f} {r['peak_mib']:>9.0f}", flush=True)
    return rows


def part_accuracy(args) -> dict:
    r = run_case("accuracy", n=args.accuracy_n, length=5000, members=args.members,
                 n_calibration=args.n_calibration, seed=0)
    print(f"\naccuracy: 5000 + 5000 data points, {args.accuracy_n} simulations, "
          f"{args.members} members")
    print(f"T = {r['T']:.3f} +/- {r['T_err']:.3f}, exact {r['T_exact']:.3f}, "
          f"|T - T_exact| = {abs(r['T'] - r['T_exact']):.3f}; C = {r['C']:.3f} "
          f"(exact {r['C_exact']:.3f}); log R RMSE {r['rmse']:.3f}; {r['wall']:.0f} s, "
          f"peak {r['peak_mib']:.0f} MiB")
    return r


def plot(results: dict, directory: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    if "simulations" in results:
        rows = results["simulations"]
        panels.append(("simulations", [int(n) for n in rows], rows))
    if "members" in results:
        rows = results["members"]
        panels.append(("ensemble members", [int(n) for n in rows], rows))
    if not panels:
        return
    fig, axes = plt.subplots(2, len(panels), figsize=(4.5 * len(panels), 6),
                             squeeze=False)
    for column, (label, x, rows) in enumerate(panels):
        axes[0, column].loglog(x, [r["per_epoch"] for r in rows.values()], "o-")
        axes[0, column].set_ylabel("seconds per epoch")
        axes[1, column].semilogx(x, [r["peak_mib"] for r in rows.values()], "o-")
        axes[1, column].set_ylabel("peak memory [MiB]")
        axes[1, column].set_xlabel(label)
    fig.tight_layout()
    fig.savefig(directory / "scale.png", dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--output", type=Path, default=Path("scale-results"))
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--sleepy-n", type=int, default=1000)
    parser.add_argument("--ensemble-n", type=int, default=100_000)
    parser.add_argument("--length-n", type=int, default=20_000)
    parser.add_argument("--accuracy-n", type=int, default=20_000)
    parser.add_argument("--n-calibration", type=int, default=20_000)
    parser.add_argument("--max-simulations", type=int, default=1_000_000)
    args = parser.parse_args()

    if args.case:
        options = json.loads(args.case)
        print(json.dumps(CASES[options.pop("kind")](options)))
        return

    args.output.mkdir(parents=True, exist_ok=True)
    results = {}
    for part in args.parts:
        results[part] = globals()[f"part_{part}"](args)
        (args.output / "scale.json").write_text(json.dumps(results, indent=1))
    plot(results, args.output)
    print(f"\nfigures and numbers in {args.output}/")


if __name__ == "__main__":
    main()
