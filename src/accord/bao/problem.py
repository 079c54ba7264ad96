"""Two BAO data sets as an accord :class:`~accord.problem.Problem`.

Each experiment's data are Gaussian about the flat LCDM prediction, with the
published covariance. The simulators draw exactly that distribution and the
likelihoods evaluate its density, so simulation and nested sampling describe
one model; both experiments share every parameter and one prior object.

Examples
--------
>>> from accord.bao import default_bao_problem
>>> problem = default_bao_problem()
>>> problem.names, problem.length_A, problem.length_B
(('Om', 'H0rd'), 4, 6)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg

from ..priors import Prior
from ..problem import Problem
from .cosmology import Parameterisation, get_parameterisation, theory_vector
from .data import BAOData, _as_data

__all__ = [
    "BAOModel",
    "BAOSimulator",
    "BAOLogLikelihood",
    "bao_problem",
    "default_bao_problem",
    "DEFAULT_A",
    "DEFAULT_B",
]

DEFAULT_A = ("sdss_dr12_lrg",)
"""Experiment A of the default split: SDSS DR12 LRG at z = 0.38 and 0.51."""

DEFAULT_B = ("desi_dr1_lrg_z0.71", "desi_dr1_lrg+elg_z0.93", "desi_dr1_elg_z1.32")
"""Experiment B of the default split: DESI DR1 LRG, LRG+ELG and ELG, z = 0.71-1.32."""

_LOG_2PI = float(np.log(2.0 * np.pi))


class BAOModel:
    """The Gaussian model of one BAO data set: its prediction and covariance.

    Parameters
    ----------
    data : BAOData
        Supplies the redshifts, the quantities and the covariance.
    parameterisation : str or Parameterisation
        How the columns of ``theta`` map onto the background.
    names : sequence of str, optional
        The column names of ``theta`` as the prior orders them; by default
        the parameterisation's own order.
    """

    def __init__(
        self,
        data: BAOData,
        parameterisation: str | Parameterisation = "Om_H0rd",
        names: Any = None,
    ) -> None:
        para = get_parameterisation(parameterisation)
        names = tuple(para.names if names is None else names)
        if sorted(names) != sorted(para.names):
            raise ValueError(
                f"the prior's parameters {list(names)} do not match the "
                f"{para.name!r} parameterisation, which needs {list(para.names)}"
            )
        self.parameterisation = para.name
        self.columns = np.array([names.index(n) for n in para.names])
        self.z = np.array(data.z)
        self.quantities = tuple(data.quantities)
        self.cov = np.array(data.cov)
        self.chol = linalg.cholesky(self.cov, lower=True)
        self.log_det = 2.0 * float(np.sum(np.log(np.diag(self.chol))))

    @property
    def length(self) -> int:
        """Number of measurements, L."""
        return self.z.size

    def mean(self, theta: np.ndarray) -> np.ndarray:
        """Predicted data ``(*, L)`` for parameters ``theta (*, P)``."""
        theta = np.asarray(theta, dtype=float)[..., self.columns]
        return theory_vector(theta, self.z, self.quantities,
                             parameterisation=self.parameterisation)


class BAOSimulator:
    """Simulate BAO data: the prediction plus correlated Gaussian noise.

    ``simulator(theta (n, P), rng) -> x (n, L)`` with
    ``x = mean(theta) + L_chol @ eps`` and ``eps ~ N(0, I)``, so that the noise
    covariance is the published one. Picklable.
    """

    def __init__(self, model: BAOModel) -> None:
        self.model = model

    def __call__(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        mean = self.model.mean(theta)
        noise = rng.standard_normal(mean.shape) @ self.model.chol.T
        return mean + noise


class BAOLogLikelihood:
    """Gaussian log-likelihood of BAO data with the published covariance.

    ``log_likelihood(theta (n, P), x (L,)) -> (n,)``:

    .. math::

        \\log L = -\\tfrac12 (x - \\mu)^T C^{-1} (x - \\mu)
                  - \\tfrac12 \\log\\det(2\\pi C).

    ``x`` may also be ``(n, L)``, one data vector per draw. Picklable.
    """

    def __init__(self, model: BAOModel) -> None:
        self.model = model

    def __call__(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim == 0 or x.shape[-1] != self.model.length:
            raise ValueError(
                f"x must have shape (*, {self.model.length}); got {x.shape}"
            )
        residual = x - self.model.mean(theta)
        shape = residual.shape[:-1]
        white = linalg.solve_triangular(
            self.model.chol, residual.reshape(-1, self.model.length).T, lower=True
        )
        chi2 = np.sum(white**2, axis=0).reshape(shape)
        return -0.5 * (chi2 + self.model.log_det + self.model.length * _LOG_2PI)


def bao_problem(
    data_A: BAOData | str | list[str],
    data_B: BAOData | str | list[str],
    *,
    parameterisation: str = "Om_H0rd",
    prior: Prior | None = None,
    name: str | None = None,
) -> Problem:
    """Two BAO data sets as a two-experiment problem in flat LCDM.

    Parameters
    ----------
    data_A, data_B : BAOData, str or list of str
        The two experiments: loaded data, or names of shipped data sets (see
        :func:`accord.bao.list_bao`), several names being combined.
    parameterisation : {"Om_H0rd", "physical"}
        ``"Om_H0rd"``: Om and H0rd = H0 r_d in km/s. ``"physical"``:
        omega_b, omega_c, h, with r_d from the Aubourg et al. (2015) fit.
        Their default priors are documented in
        :data:`accord.bao.cosmology.PARAMETERISATIONS`.
    prior : Prior, optional
        A prior over the parameterisation's parameters (any order); by
        default the parameterisation's default prior.
    name : str, optional
        A label for reports; by default ``"<label A> vs <label B>"``.

    Returns
    -------
    Problem
        Both experiments depend on every parameter. Simulators and
        log-likelihoods are :class:`BAOSimulator` and :class:`BAOLogLikelihood`
        instances over the same covariance; ``x_A_obs`` and ``x_B_obs`` hold
        the measured values.

    Examples
    --------
    >>> from accord.bao import bao_problem
    >>> problem = bao_problem("sdss_dr12_lrg", "desi_dr2_lrg_z0.71",
    ...                       parameterisation="physical")
    >>> problem.names
    ('omega_b', 'omega_c', 'h')
    """
    data_A = _as_data(data_A, "data_A")
    data_B = _as_data(data_B, "data_B")
    para = get_parameterisation(parameterisation)
    if prior is None:
        prior = para.default_prior()
    names = getattr(prior, "names", None)
    if names is None:
        raise TypeError(
            f"prior must be an accord prior with parameter names; got "
            f"{type(prior).__name__}"
        )

    model_A = BAOModel(data_A, para, names)
    model_B = BAOModel(data_B, para, names)
    return Problem(
        prior,
        BAOSimulator(model_A),
        BAOSimulator(model_B),
        x_A_obs=data_A.values,
        x_B_obs=data_B.values,
        log_likelihood_A=BAOLogLikelihood(model_A),
        log_likelihood_B=BAOLogLikelihood(model_B),
        name=name if name is not None else f"{data_A.label} vs {data_B.label}",
    )


def default_bao_problem(*, parameterisation: str = "Om_H0rd",
                        prior: Prior | None = None) -> Problem:
    """SDSS DR12 LRG (z = 0.38, 0.51) against DESI DR1 (z = 0.71, 0.93, 1.32).

    The non-overlapping split of Bevins, Handley & Gessey-Jones (2024,
    arXiv:2407.15478), in flat LCDM with the ``"Om_H0rd"`` parameterisation
    and its default prior unless told otherwise.
    """
    return bao_problem(list(DEFAULT_A), list(DEFAULT_B),
                       parameterisation=parameterisation, prior=prior,
                       name="SDSS DR12 LRG vs DESI DR1")
