"""Executors: specifications, process pools, Dask, MPI, lost workers and retries."""

import concurrent.futures as cf
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from accord import (
    Problem,
    SimulationFailedError,
    SimulationStore,
    executor_from_spec,
    simulate,
    simulate_to_store,
)
from accord.executors import SerialExecutor
from accord.linear import LinearGaussian
from accord.priors import Independent, Uniform
from accord.simulation import _Plan, _run_pooled

HAS_DASK = importlib.util.find_spec("distributed") is not None


@pytest.fixture(scope="module")
def problem():
    return LinearGaussian.paper(sigma=1.0, n_data=10, seed=3).problem()


def assert_same(a, b):
    for name in ("theta", "x_A", "x_B"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("spec, kind", [
    ("serial", SerialExecutor),
    ("threads:2", cf.ThreadPoolExecutor),
    ("processes:2", cf.ProcessPoolExecutor),
    (" Processes ", cf.ProcessPoolExecutor),
])
def test_local_specifications(spec, kind):
    with executor_from_spec(spec) as executor:
        assert isinstance(executor, kind)
        assert executor.submit(pow, 2, 5).result() == 32


@pytest.mark.parametrize("spec", [
    "gpu", "threads:0", "processes:-1", "mpi:4", "dask://host", "http://host:1", "",
])
def test_bad_specifications_list_what_is_accepted(spec):
    with pytest.raises(ValueError, match="not understood; accepted: 'serial'.*'mpi'"):
        executor_from_spec(spec)


def test_a_specification_must_be_a_string():
    with pytest.raises(TypeError, match="must be a string"):
        executor_from_spec(4)


@pytest.mark.parametrize("spec", ["threads:3", "processes:2", "serial"])
def test_every_executor_gives_the_numbers_of_serial(problem, tmp_path, spec):
    store = simulate_to_store(problem, 700, tmp_path, seed=4, chunk_size=100,
                              executor=spec)
    assert_same(store.load(), simulate(problem, 700, seed=4, chunk_size=100,
                                       executor="serial"))


class DiesOnce:
    """A simulator whose worker process exits the first time it runs, anywhere.

    The marker file records the death, so the chunk submitted again succeeds.
    """

    def __init__(self, marker):
        self.marker = str(marker)

    def __call__(self, theta, rng):
        if len(theta) > 4:  # not the probe of the fingerprint
            try:
                with open(self.marker, "x"):
                    pass
            except FileExistsError:
                pass
            else:
                os._exit(1)
        return theta[:, :1] + 0.1 * rng.standard_normal((len(theta), 3))


def dying_problem(marker):
    prior = Independent(a=Uniform(0, 1), b=Uniform(0, 1))
    return Problem(prior, DiesOnce(marker), _copy, check=False)


def _copy(theta, rng):
    return theta + 0.0


def test_a_killed_worker_loses_only_its_chunks_which_are_retried(tmp_path, caplog):
    marker = tmp_path / "died"
    with caplog.at_level(logging.WARNING, logger="accord.simulation"):
        store = simulate_to_store(dying_problem(marker), 600, tmp_path / "s", seed=2,
                                  chunk_size=50, executor="processes:2")
    assert marker.exists() and store.complete
    assert "submitting it again" in caplog.text and "starting a new one" in caplog.text
    assert_same(store.load(), simulate(dying_problem(marker), 600, seed=2, chunk_size=50,
                                       executor="serial"))


def test_a_pool_that_is_not_ours_is_not_restarted(tmp_path):
    with cf.ProcessPoolExecutor(max_workers=2) as pool, \
            pytest.raises(SimulationFailedError, match="not accord's to restart"):
        simulate_to_store(dying_problem(tmp_path / "died"), 600, tmp_path / "s",
                          seed=2, chunk_size=50, executor=pool)
    assert not SimulationStore.open(tmp_path / "s").complete


class FakePool(cf.Executor):
    """One worker; fails the chunks in ``broken`` as a dead worker would."""

    _max_workers = 1

    def __init__(self, broken, n_submissions):
        self.broken, self.n_submissions, self.submitted = broken, n_submissions, []

    def submit(self, fn, /, *args):
        if len(self.submitted) == self.n_submissions:
            raise cf.BrokenExecutor("a child process terminated abruptly")
        future = cf.Future()
        self.submitted.append(args[1])
        if args[1] in self.broken:
            future.set_exception(cf.BrokenExecutor("terminated abruptly"))
        else:
            future.set_result(fn(*args))
        return future


def test_a_broken_pool_charges_only_the_chunks_that_were_running():
    """One dead worker fails every queued chunk; only the running ones pay."""
    problem = Problem(Independent(a=Uniform(0, 1)), _copy, _copy, check=False)
    plan = _Plan.from_seed(40, 10, 0)
    pools = iter([FakePool({1, 2, 3}, 4), FakePool(set(), 10)])
    first = FakePool({0, 1, 2, 3}, 4)
    finished = []
    _run_pooled(problem, plan, [0, 1, 2, 3], first, lambda: next(pools), retries=1,
                on_chunk=lambda chunk: finished.append(chunk.index), hint="")
    assert sorted(finished) == [0, 1, 2, 3]

    # Chunk 1 was queued behind chunk 0 in the first pool, running in the
    # second: charged once, it still has its retry.
    pools = iter([FakePool({1}, 4), FakePool({1}, 10)])
    with pytest.raises(SimulationFailedError, match="chunk 1 .*lost 2 time") as info:
        _run_pooled(problem, plan, [0, 1, 2, 3], FakePool({0, 1, 2, 3}, 4),
                    lambda: next(pools), retries=1, on_chunk=lambda chunk: None,
                    hint="")
    assert info.value.attempts == 2


class RaisesOnShortChunks:
    def __init__(self, log):
        self.log = str(log)

    def __call__(self, theta, rng):
        if len(theta) == 7:
            with open(self.log, "a") as file:
                file.write("raised\n")
            raise ValueError(f"cannot simulate {len(theta)} rows")
        return theta[:, :1] + 0.1 * rng.standard_normal((len(theta), 3))


def test_a_simulator_exception_is_not_retried_and_names_the_chunk(tmp_path):
    log = tmp_path / "calls"
    prior = Independent(a=Uniform(0, 1), b=Uniform(0, 1))
    failing = Problem(prior, RaisesOnShortChunks(log), _copy, check=False)
    with pytest.raises(SimulationFailedError,
                       match=r"chunk 9 \(rows 180:187; a in \[.*ValueError: cannot "
                             r"simulate 7 rows.*not retried") as info:
        simulate_to_store(failing, 187, tmp_path / "s", seed=1, chunk_size=20,
                          executor="processes:2")
    assert log.read_text() == "raised\n" and info.value.attempts == 1
    assert isinstance(info.value.__cause__, ValueError)
    assert "Traceback in the worker" in "".join(info.value.__cause__.__notes__)
    assert 9 in SimulationStore.open(tmp_path / "s").missing


@pytest.mark.cluster
@pytest.mark.skipif(not HAS_DASK, reason="needs dask.distributed (accord[cluster])")
def test_a_local_dask_cluster_survives_a_killed_worker(tmp_path):
    marker = tmp_path / "died"
    store = simulate_to_store(dying_problem(marker), 600, tmp_path / "s", seed=5,
                              chunk_size=50, executor="dask:2")
    assert marker.exists() and store.complete
    assert_same(store.load(), simulate(dying_problem(marker), 600, seed=5, chunk_size=50,
                                       executor="serial"))


@pytest.mark.cluster
@pytest.mark.skipif(not HAS_DASK, reason="needs dask.distributed (accord[cluster])")
def test_an_existing_dask_scheduler_gives_the_numbers_of_serial(problem, tmp_path):
    from distributed import LocalCluster

    # Thread workers start at once; the worker processes are tested above.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      protocol="tcp", host="127.0.0.1", dashboard_address=None) as cluster:
        address = cluster.scheduler_address.replace("tcp://", "dask://")
        store = simulate_to_store(problem, 900, tmp_path, seed=6, chunk_size=100,
                                  executor=address)
    assert_same(store.load(), simulate(problem, 900, seed=6, chunk_size=100,
                                       executor="serial"))


def test_an_unreachable_scheduler_is_named():
    if not HAS_DASK:
        pytest.skip("needs dask.distributed (accord[cluster])")
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), \
            pytest.raises(ConnectionError, match="cannot reach a Dask scheduler at "
                                                 "tcp://127.0.0.1:9"), \
            executor_from_spec("dask://127.0.0.1:9"):
        pass


def _mpiexec():
    beside = Path(sys.executable).with_name("mpiexec")
    return str(beside) if beside.exists() else shutil.which("mpiexec")


@pytest.mark.mpi
@pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None or _mpiexec() is None,
                    reason="needs mpi4py and an MPI runtime (mpiexec)")
def test_mpi_workers_give_the_numbers_of_serial(problem, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        from accord import simulate_to_store
        from accord.linear import LinearGaussian

        if __name__ == "__main__":
            problem = LinearGaussian.paper(sigma=1.0, n_data=10, seed=3).problem()
            simulate_to_store(problem, 800, {str(tmp_path / 's')!r}, seed=9,
                              chunk_size=100, executor="mpi")
    """))
    result = subprocess.run([_mpiexec(), "-n", "3", sys.executable, "-m",
                             "mpi4py.futures", str(script)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    store = SimulationStore.open(tmp_path / "s")
    assert_same(store.load(), simulate(problem, 800, seed=9, chunk_size=100))


def test_far_more_local_processes_than_cores_are_refused():
    # A huge N started every worker process at once and could exhaust the
    # machine without a word.
    import os

    from accord.executors import executor_from_spec

    with pytest.raises(ValueError, match="worker processes on this machine"):
        with executor_from_spec(f"processes:{100 * (os.cpu_count() or 1)}"):
            pass


def test_mpi_outside_a_launcher_is_refused_instead_of_hanging(monkeypatch):
    pytest.importorskip("mpi4py")
    from accord import executors

    for name in executors._MPI_LAUNCHED:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="mpiexec -n 4 python -m mpi4py.futures"):
        with executors.executor_from_spec("mpi"):
            pass
