"""Problem definition: validation at the boundary."""

import numpy as np
import pytest

from accord import Problem
from accord.priors import Independent, Uniform

PRIOR = Independent(a=Uniform(-1, 1), b=Uniform(-1, 1), c=Uniform(-1, 1))


def sim(theta, rng):
    return theta[:, :2] + 0.1 * rng.standard_normal((len(theta), 2))


def test_shared_and_nuisance_parameters():
    problem = Problem(PRIOR, sim, sim, params_A=["a", "b"], params_B=["a", "c"])
    assert problem.shared == ("a",)
    assert problem.nuisance_A == ("b",)
    assert problem.nuisance_B == ("c",)
    assert (problem.length_A, problem.length_B) == (2, 2)


def test_prior_without_sample_is_refused():
    class NoSample:
        names = ("a",)

    with pytest.raises(TypeError, match=r"prior must have a method sample\(n, rng\)"):
        Problem(NoSample(), sim, sim)


@pytest.mark.parametrize("simulator, error, match", [
    (lambda theta, rng: np.zeros((len(theta) + 1, 2)), ValueError, r"shape \(n, L\)"),
    (lambda theta, rng: np.zeros((len(theta), 0)), ValueError, r"shape \(n, L\)"),
    (lambda theta, rng: np.array(["x"] * len(theta)), TypeError, "numeric array"),
])
def test_simulator_output_is_checked(simulator, error, match):
    with pytest.raises(error, match=match):
        Problem(PRIOR, simulator, sim)


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="unknown: \\['z'\\]"):
        Problem(PRIOR, sim, sim, params_A=["z"])
    with pytest.raises(ValueError, match="in neither params_A nor params_B"):
        Problem(PRIOR, sim, sim, params_A=["a"], params_B=["a"])
    with pytest.raises(TypeError, match="not a string"):
        Problem(PRIOR, sim, sim, params_A="a")
    with pytest.raises(TypeError, match="simulate_B must be callable"):
        Problem(PRIOR, sim, 3)


def test_observed_data_are_checked():
    with pytest.raises(ValueError, match="x_A_obs has 3 values but the simulator returns 2"):
        Problem(PRIOR, sim, sim, x_A_obs=[1.0, 2.0, 3.0], x_B_obs=[1.0, 2.0])
    with pytest.raises(ValueError, match="x_B_obs contains NaN"):
        Problem(PRIOR, sim, sim, x_A_obs=[1.0, 2.0], x_B_obs=[1.0, np.nan])
    with pytest.raises(ValueError, match="non-empty vector"):
        Problem(PRIOR, sim, sim, x_A_obs=[1.0, 2.0], x_B_obs=[])
    with pytest.raises(ValueError, match="give both x_A_obs and x_B_obs"):
        Problem(PRIOR, sim, sim, x_A_obs=[1.0, 2.0])


def test_failing_simulator_is_named():
    def broken(theta, rng):
        return 1 / 0

    with pytest.raises(ValueError, match="simulate_B failed on a trial batch.*ZeroDivisionError"):
        Problem(PRIOR, sim, broken)
    with pytest.raises(ValueError, match="simulate_A failed.*TypeError"):
        Problem(PRIOR, lambda theta: theta, sim)


def test_simulator_failing_on_every_trial_draw_is_refused():
    with pytest.raises(ValueError, match="simulate_A returned NaN or infinite values for all"):
        Problem(PRIOR, lambda theta, rng: np.full((len(theta), 2), np.nan), sim)


def test_fingerprint_changes_with_the_prior_and_the_simulator():
    base = Problem(PRIOR, sim, sim).fingerprint()
    assert Problem(PRIOR, sim, sim).fingerprint() == base
    wider = Independent(a=Uniform(-2, 2), b=Uniform(-1, 1), c=Uniform(-1, 1))
    assert Problem(wider, sim, sim).fingerprint() != base

    def shifted(theta, rng):
        return sim(theta, rng) + 1.0

    assert Problem(PRIOR, shifted, sim).fingerprint() != base
