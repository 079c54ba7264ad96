"""A bump hunt: two colliders count events and see an excess (arXiv:2407.15478).

Each experiment counts events in 100 mass bins between 100 and 180 GeV. The
expected count in the bin at mass :math:`x` is a falling background, a sum of
three exponentials, plus a Gaussian excess:

.. math::

    \\lambda(x) = \\sum_{k=1}^{3} a_k e^{-b_k x'}
        + A \\exp\\left(-\\frac{(x - \\mu)^2}{2 s^2}\\right),
    \\qquad x' = \\frac{x - 180\\,\\mathrm{GeV}}{80\\,\\mathrm{GeV}},

and the observed counts are Poisson with that mean. Each experiment has its
own background (:math:`a_k, b_k`) and its own excess amplitude and width
(:math:`A, s`); the mass :math:`\\mu` is shared: 17 parameters in all.

With :math:`x' \\in [-1, 0]` the background falls from
:math:`\\sum_k a_k e^{b_k}` at 100 GeV (hundreds to tens of thousands of
events for the prior's ranges) to :math:`\\sum_k a_k` (15-30 events) at
180 GeV. The paper's amplitudes, 0.12 and 0.15 of the background's
maximum, therefore give excesses of hundreds of events on backgrounds of a
few hundred near 125 GeV: a clear detection in both experiments.

The observation shipped with accord was drawn once from :data:`TRUTH` with
the seed :data:`SEED` (see :func:`make_observation`), so that every user
calibrates the same data.

References
----------
Bevins, Handley & Gessey-Jones (2024), "Calibrating Bayesian Tension
Statistics using Neural Ratio Estimation", arXiv:2407.15478.

Examples
--------
>>> import numpy as np
>>> from accord.examples import bump_problem
>>> problem = bump_problem()
>>> len(problem.names), problem.shared
(17, ('mu',))
>>> theta = problem.prior.sample(5, np.random.default_rng(0))
>>> problem.simulate_A(theta, np.random.default_rng(1)).shape
(5, 100)
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import numpy as np
from scipy import special

from .._validation import check_last_axis
from ..priors import Independent, Uniform, as_rng
from ..problem import Problem

__all__ = [
    "MASSES",
    "SEED",
    "TRUTH",
    "Collider",
    "background_maximum",
    "bump_prior",
    "bump_problem",
    "load_bump",
    "make_observation",
]

MASSES = np.linspace(100.0, 180.0, 100)
"""Masses in GeV at which the expected counts are evaluated: 100 bins, 100-180 GeV."""

SEED = 20240722
"""Seed of the shipped observation (``numpy.random.default_rng(SEED)``)."""

_PIVOT, _SCALE = 180.0, 80.0
_EXPERIMENTS = ("A", "B")
_BACKGROUND = ("a1", "a2", "a3", "b1", "b2", "b3")


def _names(label: str) -> tuple[str, ...]:
    return tuple(f"{p}_{label}" for p in _BACKGROUND + ("amp", "s"))


def background_maximum(a: Any, b: Any) -> float:
    """The background's largest expected count on the grid, at 100 GeV.

    Every term :math:`a_k e^{-b_k x'}` falls with mass for :math:`b_k > 0`,
    so the maximum is :math:`\\sum_k a_k e^{b_k}`.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.sum(a * np.exp(b)))


def _truth() -> dict[str, float]:
    # The stronger experiment A collects more events than the weaker B.
    backgrounds = {"A": ((9.0, 7.0, 6.0), (6.0, 4.0, 2.0)),
                   "B": ((7.0, 6.0, 5.0), (5.5, 3.5, 1.5))}
    excess = {"A": (0.12, 1.5), "B": (0.15, 2.0)}
    truth = {"mu": 125.1}
    for label in _EXPERIMENTS:
        a, b = backgrounds[label]
        fraction, width = excess[label]
        values = list(a) + list(b) + [fraction * background_maximum(a, b), width]
        truth.update(zip(_names(label), values))
    return truth


TRUTH = _truth()
"""The parameters of the shipped observation.

Backgrounds: A has a = (9, 7, 6), b = (6, 4, 2); B has a = (7, 6, 5),
b = (5.5, 3.5, 1.5). Excesses at mu = 125.1 GeV: A's amplitude is 0.12 of
its background maximum (4057 events) with s = 1.5 GeV, B's 0.15 of its
maximum (1934 events) with s = 2 GeV.
"""


class Collider:
    """One experiment: Poisson counts of a falling background and an excess.

    A module-level class holding arrays only, so that its bound methods
    pickle and can run in a process pool.

    Parameters
    ----------
    masses : array (L,)
        Bin masses in GeV.
    columns : sequence of 9 int
        Columns of ``theta`` holding a1, a2, a3, b1, b2, b3, the excess
        amplitude, its width and the mass, in that order.
    """

    def __init__(self, masses: Any, columns: Any) -> None:
        self.masses = np.asarray(masses, dtype=float)
        self.columns = np.asarray(columns, dtype=int)
        if self.masses.ndim != 1 or self.masses.size == 0:
            raise ValueError(f"masses must be a non-empty vector (L,); got shape "
                             f"{self.masses.shape}")
        if self.columns.shape != (9,):
            raise ValueError(f"columns must hold 9 indices (a1, a2, a3, b1, b2, b3, "
                             f"amp, s, mu); got {self.columns.tolist()}")
        self._x = (self.masses - _PIVOT) / _SCALE

    @property
    def length(self) -> int:
        """Number of bins, L."""
        return self.masses.size

    def background(self, theta: np.ndarray) -> np.ndarray:
        """Expected background counts ``(*, L)`` for ``theta (*, P)``."""
        theta = np.asarray(theta, dtype=float)
        a = theta[..., self.columns[0:3], None]
        b = theta[..., self.columns[3:6], None]
        return np.sum(a * np.exp(-b * self._x), axis=-2)

    def excess(self, theta: np.ndarray) -> np.ndarray:
        """Expected signal counts ``(*, L)`` for ``theta (*, P)``."""
        theta = np.asarray(theta, dtype=float)
        amplitude, width, mass = (theta[..., self.columns[i], None] for i in (6, 7, 8))
        return amplitude * np.exp(-0.5 * ((self.masses - mass) / width) ** 2)

    def expected(self, theta: np.ndarray) -> np.ndarray:
        """Expected counts ``(*, L)``, background plus excess."""
        return self.background(theta) + self.excess(theta)

    def simulate(self, theta: np.ndarray, rng: np.random.Generator | int | None
                 ) -> np.ndarray:
        """Poisson counts ``(*, L)`` for ``theta (*, P)``, as floats."""
        return as_rng(rng).poisson(self.expected(theta)).astype(float)

    def log_likelihood(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Poisson log-likelihood ``(*,)`` of counts ``x (L,)`` or ``(*, L)``.

        .. math::

            \\log L = \\sum_i \\left[x_i \\log\\lambda_i - \\lambda_i
                       - \\log \\Gamma(x_i + 1)\\right]
        """
        x = check_last_axis("x", x, self.length, what="bin")
        rate = self.expected(theta)
        return np.sum(special.xlogy(x, rate) - rate - special.gammaln(x + 1.0), axis=-1)

    def __repr__(self) -> str:
        return (f"Collider({self.masses[0]:g}-{self.masses[-1]:g} GeV, "
                f"{self.length} bins)")


def bump_prior() -> Independent:
    """The priors of the paper for the pair: 17 independent uniform parameters.

    mu ~ U(110, 150) GeV; for each experiment a_k ~ U(5, 10), b_k ~ U(1, 8),
    amp ~ U(0, 800) events, s ~ U(0.1, 10) GeV.
    """
    parts: dict[str, Uniform] = {"mu": Uniform(110.0, 150.0)}
    for label in _EXPERIMENTS:
        ranges = [(5.0, 10.0)] * 3 + [(1.0, 8.0)] * 3 + [(0.0, 800.0), (0.1, 10.0)]
        parts.update({name: Uniform(low, high)
                      for name, (low, high) in zip(_names(label), ranges)})
    return Independent(**parts)


def _colliders(names: tuple[str, ...]) -> dict[str, Collider]:
    return {label: Collider(MASSES, [names.index(n) for n in _names(label) + ("mu",)])
            for label in _EXPERIMENTS}


def make_observation(seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Draw the observed counts ``(x_A (100,), x_B (100,))`` from :data:`TRUTH`.

    The two experiments draw from the two children of
    ``numpy.random.SeedSequence(seed)``, through the same simulators as the
    calibration. With the default seed this regenerates the shipped data
    exactly (given numpy's Poisson sampler of the version that made them).
    """
    names = bump_prior().names
    theta = np.array([[TRUTH[n] for n in names]])
    colliders = _colliders(names)
    rngs = np.random.default_rng(np.random.SeedSequence(seed)).spawn(2)
    return tuple(colliders[label].simulate(theta, rng)[0]
                 for label, rng in zip(_EXPERIMENTS, rngs))  # type: ignore[return-value]


def load_bump() -> tuple[np.ndarray, np.ndarray]:
    """The shipped observed counts ``(x_A (100,), x_B (100,))``."""
    folder = resources.files("accord") / "data" / "bump"
    x_A, x_B = (np.loadtxt((folder / f"counts_{label}.txt").read_text("utf-8")
                           .splitlines(), usecols=1)
                for label in _EXPERIMENTS)
    return x_A, x_B


def bump_problem() -> Problem:
    """The two-collider bump hunt with the shipped observation.

    Returns
    -------
    Problem
        17 parameters: the shared mass ``mu`` and, for each experiment
        ``E`` in A, B, its background ``a1_E, a2_E, a3_E, b1_E, b2_E, b3_E``
        and excess ``amp_E, s_E``. Simulators and log-likelihoods are the bound
        methods of two :class:`Collider` objects.

    Examples
    --------
    >>> from accord.examples import bump_problem
    >>> bump_problem().params_A
    ('mu', 'a1_A', 'a2_A', 'a3_A', 'b1_A', 'b2_A', 'b3_A', 'amp_A', 's_A')
    """
    prior = bump_prior()
    colliders = _colliders(prior.names)
    x_A, x_B = load_bump()
    return Problem(
        prior, colliders["A"].simulate, colliders["B"].simulate,
        params_A=("mu",) + _names("A"), params_B=("mu",) + _names("B"),
        x_A_obs=x_A, x_B_obs=x_B,
        log_likelihood_A=colliders["A"].log_likelihood,
        log_likelihood_B=colliders["B"].log_likelihood,
        exchangeable=[[(f"b{k}_{label}", f"a{k}_{label}") for k in (1, 2, 3)]
                      for label in _EXPERIMENTS],
        name="bump",
    )
