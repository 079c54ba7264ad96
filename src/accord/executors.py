"""Executors for simulation chunks, named by a short specification.

A specification is what a user types on the command line or in a
configuration file: ``"processes:8"``, ``"dask://scheduler:8786"``, ``"mpi"``.
:func:`executor_from_spec` turns it into a context manager that yields a
:class:`concurrent.futures.Executor` and tears down what it started.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import importlib.util
import logging
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["executor_from_spec", "SerialExecutor", "ACCEPTED_SPECS"]

logger = logging.getLogger(__name__)

ACCEPTED_SPECS = (
    "'serial'",
    "'auto'",
    "'processes' or 'processes:N' (a local process pool)",
    "'threads:N' (a thread pool)",
    "'dask' or 'dask:N' (a local Dask cluster on 127.0.0.1)",
    "'dask://HOST:PORT' or 'tcp://HOST:PORT' (an existing Dask scheduler)",
    "'mpi' (mpi4py's MPIPoolExecutor)",
)


class SerialExecutor(cf.Executor):
    """Runs each call in this process, at submission."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # handed to the caller through the future
            future.set_exception(error)
        return future


def _parse(spec: Any) -> tuple[str, Any]:
    """``(kind, argument)`` of a specification, or a ValueError listing what is accepted."""
    if not isinstance(spec, str):
        raise TypeError(f"an executor specification must be a string; got "
                        f"{type(spec).__name__}")
    text = spec.strip()
    address = re.fullmatch(r"(?:dask|tcp)://([^\s/:]+):(\d{1,5})", text)
    if address:
        return "scheduler", f"tcp://{address[1]}:{address[2]}"
    match = re.fullmatch(r"(serial|auto|processes|threads|dask|mpi)(?::(\d+))?",
                         text.lower())
    if match and match[2] is not None and (match[1] in ("serial", "auto", "mpi")
                                           or int(match[2]) < 1):
        match = None
    if not match:
        raise ValueError(f"executor {spec!r} is not understood; accepted: "
                         + ", ".join(ACCEPTED_SPECS) + " (N a positive integer)")
    kind, count = match[1], match[2]
    n_cores = os.cpu_count() or 1
    if kind in ("processes", "dask") and count and int(count) > _MAX_PER_CORE * n_cores:
        raise ValueError(
            f"executor {spec!r} asks for {int(count)} worker processes on this machine of "
            f"{n_cores} cores; at most {_MAX_PER_CORE * n_cores} are allowed here. Use "
            f"a Dask scheduler or MPI to reach more cores")
    return kind, int(count) if count else n_cores


# Local worker processes are all started at once; far more than the cores
# only costs memory (and, without a bound, can exhaust the machine).
_MAX_PER_CORE = 4

# Environment variables set by the common MPI launchers (MPICH's Hydra, Open
# MPI, Slurm's PMI) in each process they start.
_MPI_LAUNCHED = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE",
                 "MPI_LOCALNRANKS", "SLURM_PROCID")


def check_spec(spec: str) -> None:
    """Raise the error :func:`executor_from_spec` would raise for a malformed ``spec``,
    without starting anything."""
    _parse(spec)


def _require(module: str, install: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ImportError(f"this executor needs the package {module!r}: {install}")


def executor_from_spec(spec: str) -> contextlib.AbstractContextManager[cf.Executor]:
    """An executor for simulation chunks, from its specification.

    Parameters
    ----------
    spec : str
        One of

        - ``"serial"``: run in this process.
        - ``"auto"``: a process pool with one worker per core, or this process
          on a single core. (Passed as a string to :func:`accord.simulate_to_store`,
          ``"auto"`` instead times a first chunk and keeps fast simulators in
          this process.)
        - ``"processes"`` or ``"processes:N"``: a local process pool of N workers
          (default: one per core).
        - ``"threads:N"``: a thread pool, for simulators that release the GIL.
        - ``"dask"`` or ``"dask:N"``: a local Dask cluster of N single-threaded
          worker processes on 127.0.0.1, closed afterwards.
        - ``"dask://HOST:PORT"`` or ``"tcp://HOST:PORT"``: the workers of a
          running Dask scheduler (``dask scheduler`` and ``dask worker``).
        - ``"mpi"``: :class:`mpi4py.futures.MPIPoolExecutor`, under
          ``mpiexec -n N python -m mpi4py.futures script.py``.

    Returns
    -------
    context manager
        Entering it yields a :class:`concurrent.futures.Executor`; leaving it
        shuts down what it started (never a scheduler it connected to).

    Raises
    ------
    ValueError
        For a specification not in the list, naming those accepted.
    ImportError
        When Dask or mpi4py is needed and not installed.

    Examples
    --------
    >>> from accord.executors import executor_from_spec
    >>> with executor_from_spec("threads:2") as executor:
    ...     executor.submit(sum, [1, 2]).result()
    3
    """
    kind, argument = _parse(spec)
    if kind in ("dask", "scheduler"):
        _require("distributed", "pip install 'accord[cluster]' (dask and distributed)")
    if kind == "mpi":
        _require("mpi4py", "pip install mpi4py (or 'accord[mpi]'), with an MPI "
                           "runtime: the site's MPI module on a cluster, or "
                           "pip install mpich on a laptop")
    return _open(kind, argument)


@contextlib.contextmanager
def _open(kind: str, argument: Any) -> Iterator[cf.Executor]:
    if kind == "serial" or kind == "auto" and argument < 2:
        yield SerialExecutor()
    elif kind in ("processes", "auto"):
        with _shut(cf.ProcessPoolExecutor(max_workers=argument)) as pool:
            yield pool
    elif kind == "threads":
        with _shut(cf.ThreadPoolExecutor(max_workers=argument)) as pool:
            yield pool
    elif kind == "dask":
        with _local_dask(argument) as executor:
            yield executor
    elif kind == "scheduler":
        with _dask_client(argument) as executor:
            yield executor
    else:
        if not any(name in os.environ for name in _MPI_LAUNCHED):
            # Outside a launcher, MPI's singleton start can hang for ever.
            raise ValueError(
                "executor 'mpi' needs the script started by an MPI launcher, for "
                "example: mpiexec -n 4 python -m mpi4py.futures script.py (the ranks "
                "other than 0 become the workers); no launcher's environment was found")
        from mpi4py.futures import MPIPoolExecutor

        with _shut(MPIPoolExecutor()) as pool:
            yield pool


@contextlib.contextmanager
def _shut(executor: cf.Executor) -> Iterator[cf.Executor]:
    """Shut ``executor`` down on leaving, dropping the work not yet started."""
    try:
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _local_dask(n_workers: int) -> Iterator[cf.Executor]:
    from distributed import Client, LocalCluster

    # Loopback only and no dashboard: nothing listens beyond this machine.
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster:
        logger.info("started a local Dask cluster of %d workers at %s", n_workers,
                    cluster.scheduler_address)
        with Client(cluster) as client:
            yield client.get_executor(pure=False)


@contextlib.contextmanager
def _dask_client(address: str) -> Iterator[cf.Executor]:
    from distributed import Client

    try:
        client = Client(address)
    except OSError as error:
        raise ConnectionError(
            f"cannot reach a Dask scheduler at {address} ({error}); start one with "
            f"`dask scheduler --port PORT` and workers with `dask worker "
            f"{address}`") from error

    # A task that a dead worker took is moved to another worker by the
    # scheduler itself; pure=False gives each submission its own key, so that
    # a chunk submitted again is computed again.
    with client:
        logger.info("connected to the Dask scheduler at %s", address)
        yield client.get_executor(pure=False)
