"""Priors: sampling, densities, transforms and their inverses."""

import numpy as np
import pytest
from scipy import stats

from accord.priors import (
    Independent,
    LogUniform,
    MultivariateNormal,
    Normal,
    Uniform,
    prior_from_dict,
)

PRIORS = {
    "uniform": Uniform(-2.0, 3.0, name="a"),
    "loguniform": LogUniform(1e-3, 10.0, name="a"),
    "normal": Normal(1.0, 0.5, name="a"),
    "mvn": MultivariateNormal([0.0, 1.0], [[1.0, 0.3], [0.3, 2.0]], names=["a", "b"]),
    "independent": Independent(
        MultivariateNormal([0.0], [[4.0]], names=["s"]), a=Uniform(0, 1), b=LogUniform(1, 2)
    ),
}


@pytest.mark.parametrize("name", PRIORS)
def test_round_trip_through_normal_coordinates(name):
    prior = PRIORS[name]
    theta = prior.sample(1000, np.random.default_rng(1))
    assert theta.shape == (1000, prior.dim)
    np.testing.assert_allclose(prior.from_normal(prior.to_normal(theta)), theta,
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", PRIORS)
def test_normal_coordinates_are_standard_normal(name):
    # Under the prior, u = to_normal(theta) is N(0, I): a KS test per column
    # at the 1e-3 level with 5000 draws.
    prior = PRIORS[name]
    u = prior.to_normal(prior.sample(5000, np.random.default_rng(2)))
    for column in u.T:
        assert stats.kstest(column, "norm").pvalue > 1e-3


@pytest.mark.parametrize("name", PRIORS)
def test_log_prob_is_the_density_of_the_transform(name):
    # theta = from_normal(u) with u ~ N(0, I), so log p(theta) must equal
    # log N(u; 0, I) - log |d theta / d u| (central differences, step 1e-6).
    prior = PRIORS[name]
    rng = np.random.default_rng(3)
    u = rng.standard_normal((200, prior.dim))
    eps = 1e-6
    theta = prior.from_normal(u)
    jac = np.empty((200, prior.dim, prior.dim))
    for j in range(prior.dim):
        step = np.zeros(prior.dim)
        step[j] = eps
        jac[:, :, j] = (prior.from_normal(u + step) - prior.from_normal(u - step)) / (2 * eps)
    log_normal = stats.norm.logpdf(u).sum(axis=1)
    expected = log_normal - np.linalg.slogdet(jac)[1]
    np.testing.assert_allclose(prior.log_prob(theta), expected, rtol=1e-5, atol=1e-5)


def test_transform_maps_unit_cube_to_quantiles():
    prior = Independent(a=Uniform(0, 4), b=LogUniform(1, 100), c=Normal(0, 2))
    np.testing.assert_allclose(prior.transform(np.array([0.25, 0.5, 0.5])), [1.0, 10.0, 0.0])


def test_outside_support_has_zero_density():
    prior = Independent(a=Uniform(0, 1), b=LogUniform(1, 2))
    assert prior.log_prob(np.array([1.5, 1.5])) == -np.inf
    assert prior.log_prob(np.array([0.5, 3.0])) == -np.inf
    assert np.isfinite(prior.log_prob(np.array([0.5, 1.5])))


def test_same_seed_same_draws():
    prior = PRIORS["independent"]
    np.testing.assert_array_equal(prior.sample(10, 5), prior.sample(10, 5))


@pytest.mark.parametrize("name", PRIORS)
def test_description_round_trip(name):
    prior = PRIORS[name]
    copy = prior_from_dict(prior.to_dict())
    theta = prior.sample(5, 0)
    assert copy.names == prior.names
    np.testing.assert_allclose(copy.log_prob(theta), prior.log_prob(theta))


def test_groups_keep_correlated_blocks_together():
    assert PRIORS["independent"].groups == (("s",), ("a",), ("b",))
    assert PRIORS["mvn"].groups == (("a", "b"),)


@pytest.mark.parametrize("make, match", [
    (lambda: Uniform(1.0, 0.0), "low < high"),
    (lambda: LogUniform(0.0, 1.0), "0 < low"),
    (lambda: Normal(0.0, -1.0), "scale > 0"),
    (lambda: MultivariateNormal([0, 0], [[1, 2], [2, 1]]), "positive definite"),
    (lambda: MultivariateNormal([0, 0], [[1, 0], [0.5, 1]]), "symmetric"),
    (lambda: MultivariateNormal([0, 0], np.eye(3)), r"shape \(2, 2\)"),
    (lambda: Independent(Uniform(0, 1)), "needs a name"),
    (lambda: Independent(Uniform(0, 1, name="a"), a=Uniform(0, 1)), "unique"),
    (lambda: Independent(a=MultivariateNormal([0], [[1]])), "one-dimensional"),
])
def test_bad_parameters_are_named(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_wrong_theta_shape_is_reported():
    with pytest.raises(ValueError, match=r"shape \(\*, 2\)"):
        PRIORS["mvn"].log_prob(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="non-negative integer"):
        PRIORS["mvn"].sample(-1)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        PRIORS["mvn"].sample(3, rng="seed")
