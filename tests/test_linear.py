"""Tests of the exact linear-Gaussian model, against routes that share no code with it.

Statistical tolerances are derived from the sample sizes: a check at "4
standard errors" fails by chance with probability about 6e-5.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from accord import Problem
from accord.linear import ExactTension, LinearGaussian, _GeneralisedChiSquare

N_CONCORDANT = 200_000


def random_spd(rng: np.random.Generator, dim: int, scale: float) -> np.ndarray:
    """A correlated, well-conditioned covariance with diagonal of order ``scale``."""
    root = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    return scale * (0.5 * np.eye(dim) + 0.5 * root @ root.T)


def make_model(n_s, n_a, n_b, L_A, L_B, prior_var, noise, seed=0, correlated=True):
    """A random model and the raw arrays it was built from."""
    rng = np.random.default_rng(seed)
    cov = (lambda d, s: random_spd(rng, d, s)) if correlated else (lambda d, s: s)
    raw = dict(
        M_A=rng.normal(size=(L_A, n_s + n_a)),
        M_B=rng.normal(size=(L_B, n_s + n_b)),
        m_A=rng.normal(size=L_A),
        m_B=rng.normal(size=L_B),
        C_A=cov(L_A, noise),
        C_B=cov(L_B, noise),
        mu_shared=rng.normal(size=n_s),
        cov_shared=cov(n_s, prior_var),
    )
    if n_a:
        raw.update(mu_nuisance_A=rng.normal(size=n_a),
                   cov_nuisance_A=cov(n_a, prior_var))
    if n_b:
        raw.update(mu_nuisance_B=rng.normal(size=n_b),
                   cov_nuisance_B=cov(n_b, prior_var))
    return LinearGaussian(**raw), raw


def full_arrays(raw, n_s, n_a, n_b):
    """Design matrices on theta = [s, eta_A, eta_B], prior mean and covariances."""
    P = n_s + n_a + n_b
    design_A, design_B = np.zeros((len(raw["m_A"]), P)), np.zeros((len(raw["m_B"]), P))
    design_A[:, : n_s + n_a] = raw["M_A"]
    design_B[:, :n_s] = raw["M_B"][:, :n_s]
    design_B[:, n_s + n_a:] = raw["M_B"][:, n_s:]

    def as_cov(value, dim):
        value = np.asarray(value, dtype=float)
        return value * np.eye(dim) if value.ndim == 0 else value

    mean = np.concatenate([raw["mu_shared"], raw.get("mu_nuisance_A", []),
                           raw.get("mu_nuisance_B", [])])
    cov = np.zeros((P, P))
    cov[:n_s, :n_s] = as_cov(raw["cov_shared"], n_s)
    if n_a:
        cov[n_s:n_s + n_a, n_s:n_s + n_a] = as_cov(raw["cov_nuisance_A"], n_a)
    if n_b:
        cov[n_s + n_a:, n_s + n_a:] = as_cov(raw["cov_nuisance_B"], n_b)
    C_A, C_B = as_cov(raw["C_A"], len(raw["m_A"])), as_cov(raw["C_B"], len(raw["m_B"]))
    return design_A, design_B, mean, cov, C_A, C_B


def gaussian_log_pdf(x, mean, cov):
    """log N(x; mean, cov) for one vector x, written out."""
    return GaussianDensity(cov)(x - mean)


class GaussianDensity:
    """log N(r; 0, cov) of a residual r, with the inverse precomputed for quadrature."""

    def __init__(self, cov):
        self.precision = np.linalg.inv(cov)
        self.log_norm = -0.5 * np.linalg.slogdet(2 * np.pi * cov)[1]

    def __call__(self, residual):
        return self.log_norm - 0.5 * residual @ self.precision @ residual


# ----------------------------------------------------------------------------
# Evidences


class TestEvidenceAgainstQuadrature:
    """logZ against numerical integration of likelihood times prior, to 1e-6."""

    @staticmethod
    def log_integral(log_integrand, bounds):
        # factor out the integrand's value at the prior mean so that quad sees O(1)
        centre = np.array([0.5 * (lo + hi) for lo, hi in bounds])
        offset = log_integrand(centre)

        def f(*theta):
            return np.exp(log_integrand(np.array(theta[::-1])) - offset)

        if len(bounds) == 1:
            value = integrate.quad(f, *bounds[0], epsabs=0, epsrel=1e-11, limit=200)[0]
        else:
            (a, b), (c, d) = bounds
            value = integrate.dblquad(f, c, d, a, b, epsabs=0, epsrel=1e-9)[0]
        return offset + np.log(value)

    @staticmethod
    def box(mean, cov, width=10.0):
        sd = np.sqrt(np.diag(cov))
        return [(m - width * s, m + width * s) for m, s in zip(mean, sd)]

    @pytest.mark.parametrize("n_s, n_a, n_b",
                             [(1, 0, 0), (2, 0, 0), (1, 1, 0), (1, 0, 1)])
    def test_logZ(self, n_s, n_a, n_b):
        model, raw = make_model(n_s, n_a, n_b, L_A=3, L_B=2, prior_var=1.0, noise=0.3)
        design_A, design_B, mean, cov, C_A, C_B = full_arrays(raw, n_s, n_a, n_b)
        _, x_A, x_B = model.simulate(1, np.random.default_rng(1))
        x_A, x_B = x_A[0], x_B[0]

        prior = GaussianDensity(cov)
        like_A, like_B = GaussianDensity(C_A), GaussianDensity(C_B)

        def log_prior(theta):
            return prior(theta - mean)

        def log_like_A(theta):
            return like_A(x_A - design_A @ theta - raw["m_A"])

        def log_like_B(theta):
            return like_B(x_B - design_B @ theta - raw["m_B"])

        bounds = self.box(mean, cov)
        if n_b == 0:
            expected_A = self.log_integral(
                lambda t: log_like_A(t) + log_prior(t), bounds)
            assert abs(model.logZ_A(x_A) - expected_A) < 1e-6
        if n_a == 0:
            expected_AB = self.log_integral(
                lambda t: log_like_A(t) + log_like_B(t) + log_prior(t), bounds)
            assert abs(model.logZ_AB(x_A, x_B) - expected_AB) < 1e-6


class TestEvidenceSequentialUpdate:
    """Z_AB = Z_A P(D_B | D_A), with the posterior of A updated in parameter space."""

    @staticmethod
    def posterior(design, offset, noise_cov, mean, cov, x):
        precision = np.linalg.inv(cov) + design.T @ np.linalg.solve(noise_cov, design)
        post_cov = np.linalg.inv(precision)
        post_mean = post_cov @ (np.linalg.solve(cov, mean)
                                + design.T @ np.linalg.solve(noise_cov, x - offset))
        return post_mean, 0.5 * (post_cov + post_cov.T)

    def log_evidence(self, design, offset, noise_cov, mean, cov, x):
        # Bayes' theorem at the posterior mean: Z = L(t) pi(t) / post(t)
        post_mean, post_cov = self.posterior(design, offset, noise_cov, mean, cov, x)
        return (gaussian_log_pdf(x, design @ post_mean + offset, noise_cov)
                + gaussian_log_pdf(post_mean, mean, cov)
                - gaussian_log_pdf(post_mean, post_mean, post_cov))

    @pytest.mark.parametrize("n_s, n_a, n_b", [(2, 0, 0), (2, 1, 2)])
    @pytest.mark.parametrize("prior_var, noise, correlated", [
        (1.0, 0.1, True), (100.0, 0.01, False)])
    def test_logZ_AB(self, n_s, n_a, n_b, prior_var, noise, correlated):
        model, raw = make_model(n_s, n_a, n_b, L_A=12, L_B=9, prior_var=prior_var,
                                noise=noise, seed=3, correlated=correlated)
        design_A, design_B, mean, cov, C_A, C_B = full_arrays(raw, n_s, n_a, n_b)
        _, x_A, x_B = model.simulate(4, np.random.default_rng(2))

        results = zip(x_A, x_B, model.logZ_A(x_A), model.logZ_B(x_B),
                      model.logZ_AB(x_A, x_B))
        for a, b, got_A, got_B, got_AB in results:
            log_Z_A = self.log_evidence(design_A, raw["m_A"], C_A, mean, cov, a)
            log_Z_B = self.log_evidence(design_B, raw["m_B"], C_B, mean, cov, b)
            post_mean, post_cov = self.posterior(
                design_A, raw["m_A"], C_A, mean, cov, a)
            log_B_given_A = gaussian_log_pdf(b, design_B @ post_mean + raw["m_B"],
                                             design_B @ post_cov @ design_B.T + C_B)
            assert abs(got_A - log_Z_A) < 1e-8
            assert abs(got_B - log_Z_B) < 1e-8
            assert abs(got_AB - (log_Z_A + log_B_given_A)) < 1e-8

    def test_batch_shapes_broadcast(self):
        model, _ = make_model(2, 1, 0, L_A=5, L_B=4, prior_var=1.0, noise=0.1)
        _, x_A, x_B = model.simulate(6, np.random.default_rng(0))
        assert model.logZ_A(x_A.reshape(2, 3, 5)).shape == (2, 3)
        assert model.logZ_A(x_A[0]).shape == ()
        np.testing.assert_allclose(model.logZ_A(x_A.reshape(2, 3, 5)).ravel(),
                                   model.logZ_A(x_A), rtol=0, atol=1e-12)

        # one x_B against a batch of x_A
        logR = model.logR(x_A, x_B[0])
        assert logR.shape == (6,)
        np.testing.assert_allclose(logR, [model.logR(a, x_B[0]) for a in x_A],
                                   rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------
# The exact concordance distribution

_samples: dict[float, np.ndarray] = {}


def concordance_samples(sigma: float) -> tuple[LinearGaussian, np.ndarray]:
    """The paper's model at ``sigma`` and the exact log R of fresh concordant pairs."""
    model = LinearGaussian.paper(sigma)
    if sigma not in _samples:
        rng = np.random.default_rng(11)
        _samples[sigma] = model.concordance_sample(N_CONCORDANT, rng)
    return model, _samples[sigma]


@pytest.mark.parametrize("sigma", [0.1, 1.0, 100.0])
class TestConcordanceDistribution:

    def test_cdf_matches_empirical(self, sigma):
        model, logR = concordance_samples(sigma)
        sd = np.sqrt(model.concordance_var())
        points = model.concordance_mean() + sd * np.arange(-3, 4)
        P = model.concordance_cdf(points)

        # The empirical CDF at a fixed point is Binomial(N, P) / N, with standard
        # error sqrt(P (1 - P) / N); NP >= 1000 here, so it is close to normal
        # and 4 standard errors bound it except with probability 6e-5 per point.
        empirical = np.mean(logR[:, None] < points, axis=0)
        tolerance = 4 * np.sqrt(P * (1 - P) / N_CONCORDANT)
        assert np.all(np.abs(empirical - P) <= tolerance), (empirical, P, tolerance)
        np.testing.assert_allclose(P + model.concordance_sf(points), 1.0,
                                   rtol=0, atol=1e-12)

    def test_mean_and_variance(self, sigma):
        model, logR = concordance_samples(sigma)
        n = logR.size
        centred = logR - logR.mean()
        var = np.mean(centred**2)
        # standard errors of the sample mean and of the sample variance,
        # sqrt(var / n) and sqrt((m_4 - var^2) / n)
        se_mean = np.sqrt(var / n)
        se_var = np.sqrt((np.mean(centred**4) - var**2) / n)
        assert abs(logR.mean() - model.concordance_mean()) < 4 * se_mean
        assert abs(var - model.concordance_var()) < 4 * se_var

    def test_tension_above_two_sigma_at_the_normal_rate(self, sigma):
        # Under concordance P is uniform, so Prob(T > 2) = 4.55 %.
        # T > 2 is P < 2 norm.sf(2), i.e. log R below the matching quantile of F.
        model, logR = concordance_samples(sigma)
        rate = 2 * stats.norm.sf(2.0)
        mean, sd = model.concordance_mean(), np.sqrt(model.concordance_var())
        quantile = optimize.brentq(lambda x: model.concordance_cdf(x) - rate,
                                   mean - 10 * sd, mean, xtol=1e-10)
        fraction = np.mean(logR < quantile)
        assert abs(fraction - rate) <= 4 * np.sqrt(rate * (1 - rate) / logR.size)

    def test_closed_forms(self, sigma):
        model, _ = concordance_samples(sigma)
        rho = model.canonical_correlations
        assert rho.shape == (3,) and np.all((rho > 0) & (rho < 1))
        # the mean is the mutual information of D_A and D_B, the variance sum rho^2
        mutual_information = -0.5 * np.sum(np.log1p(-rho**2))
        assert model.concordance_mean() == pytest.approx(mutual_information, rel=1e-9)
        assert model.concordance_var() == pytest.approx(np.sum(rho**2), rel=1e-12)


class TestGeneralisedChiSquare:
    """The inversion of the characteristic function against known distributions."""

    @pytest.mark.parametrize("x", [1e-10, 1e-3, 0.5, 3.0, 50.0, 300.0])
    def test_chi_square(self, x):
        dist = _GeneralisedChiSquare(np.array([1.0]), np.zeros(1), 0.0, 0.0)
        below, above = dist.tails(x)
        assert below == pytest.approx(stats.chi2.cdf(x, 1), rel=1e-9)
        assert above == pytest.approx(stats.chi2.sf(x, 1), rel=1e-9)

    @pytest.mark.parametrize("x", [0.01, 5.0, 100.0, 300.0])
    def test_noncentral_chi_square_with_offset_and_scale(self, x):
        shifts = np.array([1.0, 0.5, 2.0])
        dist = _GeneralisedChiSquare(np.full(3, 2.0), shifts, -1.0, 0.0)
        below, above = dist.tails(x)
        z = (x + 1.0) / 2.0
        nc = np.sum(shifts**2)
        assert below == pytest.approx(stats.ncx2.cdf(z, 3, nc), rel=1e-9)
        assert above == pytest.approx(stats.ncx2.sf(z, 3, nc), rel=1e-9)

    @pytest.mark.parametrize("x", [-30.0, -3.0, -0.01, 0.4, 30.0])
    def test_laplace_from_differences_of_squares(self, x):
        # rho/2 (u1^2 - v1^2 + u2^2 - v2^2) = rho (z1 z2 + z3 z4) ~ Laplace(0, rho):
        # the shape of log R when two canonical correlations are equal
        rho = 0.8
        weights = np.array([0.4, 0.4, -0.4, -0.4])
        dist = _GeneralisedChiSquare(weights, np.zeros(4), 0.0, 0.0)
        below, above = dist.tails(x)
        assert below == pytest.approx(stats.laplace.cdf(x, scale=rho), rel=1e-9)
        assert above == pytest.approx(stats.laplace.sf(x, scale=rho), rel=1e-9)

    @pytest.mark.parametrize("x", [-20.0, -1.0, -0.1])
    def test_product_of_normals(self, x):
        # one canonical correlation: (u^2 - v^2) / 2 = z1 z2, density K_0(|x|) / pi
        dist = _GeneralisedChiSquare(np.array([0.5, -0.5]), np.zeros(2), 0.0, 0.0)
        below, _ = dist.tails(x)
        expected = 0.5 - special.iti0k0(-x)[1] / np.pi
        assert below == pytest.approx(expected, rel=1e-6)

    def test_normal_term_only(self):
        dist = _GeneralisedChiSquare(np.zeros(0), np.zeros(0), 1.0, 2.0)
        below, above = dist.tails(-10.0)
        assert below == pytest.approx(stats.norm.cdf(-10.0, 1.0, 2.0), rel=1e-12)


# ----------------------------------------------------------------------------
# The problem: simulators and likelihoods


@pytest.fixture(scope="module")
def nuisance_model():
    return make_model(2, 1, 2, L_A=4, L_B=3, prior_var=1.0, noise=0.2, seed=5)


class TestProblem:

    def test_parameters(self, nuisance_model):
        model, _ = nuisance_model
        problem = model.problem()
        assert isinstance(problem, Problem)
        assert problem.names == ("theta_0", "theta_1", "nuisance_A_0",
                                 "nuisance_B_0", "nuisance_B_1")
        assert problem.shared == ("theta_0", "theta_1")
        assert problem.nuisance_A == ("nuisance_A_0",)
        assert problem.nuisance_B == ("nuisance_B_0", "nuisance_B_1")
        assert problem.prior is model.prior
        assert (problem.length_A, problem.length_B) == (4, 3)
        assert problem.x_A_obs is None

    def test_simulators_reproduce_the_prior_predictive(self, nuisance_model):
        model, raw = nuisance_model
        design_A, design_B, mean, cov, C_A, C_B = full_arrays(raw, 2, 1, 2)
        design = np.vstack([design_A, design_B])
        exact_mean = design @ mean + np.concatenate([raw["m_A"], raw["m_B"]])
        exact_cov = design @ cov @ design.T + np.block(
            [[C_A, np.zeros((4, 3))], [np.zeros((3, 4)), C_B]])

        n = 100_000
        problem = model.problem()
        theta = problem.prior.sample(n, np.random.default_rng(7))
        x_problem = np.hstack(problem.simulate_pairs(theta, np.random.default_rng(8)))
        x_simulate = np.hstack(model.simulate(n, np.random.default_rng(9))[1:])

        # Entry (i, j) of a sample covariance has variance (S_ij^2 + S_ii S_jj) / n;
        # a sample mean, S_ii / n. 7 means and 28 covariances are checked per
        # sample, so the bound is Bonferroni-corrected to a 1e-4 family error.
        diag = np.diag(exact_cov)
        z = stats.norm.isf(1e-4 / (2 * 35))
        for x in (x_problem, x_simulate):
            assert np.all(np.abs(x.mean(0) - exact_mean) <= z * np.sqrt(diag / n))
            se_cov = np.sqrt((exact_cov**2 + np.outer(diag, diag)) / n)
            assert np.all(np.abs(np.cov(x.T) - exact_cov) <= z * se_cov)

    def test_likelihoods_match_scipy(self, nuisance_model):
        model, raw = nuisance_model
        design_A, design_B, _, _, C_A, C_B = full_arrays(raw, 2, 1, 2)
        problem = model.problem()
        theta, x_A, x_B = model.simulate(5, np.random.default_rng(4))
        for fn, design, offset, C, x in [
            (problem.log_likelihood_A, design_A, raw["m_A"], C_A, x_A[0]),
            (problem.log_likelihood_B, design_B, raw["m_B"], C_B, x_B[0]),
        ]:
            got = fn(theta, x)
            assert got.shape == (5,)
            expected = [stats.multivariate_normal.logpdf(x, design @ t + offset, C)
                        for t in theta]
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-8)
        np.testing.assert_array_equal(model.log_likelihood_A(theta, x_A[0]),
                                      problem.log_likelihood_A(theta, x_A[0]))

    def test_simulators_pickle(self, nuisance_model):
        model, _ = nuisance_model
        problem = model.problem()
        theta = model.prior.sample(3, np.random.default_rng(0))
        for fn in (problem.simulate_A, problem.simulate_B, problem.log_likelihood_A):
            copy = pickle.loads(pickle.dumps(fn))
            if fn is problem.log_likelihood_A:
                x = np.zeros(model.length_A)
                np.testing.assert_array_equal(copy(theta, x), fn(theta, x))
            else:
                np.testing.assert_array_equal(copy(theta, np.random.default_rng(1)),
                                              fn(theta, np.random.default_rng(1)))

    def test_same_seed_same_draws(self, nuisance_model):
        model, _ = nuisance_model
        first = model.simulate(10, np.random.default_rng(3))
        second = model.simulate(10, np.random.default_rng(3))
        for a, b in zip(first, second):
            np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------
# The paper's example and the tension


class TestPaper:

    def test_construction(self):
        model = LinearGaussian.paper(100.0, seed=4)
        assert model.M_A.shape == (50, 3) and model.M_B.shape == (50, 3)
        for array in (model.M_A, model.M_B, model.m_A, model.m_B, model.mean):
            assert np.all((array >= 0) & (array <= 1))
        np.testing.assert_array_equal(model.cov, 100.0 * np.eye(3))
        np.testing.assert_array_equal(model.C_A, 0.01 * np.eye(50))

    def test_observation_is_reproducible_and_shared_across_priors(self):
        narrow, wide = LinearGaussian.paper(0.1), LinearGaussian.paper(100.0)
        np.testing.assert_array_equal(narrow.x_A_obs, wide.x_A_obs)
        np.testing.assert_array_equal(narrow.theta_true, wide.theta_true)
        np.testing.assert_array_equal(narrow.x_B_obs, LinearGaussian.paper(0.1).x_B_obs)
        problem = wide.problem()
        np.testing.assert_array_equal(problem.x_A_obs, wide.x_A_obs)

    def test_tension_fields(self):
        model = LinearGaussian.paper(1.0)
        result = model.tension()
        assert isinstance(result, ExactTension)
        logR_obs = model.logR(model.x_A_obs, model.x_B_obs)
        assert result.logR_obs == pytest.approx(logR_obs, rel=1e-12)
        assert result.T == pytest.approx(stats.norm.isf(result.P / 2), rel=1e-9)
        assert result.C == pytest.approx(stats.norm.isf((1 - result.P) / 2), rel=1e-6)
        assert result.s_R == pytest.approx(stats.norm.ppf(result.P), rel=1e-9)

        batch = model.tension(np.array([result.logR_obs, 50.0]))
        assert batch.T.shape == (2,)
        # far above the concordant range: no tension, strong concordance, finite
        assert batch.T[1] == pytest.approx(0.0, abs=1e-6) and np.isfinite(batch.C[1])

    def test_tension_needs_an_observation(self, nuisance_model):
        model, _ = nuisance_model
        with pytest.raises(ValueError, match="logR_obs is required"):
            model.tension()


# ----------------------------------------------------------------------------
# Bad input


class TestValidation:

    def kwargs(self, **changes):
        raw = dict(M_A=np.ones((4, 2)), M_B=np.ones((3, 2)), m_A=0.0, m_B=0.0,
                   C_A=0.1, C_B=0.1, mu_shared=[0.0, 0.0], cov_shared=1.0)
        raw.update(changes)
        return raw

    def test_good_input(self):
        LinearGaussian(**self.kwargs())

    @pytest.mark.parametrize("changes, match", [
        (dict(M_A=np.ones((4, 3))),
         r"M_A must be a matrix of shape \(L, 2\).*got shape \(4, 3\)"),
        (dict(M_B=np.ones(3)),
         r"M_B must be a matrix of shape \(L, 2\).*got shape \(3,\)"),
        (dict(m_A=np.zeros(5)),
         r"m_A must be a scalar or a vector of shape \(4,\); got shape \(5,\)"),
        (dict(C_A=np.ones((3, 3))), r"C_A must be .*\(4, 4\); got shape \(3, 3\)"),
        (dict(C_B=[0.1, -0.1, 0.1]), r"C_B must be .*positive variances"),
        (dict(C_A=np.diag([1.0, 1.0, 1.0, 0.0]) + np.eye(4)[::-1]),
         r"C_A must be .*not positive definite"),
        (dict(cov_shared=[[1.0, 2.0], [2.0, 1.0]]),
         r"cov_shared must be .*symmetric positive-definite.*not positive definite"),
        (dict(cov_shared=[[1.0, 0.5], [0.0, 1.0]]), r"cov_shared .*non-symmetric"),
        (dict(mu_shared=[]),
         r"mu_shared must be a finite vector of shape \(n,\) with n >= 1"),
        (dict(mu_nuisance_A=[0.0]), r"mu_nuisance_A was given without cov_nuisance_A"),
        (dict(mu_nuisance_B=[0.0], cov_nuisance_B=1.0),
         r"M_B must be a matrix of shape \(L, 3\).*B-nuisance \(1\).*"
         r"got shape \(3, 2\)"),
    ])
    def test_bad_input(self, changes, match):
        with pytest.raises(ValueError, match=match):
            LinearGaussian(**self.kwargs(**changes))

    def test_bad_data(self):
        model = LinearGaussian(**self.kwargs())
        match = r"x_A must have shape \(\*, 4\).*got shape \(2, 3\)"
        with pytest.raises(ValueError, match=match):
            model.logZ_A(np.zeros((2, 3)))
        with pytest.raises(ValueError, match=r"x_B must have shape \(\*, 3\)"):
            model.logR(np.zeros(4), np.zeros(4))
        with pytest.raises(ValueError, match=r"theta must have shape \(\*, 2\)"):
            model.simulate_A(np.zeros((5, 3)), 0)
        with pytest.raises(ValueError, match="sigma must be a positive variance"):
            LinearGaussian.paper(-1.0)
