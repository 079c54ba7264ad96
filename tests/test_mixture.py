"""Mixture posteriors of the posterior estimator, against numerical integration."""

import json

import numpy as np
import pytest
import torch
from scipy import stats

import accord
from accord import FormatError, TrainingSettings, load, train
from accord._networks import GaussianPosteriorNet, PosteriorPairNet
from accord.linear import LinearGaussian


def set_mixture(net: GaussianPosteriorNet, log_weights, means, scales) -> None:
    """Make ``net`` return the same mixture for every ``x``.

    Component ``k`` has mean ``means[k] (d,)`` and precision
    ``I + diag(scales[k])**2``; the network's last layer holds them as biases.
    """
    k, d = np.shape(means)
    with torch.no_grad():
        net.weight.zero_()
        net.bias.zero_()
        net.width.copy_(torch.eye(d, dtype=torch.float64))
        net.chol0.copy_(torch.eye(d, dtype=torch.float64))
        net.offset.zero_()
        per = d + d * (d + 1) // 2
        out = np.zeros((k, per))
        out[:, :d] = means
        diag = [i * (i + 1) // 2 + i for i in range(d)]   # (i, i) in tril order
        out[:, d + np.array(diag)] = np.asarray(scales) - 1.0
        net.mlp.out.weight.zero_()
        net.mlp.out.bias.copy_(torch.as_tensor(
            np.concatenate([log_weights, out.ravel()]), dtype=torch.float32))


def mixture_density(u, log_weights, means, scales):
    """The same mixture with scipy, at ``u (n, d)``."""
    weights = np.exp(log_weights - np.logaddexp.reduce(log_weights))
    return sum(w * stats.multivariate_normal(m, np.diag(1.0 / (1.0 + np.square(s)))).pdf(u)
               for w, m, s in zip(weights, means, scales))


# Dyadic numbers, exact in the single precision of the network's last layer.
MIXTURES = {
    1: (([0.25, -0.25], [[-0.375], [1.125]], [[2.0], [3.0]]),
        ([0.0, 0.5], [[0.25], [0.875]], [[1.5], [4.0]])),
    2: (([0.25, -0.25, 0.125], [[-0.375, 0.25], [1.125, 0.0], [0.25, -0.5]],
         [[2.0, 1.0], [3.0, 2.5], [1.5, 2.0]]),
        ([0.0, 0.5, -1.0], [[0.25, 0.125], [0.875, -0.25], [-0.5, 0.375]],
         [[1.5, 2.0], [4.0, 1.0], [2.0, 3.0]])),
}


@pytest.mark.parametrize("d", [1, 2])
def test_mixture_log_r_matches_numerical_integration(d):
    spec_A, spec_B = MIXTURES[d]
    k = len(spec_A[0])
    pair = PosteriorPairNet(1, 1, d, hidden=4, n_blocks=1, n_components=k)
    set_mixture(pair.post_A, *spec_A)
    set_mixture(pair.post_B, *spec_B)

    axis = np.linspace(-5.0, 5.0, 801 if d == 1 else 301)
    grid = np.stack(np.meshgrid(*[axis] * d, indexing="ij"), -1).reshape(-1, d)
    integrand = (mixture_density(grid, *spec_A) * mixture_density(grid, *spec_B)
                 / stats.multivariate_normal(np.zeros(d)).pdf(grid))
    exact = np.log(integrand.sum() * (axis[1] - axis[0]) ** d)

    x = torch.zeros(1, 1, dtype=torch.float64)
    with torch.no_grad():
        log_r = float(pair(x, x)[0])
        log_q = pair.post_A.log_prob(torch.as_tensor(grid), x.expand(len(grid), 1)).numpy()
    np.testing.assert_allclose(np.exp(log_q), mixture_density(grid, *spec_A), rtol=1e-10)
    assert log_r == pytest.approx(exact, abs=1e-6)


@pytest.mark.parametrize("batch", [(), (5,), (2, 3)])
def test_mixture_shapes(batch):
    d, k = 2, 3
    net = GaussianPosteriorNet(4, d, hidden=8, n_blocks=1, n_components=k)
    x = torch.randn(*batch, 4, dtype=torch.float64)
    log_weight, mean, chol = net(x)
    assert log_weight.shape == (*batch, k)
    assert mean.shape == (*batch, k, d)
    assert chol.shape == (*batch, k, d, d)
    torch.testing.assert_close(log_weight.exp().sum(-1), torch.ones(batch, dtype=torch.float64))
    assert net.log_prob(torch.randn(*batch, d, dtype=torch.float64), x).shape == batch

    pair = PosteriorPairNet(4, 6, d, hidden=8, n_blocks=1, n_components=k)
    assert pair(x, torch.randn(*batch, 6, dtype=torch.float64)).shape == batch


def test_mixture_starts_from_distinct_components_near_the_fit():
    torch.manual_seed(0)
    net = GaussianPosteriorNet(3, 2, hidden=8, n_blocks=1, n_components=4)
    log_weight, mean, _ = net(torch.randn(7, 3, dtype=torch.float64))
    torch.testing.assert_close(log_weight, torch.full((7, 4), -np.log(4.0),
                                                      dtype=torch.float64))
    spread = mean - mean.mean(-2, keepdim=True)
    assert 0.0 < spread.abs().max() < 2.0


@pytest.fixture(scope="module")
def linear_problem():
    return LinearGaussian.paper(sigma=1.0, seed=0).problem()


def test_single_component_reproduces_the_gaussian_estimator(linear_problem):
    # Outputs of the single-Gaussian estimator before mixtures existed
    # (untrained epoch 0), and of the members-together trainer since, with
    # the same seeds and options: n_components=1 must leave them unchanged.
    estimator = train(linear_problem, 2000, seed=3, n_members=1, max_epochs=3, hidden=16,
                      n_blocks=1)
    sims = accord.simulate(linear_problem, 4, seed=5)
    np.testing.assert_allclose(
        estimator.log_ratio(sims.x_A, sims.x_B),
        [12.17836281, 10.01755573, 7.15502175, 11.06413],
        rtol=1e-6)
    np.testing.assert_allclose(
        estimator.history[0]["A"]["validation"],
        [-6.2738692538368035, -6.273449538564106, -6.273407957026416, -6.273501634275813],
        rtol=1e-6)
    assert "post_A.offset" not in estimator.members[0].state_dict()


def test_mixture_save_load_round_trip(linear_problem, tmp_path):
    estimator = train(linear_problem, 2000, seed=1, n_members=2, max_epochs=2, hidden=16,
                      n_blocks=1, n_components=2)
    sims = accord.simulate(linear_problem, 50, seed=2)
    estimator.save(tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert loaded.settings.n_components == 2
    assert all(m.config["n_components"] == 2 for m in loaded.members)
    np.testing.assert_array_equal(loaded.log_ratio(sims.x_A, sims.x_B, members=True),
                                  estimator.log_ratio(sims.x_A, sims.x_B, members=True))


def test_files_of_format_version_1_still_load(linear_problem, tmp_path):
    estimator = train(linear_problem, 2000, seed=1, n_members=1, max_epochs=1, hidden=8,
                      n_blocks=1)
    estimator.save(tmp_path / "m")
    description_path = tmp_path / "m" / "estimator.json"
    description = json.loads(description_path.read_text())
    description["format_version"] = 1
    del description["description_sha256"]  # version 1 had no such checksum
    del description["settings"]["n_components"]
    for member in description["members"]:
        del member["n_components"]
    description_path.write_text(json.dumps(description))

    sims = accord.simulate(linear_problem, 20, seed=2)
    np.testing.assert_array_equal(load(tmp_path / "m").log_ratio(sims.x_A, sims.x_B),
                                  estimator.log_ratio(sims.x_A, sims.x_B))


def test_newer_format_versions_are_refused(linear_problem, tmp_path):
    estimator = train(linear_problem, 500, seed=1, n_members=1, max_epochs=0)
    estimator.save(tmp_path / "m")
    description_path = tmp_path / "m" / "estimator.json"
    description = json.loads(description_path.read_text())
    description["format_version"] = 3
    description_path.write_text(json.dumps(description))
    with pytest.raises(FormatError, match="format version 3"):
        load(tmp_path / "m")


@pytest.mark.parametrize("options, match", [
    ({"n_components": 0}, "n_components must be an integer >= 1"),
    ({"n_components": 2, "hidden": 0}, "needs method='posterior' and hidden > 0"),
    ({"n_components": 2, "method": "classifier"}, "needs method='posterior'"),
])
def test_bad_n_components_is_reported(options, match):
    with pytest.raises(ValueError, match=match):
        TrainingSettings(**options)
