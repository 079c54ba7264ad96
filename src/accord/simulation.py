"""Seeded, chunked simulation of concordant data pairs.

The work is cut into chunks of ``chunk_size`` rows; chunk ``i`` draws from the
``i``-th child of the root ``SeedSequence``, so the numbers depend only on the
seed, ``n`` and ``chunk_size``. The same chunk machinery serves
:func:`simulate` (in memory) and :func:`accord.simulate_to_store` (on disk,
resumable).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import itertools
import logging
import os
import pickle
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from ._validation import check_seed
from .exceptions import (AccordWarning, NonFiniteSimulationError,
                         SimulationFailedError)
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


# Chunks and their seeds.

@dataclass(frozen=True)
class _Plan:
    """The chunks of a run: their rows and seeds, from the root seed's state."""

    n: int
    chunk_size: int
    entropy: Any
    spawn_key: tuple[int, ...]
    pool_size: int
    first_child: int

    @classmethod
    def from_seed(cls, n: int, chunk_size: int,
                  seed: int | np.random.SeedSequence | None) -> _Plan:
        root = seed if isinstance(seed, np.random.SeedSequence) else \
            np.random.SeedSequence(seed)
        plan = cls(n, chunk_size, _plain(root.entropy), tuple(root.spawn_key),
                   int(root.pool_size), int(root.n_children_spawned))

        # Spawning advances a SeedSequence passed in, as it always has: the
        # same object passed twice gives new numbers the second time.
        root.spawn(plan.n_chunks)
        return plan

    @classmethod
    def from_dict(cls, n: int, chunk_size: int, seed: dict[str, Any]) -> _Plan:
        return cls(n, chunk_size, _plain(seed["entropy"]), tuple(seed["spawn_key"]),
                   int(seed["pool_size"]), int(seed["first_child"]))

    def seed_dict(self) -> dict[str, Any]:
        return {"entropy": self.entropy, "spawn_key": list(self.spawn_key),
                "pool_size": self.pool_size, "first_child": self.first_child}

    @property
    def n_chunks(self) -> int:
        return -(-self.n // self.chunk_size)

    def rows(self, i: int) -> tuple[int, int]:
        start = i * self.chunk_size
        return start, min(start + self.chunk_size, self.n)

    def seed(self, i: int) -> np.random.SeedSequence:
        """A new copy of the ``i``-th child of the root, as ``root.spawn`` makes it."""
        return np.random.SeedSequence(
            self.entropy, spawn_key=self.spawn_key + (self.first_child + i,),
            pool_size=self.pool_size)


def _plain(entropy: Any) -> Any:
    """A SeedSequence's entropy as JSON-friendly Python integers."""
    if isinstance(entropy, (int, np.integer)):
        return int(entropy)
    return [int(e) for e in entropy]


@dataclass
class _Chunk:
    """One finished chunk."""

    index: int
    theta: np.ndarray
    x_A: np.ndarray
    x_B: np.ndarray


@dataclass
class _SimulatorFailure:
    """What a chunk returns when the prior or a simulator raised.

    It is returned, not raised, so that an exception reaching the caller through
    the executor always means the worker was lost, which is worth a retry.
    """

    index: int
    error: BaseException
    traceback: str
    ranges: str


def _run_chunk(problem: Problem, index: int, size: int,
               seed: np.random.SeedSequence) -> _Chunk | _SimulatorFailure:
    """Simulate chunk ``index`` from its own seed sequence (runs in a worker)."""
    seed_theta, seed_A, seed_B = seed.spawn(3)
    theta = None
    try:
        theta = np.asarray(problem.prior.sample(size, np.random.default_rng(seed_theta)),
                           float)
        x_A = problem.simulate_A(theta, np.random.default_rng(seed_A))
        x_B = problem.simulate_B(theta, np.random.default_rng(seed_B))
        x_A = check_simulation("simulate_A", x_A, size)
        x_B = check_simulation("simulate_B", x_B, size)
    except Exception as error:  # the simulator's own failure, reported not retried
        return _SimulatorFailure(index, _portable(error), traceback.format_exc(),
                                 _ranges(problem.names, theta))
    return _Chunk(index, theta, x_A, x_B)


def _portable(error: BaseException) -> BaseException:
    """``error``, or a RuntimeError naming it when it cannot travel back by pickle."""
    try:
        pickle.dumps(error)
    except Exception:  # any failure to pickle: send its text instead
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


def _ranges(names: tuple[str, ...], theta: np.ndarray | None) -> str:
    if theta is None or theta.ndim != 2 or theta.shape[1] != len(names) or not len(theta):
        return "parameters not drawn"
    low, high = np.nanmin(theta, axis=0), np.nanmax(theta, axis=0)
    return ", ".join(f"{name} in [{a:.4g}, {b:.4g}]"
                     for name, a, b in zip(names, low, high))


# Running chunks on an executor.

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


def _run_chunks(problem: Problem, plan: _Plan, todo: Iterable[int],
                executor: cf.Executor | str, *, retries: int,
                on_chunk: Callable[[_Chunk], None], hint: str = "") -> None:
    """Simulate the chunks ``todo`` of ``plan``; ``on_chunk`` gets each as it lands.

    ``on_chunk`` always runs in this process. ``executor`` is an Executor,
    ``"serial"``, ``"auto"`` or a specification for
    :func:`accord.executors.executor_from_spec`; pools made here are shut
    down on return and replaced when a worker's death breaks them. ``hint``
    ends the message of a failure (what is kept, how to resume).
    """
    from .executors import SerialExecutor, executor_from_spec

    todo = list(todo)
    renew: Callable[[], cf.Executor] | None = None
    with contextlib.ExitStack() as stack:
        if executor == "auto" and todo:
            start = time.perf_counter()
            _deliver(plan, _run_chunk(problem, todo[0], *_task(plan, todo[0])), on_chunk,
                     attempts=1, hint=hint)
            todo = todo[1:]
            seconds_left = (time.perf_counter() - start) * len(todo)
            pool = _default_executor(problem, len(todo), seconds_left)
            executor = "serial" if pool is None else pool
            if pool is not None:
                stack.callback(pool.shutdown, cancel_futures=True)
                n_workers = getattr(pool, "_max_workers", None)

                def renew() -> cf.Executor:
                    new = cf.ProcessPoolExecutor(max_workers=n_workers)
                    stack.callback(new.shutdown, cancel_futures=True)
                    return new
        elif isinstance(executor, str) and executor not in ("serial", "auto"):
            spec = executor
            executor = stack.enter_context(executor_from_spec(spec))

            def renew() -> cf.Executor:
                return stack.enter_context(executor_from_spec(spec))

        if isinstance(executor, (str, SerialExecutor)):
            for i in todo:
                _deliver(plan, _run_chunk(problem, i, *_task(plan, i)), on_chunk,
                         attempts=1, hint=hint)
        elif todo:
            _run_pooled(problem, plan, todo, executor, renew, retries=retries,
                        on_chunk=on_chunk, hint=hint)


def _task(plan: _Plan, i: int) -> tuple[int, np.random.SeedSequence]:
    start, stop = plan.rows(i)
    return stop - start, plan.seed(i)


def _deliver(plan: _Plan, result: _Chunk | _SimulatorFailure,
             on_chunk: Callable[[_Chunk], None], *, attempts: int, hint: str) -> None:
    if isinstance(result, _SimulatorFailure):
        raise _simulator_error(plan, result, attempts, hint)
    on_chunk(result)


def _simulator_error(plan: _Plan, failure: _SimulatorFailure, attempts: int,
                     hint: str) -> SimulationFailedError:
    error = failure.error
    if error.__traceback__ is None:
        # It came back from another process: keep the worker's traceback.
        error.add_note(f"Traceback in the worker:\n{failure.traceback}")
    start, stop = plan.rows(failure.index)
    message = (f"simulating chunk {failure.index} (rows {start}:{stop}; "
               f"{failure.ranges}) failed: {type(error).__name__}: {error}. The "
               f"simulator or the prior raised, so the chunk was not retried")
    exception = SimulationFailedError(message + hint, chunk=failure.index,
                                      rows=(start, stop), attempts=attempts)
    exception.__cause__ = error
    return exception


def _run_pooled(problem: Problem, plan: _Plan, todo: list[int], executor: cf.Executor,
                renew: Callable[[], cf.Executor] | None, *, retries: int,
                on_chunk: Callable[[_Chunk], None], hint: str) -> None:
    """Run chunks on ``executor``, resubmitting those whose worker was lost."""
    attempts = dict.fromkeys(todo, 0)
    running: dict[cf.Future, tuple[int, int, cf.Executor]] = {}
    charged: dict[int, set[cf.Future]] = {}
    serial_number = itertools.count()
    error: SimulationFailedError | None = None

    def submit(i: int) -> None:
        nonlocal executor
        attempts[i] += 1
        try:
            future = executor.submit(_run_chunk, problem, i, *_task(plan, i))
        except cf.BrokenExecutor as broken:
            if renew is None:
                start, stop = plan.rows(i)
                raise SimulationFailedError(
                    f"the executor broke (a worker died) and cannot take chunk {i} "
                    f"(rows {start}:{stop}) again; it is not accord's to restart. "
                    f"Pass the executor as a specification such as 'processes' so "
                    f"that accord can replace the pool{hint}",
                    chunk=i, rows=(start, stop), attempts=attempts[i]) from broken
            logger.warning("a worker died and broke the process pool; starting a new one")
            executor = renew()
            future = executor.submit(_run_chunk, problem, i, *_task(plan, i))
        running[future] = (i, next(serial_number), executor)

    def counts(future: cf.Future, number: int, pool: cf.Executor) -> bool:
        """Whether the loss of ``future`` counts as a failed attempt of its chunk."""
        if future.cancelled() or not isinstance(future.exception(), cf.BrokenExecutor):
            return True

        # A dead worker breaks the whole pool and fails every queued chunk with
        # it; count the loss only against the chunks that were running, the
        # oldest unfinished submissions to that pool, which takes them in order.
        if id(pool) not in charged:
            unfinished = [(number, future)] + [
                (k, f) for f, (_, k, p) in running.items()
                if p is pool and not _succeeded(f)]
            unfinished.sort(key=lambda pair: pair[0])
            n_workers = getattr(pool, "_max_workers", None) or len(unfinished)
            charged[id(pool)] = {f for _, f in unfinished[:n_workers]}
        return future in charged[id(pool)]

    todo = list(todo)
    delivered: set[int] = set()
    for i in todo:
        submit(i)
    while running:
        done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
        for future in sorted(done, key=lambda f: running[f][1]):
            i, number, pool = running.pop(future)
            if future.cancelled():
                if error is not None:
                    continue  # cancelled here, after another chunk failed
                # Cancelled by the executor itself (a scheduler that went away):
                # the chunk was never delivered, so it counts as lost.
                cause: BaseException | None = cf.CancelledError(
                    f"the executor cancelled chunk {i}")
            else:
                cause = future.exception()
            if cause is None:
                result = future.result()
                if isinstance(result, _SimulatorFailure):
                    error = error or _simulator_error(plan, result, attempts[i], hint)
                    _cancel(running)
                else:
                    on_chunk(result)
                    delivered.add(i)
                continue
            if error is not None:
                continue

            if not counts(future, number, pool):
                attempts[i] -= 1
            if attempts[i] > retries:
                start, stop = plan.rows(i)
                error = SimulationFailedError(
                    f"chunk {i} (rows {start}:{stop}) was lost {attempts[i]} time(s) "
                    f"({type(cause).__name__}: {cause}); a worker running it died "
                    f"or the executor failed. Give workers more memory or time, or "
                    f"raise retries{hint}", chunk=i, rows=(start, stop),
                    attempts=attempts[i])
                error.__cause__ = cause
                _cancel(running)
                continue
            logger.warning("chunk %d was lost (%s: %s); submitting it again "
                           "(attempt %d of at most %d)", i, type(cause).__name__,
                           cause, attempts[i] + 1, retries + 1)
            submit(i)
    if error is not None:
        raise error
    missing = sorted(set(todo) - delivered)
    if missing:
        start, stop = plan.rows(missing[0])
        raise SimulationFailedError(
            f"{len(missing)} chunk(s) never came back from the executor (first: chunk "
            f"{missing[0]}, rows {start}:{stop}); the executor or its scheduler may "
            f"have shut down{hint}", chunk=missing[0], rows=(start, stop),
            attempts=attempts[missing[0]])


def _succeeded(future: cf.Future) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


def _cancel(running: dict[cf.Future, Any]) -> None:
    """Cancel what has not started; what runs is finished and kept."""
    for future in running:
        future.cancel()


# In memory.

def _check_size(n: Any, chunk_size: Any) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
            or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer; got {chunk_size!r}")


def _check_options(on_nonfinite: Any, retries: Any) -> None:
    if on_nonfinite not in ("raise", "drop"):
        raise ValueError(f"on_nonfinite must be 'raise' or 'drop'; got {on_nonfinite!r}")
    if isinstance(retries, bool) or not isinstance(retries, (int, np.integer)) \
            or retries < 0:
        raise ValueError(f"retries must be a non-negative integer; got {retries!r}")


def simulate(
    problem: Problem,
    n: int,
    *,
    seed: int | np.random.SeedSequence | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    executor: cf.Executor | Literal["serial", "auto"] = "auto",
    retries: int = 2,
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
        stay in this process, where they are quickest. For a Dask cluster or
        MPI pass ``accord.executor_from_spec(...)``.
    retries : int
        How many times a chunk is submitted again when its worker dies. A
        chunk whose simulator raises is not retried.
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

    Raises
    ------
    SimulationFailedError
        When the simulator raised on a chunk (named in the message, with its
        rows and parameter ranges), or a chunk's worker died more than
        ``retries`` times.

    See Also
    --------
    accord.simulate_to_store : the same numbers, written chunk by chunk to a
        resumable store on disk.
    """
    _check_size(n, chunk_size)
    _check_options(on_nonfinite, retries)
    seed = check_seed(seed)
    if executor not in ("serial", "auto") and not isinstance(executor, cf.Executor):
        raise TypeError(
            f"executor must be a concurrent.futures.Executor, 'serial' or 'auto'; "
            f"got {executor!r}. For a process pool, Dask or MPI pass "
            f"accord.executor_from_spec(...)"
        )
    plan = _Plan.from_seed(int(n), int(chunk_size), seed)

    chunks: list[_Chunk | None] = [None] * plan.n_chunks
    with tqdm(total=plan.n, desc="simulate", unit="sim", disable=not progress) as bar:
        def keep(chunk: _Chunk) -> None:
            chunks[chunk.index] = chunk
            bar.update(len(chunk.theta))

        _run_chunks(problem, plan, range(plan.n_chunks), executor, retries=retries,
                    on_chunk=keep)

    theta, x_A, x_B = (np.concatenate([getattr(c, name) for c in chunks])
                       for name in ("theta", "x_A", "x_B"))
    return _handle_nonfinite(problem, Simulations(theta, x_A, x_B), on_nonfinite,
                             failure_dir)


# Non-finite rows.

def _nonfinite_rows(x_A: np.ndarray, x_B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``x_A (n, L_A)`` and ``x_B (n, L_B)`` with a NaN or infinity."""
    return ~np.all(np.isfinite(x_A), axis=1), ~np.all(np.isfinite(x_B), axis=1)


def _nonfinite_message(n_bad: int, n_total: int, n_bad_A: int, n_bad_B: int) -> str:
    return (f"{n_bad} of {n_total} simulations returned NaN or infinite values "
            f"(simulate_A: {n_bad_A}, simulate_B: {n_bad_B})")


def _raise_nonfinite(names: tuple[str, ...], theta_bad: np.ndarray, message: str,
                     failure_dir: str | os.PathLike | None) -> None:
    """Write the parameters of failed rows to a CSV file and raise."""
    path = Path(failure_dir if failure_dir is not None else ".") / "failed_simulations.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, theta_bad, delimiter=",", header=",".join(names), comments="")
    raise NonFiniteSimulationError(
        f"{message}. Their parameter values are in {path}. Fix the simulator for "
        f"those parameters, narrow the prior, or pass on_nonfinite='drop' to "
        f"discard them (which biases the concordance distribution if failures "
        f"depend on the parameters).",
        n_failed=len(theta_bad), path=str(path))


def _handle_nonfinite(problem: Problem, sims: Simulations, on_nonfinite: str,
                      failure_dir: str | os.PathLike | None) -> Simulations:
    bad_A, bad_B = _nonfinite_rows(sims.x_A, sims.x_B)
    bad = bad_A | bad_B
    n_bad = int(bad.sum())
    if n_bad == 0:
        return sims

    message = _nonfinite_message(n_bad, len(sims), int(bad_A.sum()), int(bad_B.sum()))
    if on_nonfinite == "drop":
        logger.warning("%s; dropping them as asked (on_nonfinite='drop')", message)
        warnings.warn(f"{message}; dropped as asked", AccordWarning, stacklevel=3)
        kept = sims.subset(~bad)
        kept.n_dropped = n_bad
        return kept
    _raise_nonfinite(problem.names, sims.theta[bad], message, failure_dir)
    return sims
