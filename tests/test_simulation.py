"""Seeded, chunked simulation and the handling of failed simulations."""

import concurrent.futures as cf
import importlib

import numpy as np
import pytest

from accord import NonFiniteSimulationError, Problem, simulate
from accord.exceptions import AccordWarning
from accord.linear import LinearGaussian
from accord.priors import Independent, Uniform


@pytest.fixture(scope="module")
def problem():
    return LinearGaussian.paper(sigma=1.0, n_data=10, seed=3).problem()


def test_same_seed_same_simulations_whatever_the_executor(problem):
    serial = simulate(problem, 1000, seed=4, chunk_size=300, executor="serial")
    with cf.ThreadPoolExecutor(max_workers=3) as pool:
        threaded = simulate(problem, 1000, seed=4, chunk_size=300, executor=pool)
    auto = simulate(problem, 1000, seed=4, chunk_size=300)
    for other in (threaded, auto):
        np.testing.assert_array_equal(serial.theta, other.theta)
        np.testing.assert_array_equal(serial.x_A, other.x_A)
        np.testing.assert_array_equal(serial.x_B, other.x_B)


def test_process_pool_gives_the_same_numbers(problem):
    serial = simulate(problem, 600, seed=5, chunk_size=200, executor="serial")
    with cf.ProcessPoolExecutor(max_workers=2) as pool:
        pooled = simulate(problem, 600, seed=5, chunk_size=200, executor=pool)
    np.testing.assert_array_equal(serial.x_B, pooled.x_B)


def test_different_seeds_differ(problem):
    a = simulate(problem, 10, seed=1)
    b = simulate(problem, 10, seed=2)
    assert not np.allclose(a.theta, b.theta)


def _flaky(theta, rng):
    x = theta + 0.01 * rng.standard_normal(theta.shape)
    x[theta[:, 0] > 0.9] = np.nan
    return x


def _flaky_problem():
    prior = Independent(a=Uniform(0, 1), b=Uniform(0, 1))
    return Problem(prior, _flaky, lambda theta, rng: theta.copy(), check=False)


def test_nonfinite_simulations_raise_and_are_written_to_disk(tmp_path):
    with pytest.raises(NonFiniteSimulationError, match="simulate_A: [0-9]+") as info:
        simulate(_flaky_problem(), 1000, seed=0, failure_dir=tmp_path)
    failed = np.loadtxt(info.value.path, delimiter=",", skiprows=1)
    assert len(failed) == info.value.n_failed > 0
    assert np.all(failed[:, 0] > 0.9)


def test_nonfinite_simulations_are_never_dropped_silently():
    with pytest.warns(AccordWarning, match="dropped as asked"):
        sims = simulate(_flaky_problem(), 1000, seed=0, on_nonfinite="drop")
    assert sims.n_dropped > 0 and len(sims) == 1000 - sims.n_dropped
    assert np.all(np.isfinite(sims.x_A))


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=0), "n must be a positive integer"),
    (dict(n=10, chunk_size=0), "chunk_size"),
    (dict(n=10, on_nonfinite="ignore"), "on_nonfinite"),
])
def test_bad_arguments(problem, kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate(problem, **kwargs)
    with pytest.raises(TypeError, match="executor"):
        simulate(problem, 10, executor="threads")


def test_auto_executor_moves_slow_work_to_a_process_pool(problem, monkeypatch):
    module = importlib.import_module("accord.simulation")

    started = []
    original = module._default_executor

    def spy(*args):
        executor = original(*args)
        started.append(executor)
        return executor

    monkeypatch.setattr(module, "_AUTO_POOL_SECONDS", 0.0)
    monkeypatch.setattr(module, "_default_executor", spy)
    monkeypatch.setattr(module.os, "cpu_count", lambda: 2)
    auto = simulate(problem, 900, seed=6, chunk_size=300)
    serial = simulate(problem, 900, seed=6, chunk_size=300, executor="serial")
    assert isinstance(started[0], cf.ProcessPoolExecutor)
    np.testing.assert_array_equal(auto.x_A, serial.x_A)


@pytest.mark.parametrize("seed", [-1, "x", 1.5, True])
def test_bad_seeds_are_named(problem, seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        simulate(problem, 10, seed=seed)
