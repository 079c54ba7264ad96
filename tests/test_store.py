"""The on-disk simulation store: round trip, resume, refusal, crash safety."""

import concurrent.futures as cf
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from accord import (
    AccordError,
    NonFiniteSimulationError,
    Problem,
    SimulationFailedError,
    SimulationStore,
    StoreMismatchError,
    __version__,
    simulate,
    simulate_to_store,
)
from accord.estimator import train
from accord.exceptions import AccordWarning, FormatError
from accord.linear import LinearGaussian
from accord.priors import Independent, Uniform


@pytest.fixture(scope="module")
def problem():
    return LinearGaussian.paper(sigma=1.0, n_data=10, seed=3).problem()


def assert_same(a, b):
    for name in ("theta", "x_A", "x_B"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_round_trip_matches_simulate_bit_for_bit(problem, tmp_path):
    store = simulate_to_store(problem, 1030, tmp_path / "s", seed=7, chunk_size=200)
    memory = simulate(problem, 1030, seed=7, chunk_size=200, executor="serial")

    assert len(store) == 1030 and store.complete and store.missing == []
    assert store.chunk_bounds == [(0, 200), (200, 400), (400, 600), (600, 800),
                                  (800, 1000), (1000, 1030)]
    assert (store.length_A, store.length_B) == (problem.length_A, problem.length_B)
    assert store.names == problem.names
    assert_same(store.load(), memory)
    assert store.load().theta.dtype == np.float64

    reopened = SimulationStore.open(tmp_path / "s")
    assert_same(reopened.read(150, 850), memory.subset(slice(150, 850)))
    assert len(reopened.read(400, 400)) == 0
    starts = [start for start, _ in reopened.iter_chunks()]
    assert starts == [start for start, _ in store.chunk_bounds]
    assert_same(dict(reopened.iter_chunks())[1000], memory.subset(slice(1000, 1030)))


def test_metadata_describes_the_run(problem, tmp_path):
    store = simulate_to_store(problem, 300, tmp_path, seed=11, chunk_size=100)
    metadata = store.metadata
    assert metadata["problem"] == problem.name
    assert metadata["names"] == list(problem.names)
    assert metadata["prior"] == problem.prior.to_dict()
    assert metadata["fingerprint"] == json.loads(json.dumps(problem.fingerprint()))
    assert (metadata["n"], metadata["chunk_size"]) == (300, 100)
    assert metadata["seed"]["entropy"] == 11
    assert metadata["accord_version"] == __version__

    with h5py.File(tmp_path / "chunk-000002.h5") as file:
        seed = json.loads(file.attrs["seed"])
    child = np.random.SeedSequence(11).spawn(3)[2]
    assert (seed["entropy"], seed["spawn_key"]) == (11, list(child.spawn_key))


def test_a_seed_sequence_gives_the_numbers_of_simulate(problem, tmp_path):
    root = np.random.SeedSequence(5).spawn(2)[0]
    store = simulate_to_store(problem, 250, tmp_path, seed=root, chunk_size=100)
    again = np.random.SeedSequence(5).spawn(2)[0]
    assert_same(store.load(), simulate(problem, 250, seed=again, chunk_size=100))


def test_without_a_seed_a_resume_continues_with_the_stored_one(problem, tmp_path):
    store = simulate_to_store(problem, 200, tmp_path, chunk_size=100)
    (tmp_path / "chunk-000001.h5").unlink()
    resumed = simulate_to_store(problem, 200, tmp_path, chunk_size=100)
    entropy = store.metadata["seed"]["entropy"]
    assert_same(resumed.load(), simulate(problem, 200, seed=entropy, chunk_size=100))


class CountingSimulator:
    """A deterministic simulator that raises on one call, while asked to."""

    def __init__(self, fail_on_call=None):
        self.calls = 0
        self.fail_on_call = fail_on_call

    def __call__(self, theta, rng):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("the solver diverged")
        return theta[:, :1] + 0.1 * rng.standard_normal((len(theta), 3))


def counting_problem(fail_on_call=None):
    prior = Independent(a=Uniform(0, 1), b=Uniform(0, 1))
    return Problem(prior, CountingSimulator(fail_on_call), lambda t, rng: t + 0.0,
                   check=False)


def test_a_failed_run_keeps_its_chunks_and_resumes(tmp_path):
    failing = counting_problem(fail_on_call=4)  # the probe is call 1; chunk 2 fails
    with pytest.raises(SimulationFailedError, match=r"chunk 2 \(rows 40:60; a in \[") \
            as info:
        simulate_to_store(failing, 95, tmp_path, seed=3, chunk_size=20, executor="serial")
    assert info.value.chunk == 2 and info.value.rows == (40, 60)
    assert "resumes from them" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)

    partial = SimulationStore.open(tmp_path)
    assert partial.chunk_bounds == [(0, 20), (20, 40)] and not partial.complete
    assert partial.missing == [2, 3, 4]

    resumed = simulate_to_store(counting_problem(), 95, tmp_path, seed=3, chunk_size=20)
    assert resumed.complete
    assert_same(resumed.load(), simulate(counting_problem(), 95, seed=3, chunk_size=20))


_SLOW_MODULE = '''
import os
import time

from accord.linear import LinearGaussian

DELAY = float(os.environ.get("SLOW_DELAY", "0"))


class Slow:
    def __init__(self, simulate):
        self.simulate = simulate

    def __call__(self, theta, rng):
        time.sleep(DELAY)
        return self.simulate(theta, rng)


def problem():
    problem = LinearGaussian.paper(sigma=1.0, n_data=10, seed=3).problem()
    problem.simulate_A = Slow(problem.simulate_A)
    return problem
'''


def test_a_run_killed_with_sigkill_resumes_bit_for_bit(tmp_path, monkeypatch):
    (tmp_path / "slow.py").write_text(_SLOW_MODULE)
    script = textwrap.dedent(f"""
        import slow
        from accord import simulate_to_store
        simulate_to_store(slow.problem(), 4000, {str(tmp_path / 'store')!r}, seed=8,
                          chunk_size=100, executor="serial")
    """)
    env = dict(os.environ, SLOW_DELAY="0.05", PYTHONPATH=str(tmp_path))
    process = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 60
        while len(list((tmp_path / "store").glob("chunk-*.h5"))) < 3:
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL

    killed = SimulationStore.open(tmp_path / "store")
    assert 3 <= len(killed.chunk_bounds) < 40 and len(killed) % 100 == 0

    monkeypatch.syspath_prepend(str(tmp_path))
    import slow

    resumed = simulate_to_store(slow.problem(), 4000, tmp_path / "store", seed=8,
                                chunk_size=100)
    assert resumed.complete and not list((tmp_path / "store").glob("*.tmp"))
    problem = LinearGaussian.paper(sigma=1.0, n_data=10, seed=3).problem()
    assert_same(resumed.load(), simulate(problem, 4000, seed=8, chunk_size=100))


def test_a_temporary_file_left_behind_is_ignored_then_removed(problem, tmp_path):
    simulate_to_store(problem, 300, tmp_path, seed=1, chunk_size=100)
    (tmp_path / "chunk-000001.h5").replace(tmp_path / "chunk-000001.h5.tmp")
    with open(tmp_path / "chunk-000001.h5.tmp", "r+b") as file:
        file.truncate(100)  # as a kill during the write leaves it

    partial = SimulationStore.open(tmp_path)
    assert partial.missing == [1] and len(partial) == 200
    assert_same(partial.read(100, 200), simulate(problem, 300, seed=1,
                                                 chunk_size=100).subset(slice(200, 300)))

    resumed = simulate_to_store(problem, 300, tmp_path, seed=1, chunk_size=100)
    assert resumed.complete and not (tmp_path / "chunk-000001.h5.tmp").exists()
    assert_same(resumed.load(), simulate(problem, 300, seed=1, chunk_size=100))


def other_problem(low=0.0, shift=0.0):
    prior = Independent(a=Uniform(low, 1), b=Uniform(0, 1))
    return Problem(prior, lambda t, rng: t + shift, lambda t, rng: t + 0.0)


@pytest.mark.parametrize("changed, kwargs, match", [
    (other_problem(low=-1.0), {}, "the prior"),
    (other_problem(shift=1.0), {}, "the simulators"),
    (other_problem(), {"n": 250}, r"n \(stored 200, now 250\)"),
    (other_problem(), {"chunk_size": 50}, "chunk_size"),
    (other_problem(), {"seed": 2}, r"seed \(stored 1, now 2\)"),
])
def test_a_store_of_another_setup_is_refused(tmp_path, changed, kwargs, match):
    simulate_to_store(other_problem(), 200, tmp_path, seed=1, chunk_size=100)
    arguments = {"n": 200, "seed": 1, "chunk_size": 100} | kwargs
    with pytest.raises(StoreMismatchError, match=match) as info:
        simulate_to_store(changed, arguments.pop("n"), tmp_path, **arguments)
    message = str(info.value)
    assert str(tmp_path) in message and "another directory" in message
    assert "delete" in message
    assert isinstance(info.value, AccordError)


def _flaky(theta, rng):
    x = theta + 0.01 * rng.standard_normal(theta.shape)
    x[theta[:, 0] > 0.9] = np.nan
    return x


def flaky_problem():
    prior = Independent(a=Uniform(0, 1), b=Uniform(0, 1))
    return Problem(prior, _flaky, lambda theta, rng: theta.copy(), check=False)


def test_nonfinite_rows_are_stored_then_raised_then_dropped_on_request(tmp_path):
    with pytest.raises(NonFiniteSimulationError, match="simulate_A: [0-9]+") as info:
        simulate_to_store(flaky_problem(), 1000, tmp_path, seed=0, chunk_size=300)
    assert info.value.path == str(tmp_path / "failed_simulations.csv")
    failed = np.loadtxt(info.value.path, delimiter=",", skiprows=1)
    assert len(failed) == info.value.n_failed > 0 and np.all(failed[:, 0] > 0.9)
    store = SimulationStore.open(tmp_path)
    assert store.complete and len(store) == 1000
    assert store.n_nonfinite == info.value.n_failed

    with pytest.warns(AccordWarning, match="dropped as asked"):
        dropped = simulate_to_store(flaky_problem(), 1000, tmp_path, seed=0,
                                    chunk_size=300, on_nonfinite="drop")
    with pytest.warns(AccordWarning, match="dropped as asked"):
        memory = simulate(flaky_problem(), 1000, seed=0, chunk_size=300,
                          on_nonfinite="drop")
    assert dropped.n_dropped == memory.n_dropped == info.value.n_failed
    assert dropped.load().n_dropped == memory.n_dropped
    assert_same(dropped.load(), memory)


def test_drop_removes_rows_before_writing(tmp_path):
    with pytest.warns(AccordWarning, match=r"of 1000 simulations .*dropped as asked"):
        store = simulate_to_store(flaky_problem(), 1000, tmp_path, seed=0,
                                  chunk_size=300, on_nonfinite="drop")
    assert store.n_nonfinite == 0 and len(store) == 1000 - store.n_dropped
    assert np.all(np.isfinite(store.load().x_A))
    assert not (tmp_path / "failed_simulations.csv").exists()


def test_bad_arguments_leave_no_directory(problem, tmp_path):
    with pytest.raises(ValueError, match="executor 'gpu' is not understood"):
        simulate_to_store(problem, 10, tmp_path / "s", executor="gpu")
    with pytest.raises(ValueError, match="retries"):
        simulate_to_store(problem, 10, tmp_path / "s", retries=-1)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        simulate_to_store(problem, 0, tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_unreadable_stores_are_named(problem, tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no simulation store"):
        SimulationStore.open(tmp_path)
    store = SimulationStore.create(tmp_path / "s", problem, 10, seed=0, chunk_size=5)
    with pytest.raises(FileExistsError, match="already holds a simulation store"):
        SimulationStore.create(tmp_path / "s", problem, 10, seed=0, chunk_size=5)
    (store.path / "store.json").write_text('{"format": "accord-simulation-store"}')
    with pytest.raises(FormatError, match="store format"):
        SimulationStore.open(store.path)


def test_a_chunk_of_another_store_is_refused(problem, tmp_path):
    simulate_to_store(problem, 200, tmp_path / "a", seed=1, chunk_size=100)
    simulate_to_store(problem, 200, tmp_path / "b", seed=2, chunk_size=100)
    (tmp_path / "b" / "chunk-000001.h5").replace(tmp_path / "a" / "chunk-000001.h5")
    with pytest.raises(FormatError, match="chunk-000001.h5 does not belong"):
        SimulationStore.open(tmp_path / "a")


def test_training_refuses_a_store_of_another_problem(tmp_path):
    narrow = LinearGaussian.paper(sigma=1.0, n_data=5, seed=0).problem()
    wide = LinearGaussian.paper(sigma=100.0, n_data=5, seed=0).problem()
    store = simulate_to_store(narrow, 200, tmp_path / "s", seed=1)
    with pytest.raises(StoreMismatchError, match="prior"):
        train(wide, simulations=store, seed=0)


class _CancellingExecutor(cf.ThreadPoolExecutor):
    """Cancels the first ``n_cancel`` submissions itself, as a dying Dask
    scheduler does with the tasks it held."""

    def __init__(self, n_cancel):
        super().__init__(max_workers=1)
        self.n_cancel = n_cancel

    def submit(self, fn, /, *args, **kwargs):
        if self.n_cancel > 0:
            self.n_cancel -= 1
            future = cf.Future()
            future.cancel()
            future.set_running_or_notify_cancel()
            return future
        return super().submit(fn, *args, **kwargs)


def test_chunks_cancelled_by_the_executor_are_retried(problem, tmp_path):
    # A scheduler that went away cancelled chunks; the call returned an
    # incomplete store as if it were done.
    with _CancellingExecutor(n_cancel=2) as executor:
        store = simulate_to_store(problem, 1000, tmp_path / "s", seed=1,
                                         chunk_size=250, executor=executor)
    assert store.complete
    np.testing.assert_array_equal(store.load().x_A,
                                  simulate(problem, 1000, seed=1,
                                                  chunk_size=250).x_A)


def test_chunks_the_executor_never_delivers_raise(problem, tmp_path):
    with _CancellingExecutor(n_cancel=100) as executor:
        with pytest.raises(SimulationFailedError, match="chunk"):
            simulate_to_store(problem, 1000, tmp_path / "s", seed=1,
                                     chunk_size=250, executor=executor)
