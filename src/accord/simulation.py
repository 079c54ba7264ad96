"""Seeded, chunked simulation of concordant data pairs."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import pickle
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

from ._validation import check_seed
from .exceptions import AccordWarning, NonFiniteSimulationError
from .problem import Problem, check_simulation

__all__ = ["Simulations", "simulate", "DEFAULT_CHUNK_SIZE"]

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 5000


@dataclass
class Simulations:
    """Concordant simulations: ``x_A`` and ``x_B`` drawn from the same ``theta``.

    Attributes
    ----------
    theta : array (n, P)
    x_A : array (n, L_A)
    x_B : array (n, L_B)
    n_dropped : int
        Rows removed because a simulator returned non-finite values (only when
        asked for with ``on_nonfinite="drop"``).
    """

    theta: np.ndarray
    x_A: np.ndarray
    x_B: np.ndarray
    n_dropped: int = 0

    def __len__(self) -> int:
        return len(self.theta)

    def subset(self, index: np.ndarray | slice) -> Simulations:
        return Simulations(self.theta[index], self.x_A[index], self.x_B[index])


def _simulate_chunk(
    problem: Problem, n: int, seed: np.random.SeedSequence
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate one chunk from its own seed sequence."""
    seed_theta, seed_A, seed_B = seed.spawn(3)
    theta = np.asarray(problem.prior.sample(n, np.random.default_rng(seed_theta)), float)
    x_A = problem.simulate_A(theta, np.random.default_rng(seed_A))
    x_B = problem.simulate_B(theta, np.random.default_rng(seed_B))
    return theta, check_simulation("simulate_A", x_A, n), check_simulation(
        "simulate_B", x_B, n)


def _picklable(problem: Problem) -> bool:
    try:
        pickle.dumps((problem.prior, problem.simulate_A, problem.simulate_B))
    except Exception:  # any failure to pickle means: run in this process
        return False
    return True


_AUTO_POOL_SECONDS = 5.0


def _default_executor(problem: Problem, n_chunks: int,
                      seconds_left: float) -> cf.Executor | None:
    n_workers = min(os.cpu_count() or 1, n_chunks)
    if n_workers < 2 or seconds_left < _AUTO_POOL_SECONDS or not _picklable(problem):
        return None
    return cf.ProcessPoolExecutor(max_workers=n_workers)


def simulate(
    problem: Problem,
    n: int,
    *,
    seed: int | np.random.SeedSequence | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    executor: cf.Executor | Literal["serial", "auto"] = "auto",
    on_nonfinite: Literal["raise", "drop"] = "raise",
    failure_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> Simulations:
    """Simulate ``n`` concordant pairs: theta from the prior, x_A and x_B from it.

    Chunk ``i`` draws from the ``i``-th child of ``SeedSequence(seed)``, so the
    numbers depend only on ``seed``, ``n`` and ``chunk_size``, not on the
    executor or the number of workers.

    Parameters
    ----------
    problem : Problem
    n : int
        Number of pairs.
    seed : int or SeedSequence, optional
    chunk_size : int
        Rows per chunk (the unit of seeding and of parallel work).
    executor : concurrent.futures.Executor, "serial" or "auto"
        Where chunks run. ``"auto"`` (default) times the first chunk in this
        process and runs the rest in a local process pool when the
        simulators can be pickled, there are several cores and the remaining
        work would take more than a few seconds; fast vectorised simulators
        stay in this process, where they are quickest.
    on_nonfinite : {"raise", "drop"}
        What to do with rows where a simulator returned NaN or infinity. By
        default raise :class:`~accord.NonFiniteSimulationError` after writing
        their parameters to ``failure_dir``; ``"drop"`` removes them, logs and
        warns with the count.
    failure_dir : path, optional
        Where ``failed_simulations.csv`` goes (default: the working directory).
    progress : bool
        Show a progress bar.

    Returns
    -------
    Simulations
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
            or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer; got {chunk_size!r}")
    if on_nonfinite not in ("raise", "drop"):
        raise ValueError(f"on_nonfinite must be 'raise' or 'drop'; got {on_nonfinite!r}")
    seed = check_seed(seed)
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)

    sizes = [min(chunk_size, n - start) for start in range(0, n, chunk_size)]
    seeds = root.spawn(len(sizes))
    if executor not in ("serial", "auto") and not isinstance(executor, cf.Executor):
        raise TypeError(
            f"executor must be a concurrent.futures.Executor, 'serial' or 'auto'; "
            f"got {executor!r}"
        )

    bar = tqdm(total=n, desc="simulate", unit="sim", disable=not progress)
    chunks: list = [None] * len(sizes)
    own_executor = None
    try:
        first = 0
        if executor == "auto":
            start = time.perf_counter()
            chunks[0] = _simulate_chunk(problem, sizes[0], seeds[0])
            bar.update(sizes[0])
            first = 1
            seconds_left = (time.perf_counter() - start) * (len(sizes) - 1)
            own_executor = _default_executor(problem, len(sizes) - 1, seconds_left)
            executor = own_executor if own_executor is not None else "serial"
        if executor == "serial":
            for i in range(first, len(sizes)):
                chunks[i] = _simulate_chunk(problem, sizes[i], seeds[i])
                bar.update(sizes[i])
        else:
            futures = {executor.submit(_simulate_chunk, problem, sizes[i], seeds[i]): i
                       for i in range(first, len(sizes))}
            for future in cf.as_completed(futures):
                chunks[futures[future]] = future.result()
                bar.update(sizes[futures[future]])
    finally:
        bar.close()
        if own_executor is not None:
            own_executor.shutdown(cancel_futures=True)

    theta = np.concatenate([c[0] for c in chunks])
    x_A = np.concatenate([c[1] for c in chunks])
    x_B = np.concatenate([c[2] for c in chunks])
    return _handle_nonfinite(problem, Simulations(theta, x_A, x_B), on_nonfinite,
                             failure_dir)


def _handle_nonfinite(problem: Problem, sims: Simulations, on_nonfinite: str,
                      failure_dir: str | os.PathLike | None) -> Simulations:
    bad = ~(np.all(np.isfinite(sims.x_A), axis=1) & np.all(np.isfinite(sims.x_B), axis=1))
    n_bad = int(bad.sum())
    if n_bad == 0:
        return sims

    message = (f"{n_bad} of {len(sims)} simulations returned NaN or infinite values "
               f"(simulate_A: {int((~np.all(np.isfinite(sims.x_A), axis=1)).sum())}, "
               f"simulate_B: {int((~np.all(np.isfinite(sims.x_B), axis=1)).sum())})")
    if on_nonfinite == "drop":
        logger.warning("%s; dropping them as asked (on_nonfinite='drop')", message)
        warnings.warn(f"{message}; dropped as asked", AccordWarning, stacklevel=3)
        kept = sims.subset(~bad)
        kept.n_dropped = n_bad
        return kept

    path = Path(failure_dir if failure_dir is not None else ".") / "failed_simulations.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, sims.theta[bad], delimiter=",", header=",".join(problem.names),
               comments="")
    raise NonFiniteSimulationError(
        f"{message}. Their parameter values are in {path}. Fix the simulator for "
        f"those parameters, narrow the prior, or pass on_nonfinite='drop' to "
        f"discard them (which biases the concordance distribution if failures "
        f"depend on the parameters).",
        n_failed=n_bad, path=str(path))
