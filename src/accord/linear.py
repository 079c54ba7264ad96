"""The exact linear-Gaussian pair of experiments: the project's oracle.

Two experiments measure linear functions of shared parameters ``s`` and of
nuisance parameters of their own, ``eta_A`` and ``eta_B``, with Gaussian noise:

.. math::

    D_A = M_A \\begin{pmatrix} s \\\\ \\eta_A \\end{pmatrix} + m_A + n_A,
    \\qquad
    D_B = M_B \\begin{pmatrix} s \\\\ \\eta_B \\end{pmatrix} + m_B + n_B,

with :math:`n_A \\sim \\mathcal{N}(0, C_A)`, :math:`n_B \\sim \\mathcal{N}(0, C_B)`
and independent Gaussian priors on the three blocks. Every evidence is then a
Gaussian density of the data, so log R of any pair, and the whole distribution
of log R over concordant pairs, are known exactly. That makes the model the
reference against which the estimators of log R and the calibration are tested
(section 5.1 of Bevins, Handley & Gessey-Jones 2024, arXiv:2407.15478).

Examples
--------
>>> import numpy as np
>>> from accord.linear import LinearGaussian
>>> model = LinearGaussian.paper(sigma=1.0)
>>> model.names
('theta_0', 'theta_1', 'theta_2')
>>> theta, x_A, x_B = model.simulate(4, np.random.default_rng(1))
>>> x_A.shape, model.logR(x_A, x_B).shape
((4, 50), (4,))
>>> result = model.tension()
>>> bool(0.0 < result.P < 1.0)
True
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import numpy as np
from scipy import integrate, linalg, optimize, stats

from ._validation import check_last_axis
from .exceptions import AccordWarning
from .priors import Independent, MultivariateNormal, as_rng
from .problem import Problem

__all__ = ["LinearGaussian", "ExactTension"]

RNG = np.random.Generator | int | None

_LOG_2PI = math.log(2.0 * math.pi)
_CHUNK = 32768  # rows per block when evaluating densities, to bound memory
_MAX_RELATIVE_ERROR = 1e-6  # of a CDF tail, beyond which a warning is issued


# --------------------------------------------------------------------------
# Input validation


def _as_matrix(name: str, value: Any, cols: int, what: str) -> np.ndarray:
    matrix = np.asarray(value, dtype=float)
    if matrix.ndim != 2 or matrix.shape[1] != cols:
        raise ValueError(
            f"{name} must be a matrix of shape (L, {cols}), {what}; "
            f"got shape {matrix.shape}"
        )
    if matrix.shape[0] == 0 or not np.all(np.isfinite(matrix)):
        raise ValueError(f"{name} must be a non-empty matrix of finite numbers")
    return matrix


def _as_vector(name: str, value: Any, length: int) -> np.ndarray:
    vector = np.asarray(value, dtype=float)
    if vector.ndim == 0:
        vector = np.full(length, float(vector))
    if vector.shape != (length,):
        raise ValueError(
            f"{name} must be a scalar or a vector of shape ({length},); "
            f"got shape {vector.shape}"
        )
    if not np.all(np.isfinite(vector)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return vector


def _as_covariance(name: str, value: Any, dim: int) -> np.ndarray:
    """A symmetric positive-definite ``(dim, dim)`` matrix from a scalar, vector
    or matrix."""
    accepted = (
        f"a positive scalar (times the identity), a vector ({dim},) of positive "
        f"variances, or a symmetric positive-definite matrix ({dim}, {dim})"
    )
    cov = np.asarray(value, dtype=float)
    if cov.ndim == 0:
        cov = np.full(dim, float(cov))
    if cov.ndim == 1 and cov.shape == (dim,):
        if not np.all(np.isfinite(cov) & (cov > 0.0)):
            raise ValueError(f"{name} must be {accepted}; got variances {cov}")
        return np.diag(cov)
    if cov.shape != (dim, dim):
        raise ValueError(f"{name} must be {accepted}; got shape {cov.shape}")
    if not np.all(np.isfinite(cov)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if np.max(np.abs(cov - cov.T)) > 1e-10 * np.max(np.abs(cov)):
        raise ValueError(f"{name} must be {accepted}; got a non-symmetric matrix")
    cov = 0.5 * (cov + cov.T)
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        smallest = float(np.linalg.eigvalsh(cov)[0])
        raise ValueError(
            f"{name} must be {accepted}; got a matrix of shape {cov.shape} that is "
            f"not positive definite (smallest eigenvalue {smallest:.3g})"
        ) from None
    return cov


def _as_data(name: str, value: Any, length: int) -> np.ndarray:
    return check_last_axis(name, value, length, what="data point")


def _as_theta(theta: Any, dim: int) -> np.ndarray:
    return check_last_axis("theta", theta, dim)


# --------------------------------------------------------------------------
# Gaussian densities and the picklable simulators and likelihoods


class _Gaussian:
    """A multivariate normal density evaluated through its Cholesky factor."""

    def __init__(self, mean: np.ndarray, cov: np.ndarray) -> None:
        self.mean, self.cov = mean, cov
        self.chol = np.linalg.cholesky(cov)
        self.log_det = 2.0 * float(np.sum(np.log(np.diag(self.chol))))

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """``log N(x; mean, cov)`` for ``x (*, L)``, shape ``(*,)``."""
        return _log_normal(x - self.mean, self.chol, self.log_det)


def _log_normal(residual: np.ndarray, chol: np.ndarray, log_det: float) -> np.ndarray:
    """``log N(residual; 0, chol chol^T)`` for ``residual (*, L)``, by row blocks."""
    length = chol.shape[0]
    flat = residual.reshape(-1, length)
    out = np.empty(flat.shape[0])
    for start in range(0, flat.shape[0], _CHUNK):
        block = flat[start:start + _CHUNK].T
        z = linalg.solve_triangular(chol, block, lower=True, check_finite=False)
        out[start:start + _CHUNK] = -0.5 * np.sum(z**2, axis=0)
    out -= 0.5 * (log_det + length * _LOG_2PI)
    return out.reshape(residual.shape[:-1])


class _LinearExperiment:
    """One experiment, ``x = M theta[..., columns] + m + noise``, noise ~ N(0, C).

    A module-level class holding arrays: its bound methods pickle, so the
    simulators can run in a process pool.
    """

    def __init__(
        self, M: np.ndarray, m: np.ndarray, C: np.ndarray, columns: np.ndarray
    ) -> None:
        self.M, self.m, self.columns = M, m, columns
        self.chol = np.linalg.cholesky(C)
        self.log_det = 2.0 * float(np.sum(np.log(np.diag(self.chol))))
        # a diagonal noise covariance scales the draws instead of a matrix product
        diagonal = not np.any(C - np.diag(np.diag(C)))
        self.noise_sd = np.sqrt(np.diag(C)) if diagonal else None

    def mean(self, theta: np.ndarray) -> np.ndarray:
        return theta[..., self.columns] @ self.M.T + self.m

    def simulate(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Data for ``theta (*, P)``, shape ``(*, L)``."""
        theta = np.asarray(theta, dtype=float)
        z = as_rng(rng).standard_normal(theta.shape[:-1] + (self.m.size,))
        noise = z * self.noise_sd if self.noise_sd is not None else z @ self.chol.T
        return self.mean(theta) + noise

    def log_likelihood(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``log N(x; M theta + m, C)`` for ``theta (*, P)``, ``x (*, L)``; ``(*,)``."""
        theta = np.asarray(theta, dtype=float)
        residual = np.asarray(x, dtype=float) - self.mean(theta)
        return _log_normal(residual, self.chol, self.log_det)


# --------------------------------------------------------------------------
# The generalised chi-square distribution


class _GeneralisedChiSquare:
    """The generalised chi-square distribution, computed to full relative accuracy.

    :math:`Q = c + \\sum_i \\lambda_i (w_i - \\delta_i)^2 + s z` with ``weights``
    :math:`\\lambda`, ``shifts`` :math:`\\delta`, ``const`` :math:`c`, ``scale``
    :math:`s` and independent standard normals :math:`w_i, z`. The CDF is the
    inverse Laplace transform of the moment generating function
    :math:`M(\\kappa) = e^{K(\\kappa)}`, integrated along the vertical line
    :math:`\\kappa = a + iy`:

    .. math::

        \\Pr(Q > x) = \\frac{1}{\\pi} \\int_0^\\infty
            \\operatorname{Re} \\frac{e^{K(a + iy) - (a + iy) x}}{a + iy} \\, dy
            \\quad (a > 0),
        \\qquad
        \\Pr(Q < x) = -\\frac{1}{\\pi} \\int_0^\\infty (\\dots) \\, dy \\quad (a < 0).

    At :math:`a \\to 0` this is the Gil-Pelaez formula. Moving the line to
    the saddle point of :math:`K(a) - a x - \\log|a|` returns the smaller tail
    directly, without the cancellation of ``1/2 - (1/2 - tail)``, so it keeps
    its relative accuracy far into the tails.
    """

    def __init__(
        self, weights: np.ndarray, shifts: np.ndarray, const: float, scale: float
    ) -> None:
        keep = np.abs(weights) > 0.0
        self.weights, self.shifts = weights[keep], shifts[keep]
        self.const, self.scale = float(const), abs(float(scale))
        positive = self.weights[self.weights > 0]
        negative = self.weights[self.weights < 0]

        # the moment generating function exists for 1 - 2 w kappa > 0
        self.kappa_max = 0.5 / positive.max() if positive.size else np.inf
        self.kappa_min = 0.5 / negative.min() if negative.size else -np.inf

        # without a normal term, weights of one sign bound the support at const
        bounded = self.scale == 0
        self.lower_bound = self.const if bounded and not negative.size else -np.inf
        self.upper_bound = self.const if bounded and not positive.size else np.inf

    @property
    def mean(self) -> float:
        return self.const + float(np.sum(self.weights * (1.0 + self.shifts**2)))

    @property
    def var(self) -> float:
        w, d = self.weights, self.shifts
        return self.scale**2 + float(np.sum(2.0 * w**2 * (1.0 + 2.0 * d**2)))

    def _cgf(self, kappa: complex | float) -> complex:
        """The cumulant generating function ``K(kappa)``, principal branch."""
        w, d2 = self.weights, self.shifts**2
        one_minus = 1.0 - 2.0 * w * kappa
        return (
            kappa * self.const + 0.5 * self.scale**2 * kappa**2
            + np.sum(-0.5 * np.log(one_minus) + w * d2 * kappa / one_minus)
        )

    def _cgf2(self, a: float) -> float:
        """The second derivative of ``K`` at a real point ``a``."""
        w, d2 = self.weights, self.shifts**2
        one_minus = 1.0 - 2.0 * w * a
        terms = 2 * w**2 / one_minus**2 + 4 * w**2 * d2 / one_minus**3
        return self.scale**2 + float(np.sum(terms))

    def _saddle(self, x: float, sign: int) -> float:
        """The point ``a`` of the integration line, on the side ``sign`` of zero."""
        sd = math.sqrt(self.var)
        edge = abs(self.kappa_max if sign > 0 else self.kappa_min)
        t_high = math.log(edge) - 1e-9 if np.isfinite(edge) else math.log(1e8 / sd)
        t_low = min(math.log(1e-8 / sd), t_high - 1.0)

        def objective(t: float) -> float:
            a = sign * math.exp(t)
            return float(np.real(self._cgf(a))) - a * x - t

        # K(a) - a x - log|a| is convex in a on each side of zero, hence unimodal in t
        found = optimize.minimize_scalar(
            objective, bounds=(t_low, t_high), method="bounded",
            options={"xatol": 1e-10},
        )
        return sign * math.exp(found.x)

    def _tail(self, x: float, sign: int) -> float:
        """``Pr(Q > x)`` for ``sign = +1``, ``Pr(Q < x)`` for ``sign = -1``."""
        a = self._saddle(x, sign)
        log_peak = float(np.real(self._cgf(a))) - a * x
        # the constant's phase exp(i y (const - x)) is kept apart, as a Fourier weight
        omega = self.const - x
        cgf_a = self._cgf(a) - a * self.const

        def h(y: float) -> complex:
            kappa = complex(a, y)
            ratio = np.exp(self._cgf(kappa) - kappa * self.const - cgf_a)
            return ratio * abs(a) / kappa

        def integrand(y: float) -> float:
            return float(np.real(h(y) * np.exp(1j * omega * y)))

        def real(y: float) -> float:
            return float(np.real(h(y)))

        def imag(y: float) -> float:
            return float(-np.sign(omega) * np.imag(h(y)))

        # Near the line's real point, plain adaptive quadrature on the integrand's
        # own scales. Beyond, h decays algebraically and smoothly, and QAWF
        # integrates the slowly decaying oscillation, Re[h e^{i omega y}] =
        # Re h cos(omega y) - Im h sin(omega y), that defeats plain quadrature.
        width = 1.0 / math.sqrt(self._cgf2(a) + 1.0 / a**2)
        tolerance = 1e-13 * width  # the integral is of order width
        start = 30.0 * width
        with warnings.catch_warnings():
            # quad's warnings are replaced by one check of the summed error estimates
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            pieces = [
                integrate.quad(integrand, lo, hi, epsabs=tolerance, epsrel=1e-11,
                               limit=200)
                for lo, hi in [(0.0, 3.0 * width), (3.0 * width, start)]
            ]
            if abs(omega) * start < 1e-3:
                pieces.append(integrate.quad(integrand, start, np.inf,
                                             epsabs=tolerance, limit=400))
            else:
                pieces += [
                    integrate.quad(part, start, np.inf, weight=weight, wvar=abs(omega),
                                   epsabs=tolerance, limlst=100)
                    for part, weight in [(real, "cos"), (imag, "sin")]
                ]
        total = sum(value for value, _ in pieces)
        error = sum(error for _, error in pieces)

        tail = sign * math.exp(log_peak) / abs(a) * total / math.pi
        if not error <= _MAX_RELATIVE_ERROR * abs(total):
            relative = error / abs(total) if total else np.inf
            warnings.warn(
                f"the probability of log R beyond {x:.6g} has an estimated relative "
                f"error of {relative:.1e}: the numerical inversion of the "
                f"characteristic function did not converge; treat it with caution",
                AccordWarning, stacklevel=5,
            )
        return min(max(tail, 0.0), 1.0)

    def tails(self, x: float) -> tuple[float, float]:
        """``(Pr(Q < x), Pr(Q > x))``, each with relative accuracy in its tail."""
        if x <= self.lower_bound:
            return 0.0, 1.0
        if x >= self.upper_bound:
            return 1.0, 0.0
        if self.weights.size == 0:
            below = float(stats.norm.cdf(x, self.const, self.scale))
            above = float(stats.norm.sf(x, self.const, self.scale))
            return below, above
        if x <= self.mean:
            below = self._tail(x, -1)
            return below, 1.0 - below
        above = self._tail(x, +1)
        return 1.0 - above, above


# --------------------------------------------------------------------------
# The model


@dataclasses.dataclass(frozen=True)
class ExactTension:
    """The exact calibration of an observed log R (docs/method.md).

    Attributes
    ----------
    logR_obs : float or array
        The observed log evidence ratio.
    P : float or array
        :math:`F(\\log R_{obs})`, the probability that a concordant pair has a
        smaller log R.
    T : float or array
        Tension in sigma, :math:`\\Phi^{-1}(1 - P/2)`.
    C : float or array
        Concordance in sigma, :math:`\\Phi^{-1}(1 - (1 - P)/2)`.
    s_R : float or array
        Signed surprise, :math:`\\Phi^{-1}(P)`.
    """

    logR_obs: Any
    P: Any
    T: Any
    C: Any
    s_R: Any


class LinearGaussian:
    """A pair of linear experiments with Gaussian noise and a Gaussian prior.

    The parameters are ``theta = [s, eta_A, eta_B]``: ``n_s`` shared
    parameters, then ``n_a`` nuisance parameters of A and ``n_b`` of B (either
    may be zero). The data are

    .. math::

        D_A = M_A [s; \\eta_A] + m_A + n_A, \\quad n_A \\sim \\mathcal{N}(0, C_A),
        \\qquad
        D_B = M_B [s; \\eta_B] + m_B + n_B, \\quad n_B \\sim \\mathcal{N}(0, C_B),

    and the prior is :math:`s \\sim \\mathcal{N}(\\mu_s, \\Sigma_s)`,
    :math:`\\eta_A \\sim \\mathcal{N}(\\mu_a, \\Sigma_a)`,
    :math:`\\eta_B \\sim \\mathcal{N}(\\mu_b, \\Sigma_b)`, independently. The
    blocks must be independent a priori: the estimators of log R use
    :math:`R = \\int P_A(s) P_B(s) / \\pi(s) \\, ds` over the shared parameters.

    Parameters
    ----------
    M_A : array (L_A, n_s + n_a)
        Design matrix of A; its columns act on ``[s, eta_A]``.
    M_B : array (L_B, n_s + n_b)
        Design matrix of B; its columns act on ``[s, eta_B]``.
    m_A, m_B : array (L_A,), (L_B,) or scalar
        Offsets of the data.
    C_A, C_B : array (L, L), (L,) or scalar
        Noise covariances: a matrix, a vector of variances, or a variance
        times the identity.
    mu_shared : array (n_s,)
        Prior mean of the shared parameters.
    cov_shared : array (n_s, n_s), (n_s,) or scalar
        Prior covariance of the shared parameters.
    mu_nuisance_A, mu_nuisance_B : array (n_a,), (n_b,), optional
        Prior means of the nuisance parameters; ``n_a`` and ``n_b`` are their
        lengths (zero when omitted).
    cov_nuisance_A, cov_nuisance_B : array, optional
        Prior covariances of the nuisance parameters, given with their means.

    Attributes
    ----------
    prior : accord.priors.Independent
        Gaussian blocks named ``theta_i``, ``nuisance_A_i`` and ``nuisance_B_i``.
    names : tuple of str
        The P parameter names, shared first.
    mean, cov : array (P,), (P, P)
        The prior mean and (block-diagonal) covariance of ``theta``.
    n_shared, n_nuisance_A, n_nuisance_B, length_A, length_B : int
        ``n_s``, ``n_a``, ``n_b``, ``L_A`` and ``L_B``.
    canonical_correlations : array (k,)
        The non-zero canonical correlations :math:`\\rho_i` of D_A and D_B
        under the prior predictive, ``k <= n_s``; they fix the concordance
        distribution of log R (see :meth:`concordance_cdf`).
    x_A_obs, x_B_obs, theta_true : array or None
        A default observation, set by :meth:`paper`; None otherwise.

    Notes
    -----
    The evidences are the prior-predictive densities,

    .. math::

        Z_A = \\mathcal{N}(D_A; \\bar{A} \\mu + m_A, \\bar{A} \\Sigma \\bar{A}^T + C_A),

    with :math:`\\bar{A}` the matrix :math:`M_A` placed in the columns of
    ``[s, eta_A]``, and :math:`Z_{AB}` the joint density of :math:`[D_A; D_B]`,
    whose cross-covariance is :math:`\\bar{A} \\Sigma \\bar{B}^T`. They are
    evaluated with Cholesky factors in float64; with a prior covariance of
    100 I and a noise of 0.01 I the prior predictive covariances have
    condition numbers of order 1e5, far from trouble.

    References
    ----------
    Bevins, Handley & Gessey-Jones (2024), "Calibrating Bayesian Tension
    Statistics using Neural Ratio Estimation", arXiv:2407.15478.

    Examples
    --------
    >>> import numpy as np
    >>> from accord.linear import LinearGaussian
    >>> model = LinearGaussian(
    ...     M_A=[[1.0, 0.5], [0.2, 1.0]], M_B=[[1.0], [2.0], [0.5]],
    ...     m_A=0.0, m_B=0.0, C_A=0.1, C_B=0.2,
    ...     mu_shared=[0.0], cov_shared=1.0,
    ...     mu_nuisance_A=[0.0], cov_nuisance_A=1.0,
    ... )
    >>> model.names
    ('theta_0', 'nuisance_A_0')
    >>> problem = model.problem()
    >>> problem.shared, problem.nuisance_A, problem.nuisance_B
    (('theta_0',), ('nuisance_A_0',), ())
    >>> float(np.round(model.logR([0.1, 0.2], [0.1, 0.3, 0.0]), 4))
    0.8796
    """

    def __init__(
        self,
        M_A: Any,
        M_B: Any,
        m_A: Any,
        m_B: Any,
        C_A: Any,
        C_B: Any,
        *,
        mu_shared: Any,
        cov_shared: Any,
        mu_nuisance_A: Any = None,
        cov_nuisance_A: Any = None,
        mu_nuisance_B: Any = None,
        cov_nuisance_B: Any = None,
    ) -> None:
        mu_s = self._check_mean("mu_shared", mu_shared, required=True)
        mu_a = self._check_mean("mu_nuisance_A", mu_nuisance_A, required=False)
        mu_b = self._check_mean("mu_nuisance_B", mu_nuisance_B, required=False)
        n_s, n_a, n_b = mu_s.size, mu_a.size, mu_b.size
        self.n_shared, self.n_nuisance_A, self.n_nuisance_B = n_s, n_a, n_b

        # prior blocks
        blocks = [("shared", mu_s, cov_shared, "theta"),
                  ("nuisance_A", mu_a, cov_nuisance_A, "nuisance_A"),
                  ("nuisance_B", mu_b, cov_nuisance_B, "nuisance_B")]
        components, covs = [], []
        for label, mu, cov, prefix in blocks:
            if mu.size == 0:
                if cov is not None:
                    raise ValueError(
                        f"cov_{label} was given without mu_{label}; "
                        f"pass both or neither"
                    )
                continue
            if cov is None:
                raise ValueError(f"mu_{label} was given without cov_{label}; pass both")
            cov = _as_covariance(f"cov_{label}", cov, mu.size)
            covs.append(cov)
            names = [f"{prefix}_{i}" for i in range(mu.size)]
            components.append(MultivariateNormal(mu, cov, names=names))
        self.prior = Independent(*components)
        self.names: tuple[str, ...] = self.prior.names
        self.mean = np.concatenate([mu_s, mu_a, mu_b])
        self.cov = linalg.block_diag(*covs)

        # experiments
        shared = np.arange(n_s)
        self.columns_A = np.concatenate([shared, n_s + np.arange(n_a)])
        self.columns_B = np.concatenate([shared, n_s + n_a + np.arange(n_b)])
        self.M_A = _as_matrix("M_A", M_A, n_s + n_a, f"one column per shared "
                              f"({n_s}) and A-nuisance ({n_a}) parameter")
        self.M_B = _as_matrix("M_B", M_B, n_s + n_b, f"one column per shared "
                              f"({n_s}) and B-nuisance ({n_b}) parameter")
        self.length_A, self.length_B = self.M_A.shape[0], self.M_B.shape[0]
        self.m_A = _as_vector("m_A", m_A, self.length_A)
        self.m_B = _as_vector("m_B", m_B, self.length_B)
        self.C_A = _as_covariance("C_A", C_A, self.length_A)
        self.C_B = _as_covariance("C_B", C_B, self.length_B)

        self._A = _LinearExperiment(self.M_A, self.m_A, self.C_A, self.columns_A)
        self._B = _LinearExperiment(self.M_B, self.m_B, self.C_B, self.columns_B)
        self._build_evidences()

        self.x_A_obs: np.ndarray | None = None
        self.x_B_obs: np.ndarray | None = None
        self.theta_true: np.ndarray | None = None

    @staticmethod
    def _check_mean(name: str, value: Any, *, required: bool) -> np.ndarray:
        if value is None and not required:
            return np.zeros(0)
        mean = np.atleast_1d(np.asarray(value, dtype=float))
        empty = required and mean.size == 0
        if mean.ndim != 1 or empty or not np.all(np.isfinite(mean)):
            raise ValueError(
                f"{name} must be a finite vector of shape (n,)"
                f"{' with n >= 1' if required else ''}; got shape {mean.shape}"
            )
        return mean

    def _build_evidences(self) -> None:
        """The prior-predictive Gaussians of D_A, D_B and [D_A; D_B]."""
        P = self.mean.size
        design_A = np.zeros((self.length_A, P))
        design_A[:, self.columns_A] = self.M_A
        design_B = np.zeros((self.length_B, P))
        design_B[:, self.columns_B] = self.M_B
        design = np.vstack([design_A, design_B])

        mean = design @ self.mean + np.concatenate([self.m_A, self.m_B])
        cov = design @ self.cov @ design.T + linalg.block_diag(self.C_A, self.C_B)
        cov = 0.5 * (cov + cov.T)
        L_A = self.length_A
        self._evidence_AB = _Gaussian(mean, cov)
        self._evidence_A = _Gaussian(mean[:L_A], cov[:L_A, :L_A])
        self._evidence_B = _Gaussian(mean[L_A:], cov[L_A:, L_A:])

        # Whitened, the cross-covariance's singular values are the canonical
        # correlations rho_i of D_A and D_B; log R is c + sum rho_i/2 (u_i^2 - v_i^2).
        chol_A, chol_B = self._evidence_A.chol, self._evidence_B.chol
        cross = linalg.solve_triangular(chol_A, cov[:L_A, L_A:], lower=True)
        cross = linalg.solve_triangular(chol_B, cross.T, lower=True).T
        # the cross-covariance has rank n_s at most; further values are round-off
        rho = linalg.svdvals(cross)[:self.n_shared]
        rho = rho[rho > 1e-12]
        const = 0.5 * (self._evidence_A.log_det + self._evidence_B.log_det
                       - self._evidence_AB.log_det)
        self.canonical_correlations = rho
        weights = np.concatenate([0.5 * rho, -0.5 * rho])
        self._distribution = _GeneralisedChiSquare(
            weights, np.zeros_like(weights), const, 0.0)

    # ----------------------------------------------------------------------
    # Construction of the paper's example

    @classmethod
    def paper(
        cls,
        sigma: float = 1.0,
        *,
        n_params: int = 3,
        n_data: int = 50,
        noise: float = 0.01,
        seed: int = 0,
    ) -> LinearGaussian:
        """The analytic example of arXiv:2407.15478, with an observation.

        The entries of ``M_A``, ``M_B`` (``(n_data, n_params)``), ``m_A``,
        ``m_B`` and of the prior mean are uniform on [0, 1], drawn in that
        order from ``np.random.default_rng(seed)``; the noise covariance is
        ``noise * I`` and the prior covariance ``sigma * I``. The same
        generator then draws the default observation with :meth:`observe`,
        so that it does not depend on ``sigma``.

        Parameters
        ----------
        sigma : float
            Prior covariance scale, :math:`\\Sigma = \\sigma I` (the paper
            uses 0.1, 1 and 100).
        n_params : int
            Number of (shared) parameters.
        n_data : int
            Number of data points of each experiment.
        noise : float
            Noise variance of each data point.
        seed : int
            Seed of the matrices, offsets, prior mean and observation.

        Examples
        --------
        >>> from accord.linear import LinearGaussian
        >>> model = LinearGaussian.paper(100.0)
        >>> model.x_A_obs.shape, model.theta_true.shape
        ((50,), (3,))
        """
        for label, value in [("n_params", n_params), ("n_data", n_data)]:
            is_integer = isinstance(value, (int, np.integer))
            if isinstance(value, bool) or not is_integer or value < 1:
                raise ValueError(f"{label} must be a positive integer; got {value!r}")
        for label, value in [("sigma", sigma), ("noise", noise)]:
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{label} must be a positive variance; got {value!r}")
        rng = np.random.default_rng(seed)
        M_A = rng.uniform(size=(n_data, n_params))
        M_B = rng.uniform(size=(n_data, n_params))
        m_A = rng.uniform(size=n_data)
        m_B = rng.uniform(size=n_data)
        mu = rng.uniform(size=n_params)
        model = cls(M_A, M_B, m_A, m_B, noise, noise, mu_shared=mu, cov_shared=sigma)
        model.theta_true, model.x_A_obs, model.x_B_obs = model.observe(rng)
        return model

    def observe(
        self, rng: RNG, theta_scale: float = 0.01
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw a true parameter near the prior mean and the data it gives.

        ``theta_true ~ N(mean, theta_scale * I)``, then one ``x_A`` and one
        ``x_B`` from it (arXiv:2407.15478).

        Parameters
        ----------
        rng : numpy.random.Generator or int or None
            Source of the draws.
        theta_scale : float
            Variance of ``theta_true`` about the prior mean.

        Returns
        -------
        theta_true : array (P,)
        x_A_obs : array (L_A,)
        x_B_obs : array (L_B,)
        """
        if not (np.isfinite(theta_scale) and theta_scale > 0):
            raise ValueError(
                f"theta_scale must be a positive variance; got {theta_scale!r}")
        rng = as_rng(rng)
        theta = self.mean + math.sqrt(theta_scale) * rng.standard_normal(self.mean.size)
        x_A = self._A.simulate(theta[None], rng)[0]
        x_B = self._B.simulate(theta[None], rng)[0]
        return theta, x_A, x_B

    # ----------------------------------------------------------------------
    # Simulation

    @property
    def dim(self) -> int:
        """Number of parameters, P = n_s + n_a + n_b."""
        return self.mean.size

    def problem(
        self, x_A_obs: Any = None, x_B_obs: Any = None, *, name: str = "linear_gaussian"
    ) -> Problem:
        """The model as an :class:`accord.Problem`.

        Parameters
        ----------
        x_A_obs, x_B_obs : array (L_A,), (L_B,), optional
            The observed data; by default the model's own observation
            (set by :meth:`paper`), if any.
        name : str
            Label of the problem.

        Returns
        -------
        Problem
            With this model's prior, vectorised picklable simulators
            ``simulate_A(theta (n, P), rng) -> (n, L_A)``, the matching
            Gaussian likelihoods, and ``params_A``/``params_B`` naming the
            shared and own nuisance parameters of each experiment.
        """
        x_A_obs = self.x_A_obs if x_A_obs is None else x_A_obs
        x_B_obs = self.x_B_obs if x_B_obs is None else x_B_obs
        return Problem(
            self.prior,
            self._A.simulate,
            self._B.simulate,
            params_A=[self.names[i] for i in self.columns_A],
            params_B=[self.names[i] for i in self.columns_B],
            x_A_obs=x_A_obs,
            x_B_obs=x_B_obs,
            log_likelihood_A=self._A.log_likelihood,
            log_likelihood_B=self._B.log_likelihood,
            name=name,
        )

    def simulate_A(self, theta: Any, rng: RNG) -> np.ndarray:
        """Data of A for parameters ``theta (*, P)``, shape ``(*, L_A)``."""
        return self._A.simulate(_as_theta(theta, self.dim), as_rng(rng))

    def simulate_B(self, theta: Any, rng: RNG) -> np.ndarray:
        """Data of B for parameters ``theta (*, P)``, shape ``(*, L_B)``."""
        return self._B.simulate(_as_theta(theta, self.dim), as_rng(rng))

    def log_likelihood_A(self, theta: Any, x_A: Any) -> np.ndarray:
        """``log P(x_A | theta)`` for ``theta (*, P)``, ``x_A (*, L_A)``; ``(*,)``."""
        x_A = _as_data("x_A", x_A, self.length_A)
        return self._A.log_likelihood(_as_theta(theta, self.dim), x_A)

    def log_likelihood_B(self, theta: Any, x_B: Any) -> np.ndarray:
        """``log P(x_B | theta)`` for ``theta (*, P)``, ``x_B (*, L_B)``; ``(*,)``."""
        x_B = _as_data("x_B", x_B, self.length_B)
        return self._B.log_likelihood(_as_theta(theta, self.dim), x_B)

    def simulate(
        self, n: int, rng: RNG
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw ``n`` concordant triples: ``theta`` from the prior, both data from it.

        Returns
        -------
        theta : array (n, P)
        x_A : array (n, L_A)
        x_B : array (n, L_B)
        """
        rng = as_rng(rng)
        theta = self.prior.sample(n, rng)
        return theta, self._A.simulate(theta, rng), self._B.simulate(theta, rng)

    def concordance_sample(self, n: int, rng: RNG) -> np.ndarray:
        """Exact log R of ``n`` simulated concordant pairs, shape ``(n,)``."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be a non-negative integer; got {n!r}")
        rng = as_rng(rng)
        out = np.empty(int(n))
        for start in range(0, int(n), _CHUNK):
            _, x_A, x_B = self.simulate(min(_CHUNK, int(n) - start), rng)
            out[start:start + _CHUNK] = self.logR(x_A, x_B)
        return out

    # ----------------------------------------------------------------------
    # Exact evidences

    def logZ_A(self, x_A: Any) -> np.ndarray:
        """Log evidence of A, :math:`\\log P(x_A)`, for ``x_A (*, L_A)``; ``(*,)``."""
        return self._evidence_A.log_pdf(_as_data("x_A", x_A, self.length_A))

    def logZ_B(self, x_B: Any) -> np.ndarray:
        """Log evidence of B, :math:`\\log P(x_B)`, for ``x_B (*, L_B)``; ``(*,)``."""
        return self._evidence_B.log_pdf(_as_data("x_B", x_B, self.length_B))

    def logZ_AB(self, x_A: Any, x_B: Any) -> np.ndarray:
        """Joint log evidence :math:`\\log P(x_A, x_B)`; batch shapes broadcast.

        Parameters
        ----------
        x_A : array (*, L_A)
        x_B : array (*, L_B)

        Returns
        -------
        array (*,)
        """
        x_A = _as_data("x_A", x_A, self.length_A)
        x_B = _as_data("x_B", x_B, self.length_B)
        batch = np.broadcast_shapes(x_A.shape[:-1], x_B.shape[:-1])
        x = np.concatenate([
            np.broadcast_to(x_A, batch + (self.length_A,)),
            np.broadcast_to(x_B, batch + (self.length_B,)),
        ], axis=-1)
        return self._evidence_AB.log_pdf(x)

    def logR(self, x_A: Any, x_B: Any) -> np.ndarray:
        """Exact log evidence ratio of pairs ``x_A (*, L_A)``, ``x_B (*, L_B)``.

        .. math::

            \\log R = \\log Z_{AB} - \\log Z_A - \\log Z_B

        Returns
        -------
        array (*,)
        """
        return self.logZ_AB(x_A, x_B) - self.logZ_A(x_A) - self.logZ_B(x_B)

    # ----------------------------------------------------------------------
    # The exact concordance distribution

    def concordance_mean(self) -> float:
        """Mean of log R over concordant pairs: the mutual information of D_A and D_B.

        .. math::

            E[\\log R] = -\\frac{1}{2} \\sum_i \\log(1 - \\rho_i^2),

        with :math:`\\rho_i` the canonical correlations of :math:`D_A` and :math:`D_B`.
        """
        return self._distribution.mean

    def concordance_var(self) -> float:
        """Variance of log R over concordant pairs, :math:`\\sum_i \\rho_i^2`."""
        return self._distribution.var

    def _tails(self, logR: Any) -> tuple[np.ndarray, np.ndarray]:
        logR = np.asarray(logR, dtype=float)
        below, above = np.empty(logR.shape), np.empty(logR.shape)
        for index, value in np.ndenumerate(logR):
            if np.isnan(value):
                below[index] = above[index] = np.nan
            else:
                below[index], above[index] = self._distribution.tails(float(value))
        return below, above

    def concordance_cdf(self, logR: Any) -> np.ndarray:
        """Exact CDF of log R over concordant pairs, :math:`F(\\log R)`.

        Parameters
        ----------
        logR : array (*,)

        Returns
        -------
        P : array (*,)
            :math:`\\Pr(\\log R' < \\log R)` for a concordant pair.

        Notes
        -----
        Under concordance :math:`x = [D_A; D_B] \\sim \\mathcal{N}(\\mu, S)`
        (the prior predictive). With :math:`x = \\mu + L w`, :math:`S = L L^T`,

        .. math::

            \\log R &= c + \\tfrac{1}{2} w^T
                (L^T \\mathrm{diag}(S_A^{-1}, S_B^{-1}) L - I) w \\\\
                &= c + \\sum_i \\frac{\\rho_i}{2} (u_i^2 - v_i^2),

        a generalised chi-square with independent standard normals
        :math:`u_i, v_i`: the matrix in brackets has eigenvalues
        :math:`\\pm\\rho_i` (and zeros), where :math:`\\rho_i` are the singular
        values of the whitened cross-covariance
        :math:`L_A^{-1} \\bar{A} \\Sigma \\bar{B}^T L_B^{-T}`, and
        :math:`c = \\frac{1}{2}(\\log|S_A| + \\log|S_B| - \\log|S|)`. The CDF
        is found by numerical inversion of the characteristic function along a
        line through its saddle point, which keeps the relative accuracy of
        small tail probabilities (see :meth:`concordance_sf`); an
        :class:`accord.AccordWarning` says when the quadrature did not converge.

        Each value costs a few adaptive quadratures, milliseconds: evaluate
        the CDF at the points needed, not over large samples.

        Examples
        --------
        >>> from accord.linear import LinearGaussian
        >>> model = LinearGaussian.paper(1.0)
        >>> P = model.concordance_cdf([model.concordance_mean()])
        >>> bool(0.4 < P[0] < 0.6)
        True
        """
        return self._tails(logR)[0]

    def concordance_sf(self, logR: Any) -> np.ndarray:
        """``1 - F(logR)`` for ``logR (*,)``, accurate where it is small."""
        return self._tails(logR)[1]

    def tension(self, logR_obs: Any = None) -> ExactTension:
        """Exact tension and concordance of an observed log R (docs/method.md).

        .. math::

            P = F(\\log R_{obs}), \\quad T = \\Phi^{-1}(1 - P/2), \\quad
            C = \\Phi^{-1}(1 - (1 - P)/2), \\quad s_R = \\Phi^{-1}(P)

        Parameters
        ----------
        logR_obs : float or array (*,), optional
            By default, log R of the model's own observation.

        Returns
        -------
        ExactTension
        """
        if logR_obs is None:
            if self.x_A_obs is None or self.x_B_obs is None:
                raise ValueError(
                    "logR_obs is required: this model has no default observation "
                    "(only LinearGaussian.paper(...) sets one)"
                )
            logR_obs = self.logR(self.x_A_obs, self.x_B_obs)
        logR_obs = np.asarray(logR_obs, dtype=float)
        below, above = self._tails(logR_obs)
        T = stats.norm.isf(below / 2)
        C = stats.norm.isf(above / 2)
        # the signed surprise from whichever tail was computed with relative accuracy
        s_R = np.where(below < 0.5, stats.norm.ppf(below), stats.norm.isf(above))

        def out(value: np.ndarray) -> Any:
            return float(value) if np.ndim(value) == 0 else value

        return ExactTension(out(logR_obs), out(below), out(T), out(C), out(s_R))

    def __repr__(self) -> str:
        return (
            f"LinearGaussian(n_shared={self.n_shared}, "
            f"n_nuisance_A={self.n_nuisance_A}, n_nuisance_B={self.n_nuisance_B}, "
            f"L_A={self.length_A}, L_B={self.length_B})"
        )
