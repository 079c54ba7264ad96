"""The 21-cm global signal seen by two radiometers (arXiv:2407.15478).

Two radiometers observe the sky-averaged 21-cm signal in overlapping bands,
A at 60-90 MHz and B at 80-120 MHz, 100 evenly spaced channels each. The
signal is a Gaussian absorption trough,

.. math::

    T_{21}(\\nu) = -A \\exp\\left(-\\frac{(\\nu - \\nu_0)^2}{2 w^2}\\right),

and each radiometer adds white noise of its own unknown level,
:math:`\\sigma_A` or :math:`\\sigma_B`. The trough's amplitude, centre and
width are shared; the noise levels are each experiment's nuisance parameters.
The simulator and the likelihood below describe that one model, with one
noise parameter per experiment in both (docs/method.md).

The shipped observations are the spectra the published PolyChord runs were
made on: A with the truth A = 0.2 K, nu0 = 78 MHz, w = 10 MHz, sigma = 0.025 K,
and B with the same trough but an amplitude of 0.15, 0.2 or 0.25 K.

References
----------
Bevins, Handley & Gessey-Jones (2024), "Calibrating Bayesian Tension
Statistics using Neural Ratio Estimation", arXiv:2407.15478.

Examples
--------
>>> import numpy as np
>>> from accord.examples import cm21_problem
>>> problem = cm21_problem(amplitude_B=0.25)
>>> problem.names
('A', 'nu0', 'w', 'sigma_A', 'sigma_B')
>>> problem.shared, problem.length_A, problem.length_B
(('A', 'nu0', 'w'), 100, 100)
>>> theta = problem.prior.sample(3, np.random.default_rng(0))
>>> problem.log_likelihood_A(theta, problem.x_A_obs).shape
(3,)
"""

from __future__ import annotations

import math
from importlib import resources
from typing import Any

import numpy as np

from .._validation import check_last_axis
from ..priors import Independent, Uniform, as_rng
from ..problem import Problem

__all__ = [
    "AMPLITUDES_B",
    "FREQUENCIES_A",
    "FREQUENCIES_B",
    "TRUTH",
    "Radiometer",
    "cm21_prior",
    "cm21_problem",
    "load_cm21",
]

_LOG_2PI = math.log(2.0 * math.pi)

FREQUENCIES_A = np.linspace(60.0, 90.0, 100)
"""Channels of radiometer A in MHz, 60-90 MHz inclusive, 100 channels."""

FREQUENCIES_B = np.linspace(80.0, 120.0, 100)
"""Channels of radiometer B in MHz, 80-120 MHz inclusive, 100 channels."""

AMPLITUDES_B = (0.15, 0.2, 0.25)
"""B's true amplitudes (K) of the shipped observations: tension, agreement, tension."""

TRUTH = {"A": 0.2, "nu0": 78.0, "w": 10.0, "sigma_A": 0.025, "sigma_B": 0.025}
"""The parameters A's observation was drawn from; B's differs only in A."""

_FILES = {"A": "exp1_data_truth.txt", 0.15: "exp2_data_0.15.txt",
          0.2: "exp2_data_0.2.txt", 0.25: "exp2_data_0.25.txt"}


class Radiometer:
    """One radiometer: a Gaussian trough in white noise of unknown level.

    A module-level class holding arrays only, so that its bound methods
    pickle and can run in a process pool.

    Parameters
    ----------
    frequencies : array (L,)
        Channel frequencies in MHz.
    columns : sequence of 4 int
        Columns of ``theta`` holding the amplitude (K), the centre (MHz), the
        width (MHz) and this radiometer's noise level (K), in that order.
    """

    def __init__(self, frequencies: Any, columns: Any) -> None:
        self.frequencies = np.asarray(frequencies, dtype=float)
        self.columns = np.asarray(columns, dtype=int)
        if self.frequencies.ndim != 1 or self.frequencies.size == 0:
            raise ValueError(f"frequencies must be a non-empty vector (L,); got shape "
                             f"{self.frequencies.shape}")
        if self.columns.shape != (4,):
            raise ValueError(f"columns must hold 4 indices (amplitude, centre, width, "
                             f"noise); got {self.columns.tolist()}")

    @property
    def length(self) -> int:
        """Number of channels, L."""
        return self.frequencies.size

    def signal(self, theta: np.ndarray) -> np.ndarray:
        """The noiseless trough ``(*, L)`` for parameters ``theta (*, P)``."""
        theta = np.asarray(theta, dtype=float)
        amplitude, centre, width = (theta[..., self.columns[i], None] for i in range(3))
        return -amplitude * np.exp(-0.5 * ((self.frequencies - centre) / width) ** 2)

    def noise(self, theta: np.ndarray) -> np.ndarray:
        """The noise level ``(*,)`` of ``theta (*, P)``."""
        return np.asarray(theta, dtype=float)[..., self.columns[3]]

    def simulate(self, theta: np.ndarray, rng: np.random.Generator | int | None
                 ) -> np.ndarray:
        """Spectra ``(*, L)`` for ``theta (*, P)``: trough plus white noise."""
        mean = self.signal(theta)
        z = as_rng(rng).standard_normal(mean.shape)
        return mean + self.noise(theta)[..., None] * z

    def log_likelihood(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Gaussian log-likelihood ``(*,)`` of spectra ``x (L,)`` or ``(*, L)``.

        .. math::

            \\log L = -\\sum_i \\left[\\frac{(x_i - T_{21}(\\nu_i))^2}{2\\sigma^2}
                       + \\log\\sigma + \\tfrac12 \\log 2\\pi\\right]
        """
        x = check_last_axis("x", x, self.length, what="channel")
        sigma = self.noise(theta)
        chi2 = np.sum((x - self.signal(theta)) ** 2, axis=-1) / sigma**2
        return -0.5 * chi2 - self.length * (np.log(sigma) + 0.5 * _LOG_2PI)

    def __repr__(self) -> str:
        return (f"Radiometer({self.frequencies[0]:g}-{self.frequencies[-1]:g} MHz, "
                f"{self.length} channels)")


def cm21_prior() -> Independent:
    """The priors of the paper's 21-cm example, in the PolyChord runs' order.

    A ~ U(0, 4) K, nu0 ~ U(60, 90) MHz, w ~ U(5, 40) MHz and each noise level
    ~ U(0.001, 0.1) K; the order of the joint PolyChord run (A, nu0, w,
    sigma_A, sigma_B).
    """
    return Independent(A=Uniform(0.0, 4.0), nu0=Uniform(60.0, 90.0),
                       w=Uniform(5.0, 40.0), sigma_A=Uniform(0.001, 0.1),
                       sigma_B=Uniform(0.001, 0.1))


def _check_amplitude(amplitude_B: Any) -> float:
    for value in AMPLITUDES_B:
        if isinstance(amplitude_B, (int, float, np.floating)) and \
                not isinstance(amplitude_B, bool) and math.isclose(amplitude_B, value):
            return value
    raise ValueError(f"amplitude_B must be one of {AMPLITUDES_B} (K), the amplitudes of "
                     f"the shipped observations of B; got {amplitude_B!r}")


def load_cm21(amplitude_B: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """The shipped observed spectra ``(x_A (100,), x_B (100,))`` in K.

    Parameters
    ----------
    amplitude_B : {0.15, 0.2, 0.25}
        B's true amplitude in K.
    """
    amplitude_B = _check_amplitude(amplitude_B)
    folder = resources.files("accord") / "data" / "cm21"
    x_A, x_B = (np.loadtxt((folder / _FILES[key]).read_text("utf-8").splitlines())
                for key in ("A", amplitude_B))
    return x_A, x_B


def cm21_problem(amplitude_B: float = 0.2, *, name: str | None = None) -> Problem:
    """The two-radiometer 21-cm problem with a shipped observation.

    Parameters
    ----------
    amplitude_B : {0.15, 0.2, 0.25}
        B's true amplitude in K, which selects B's observed spectrum: 0.2 K
        agrees with A, 0.15 and 0.25 K are in tension with it.
    name : str, optional
        The problem's name, by default ``21cm_B<amplitude_B>``. The three
        cases share one model; give them one name for :func:`accord.run` to
        reuse one case's simulations and ensemble for the others.

    Returns
    -------
    Problem
        Parameters ``A, nu0, w`` (shared) and ``sigma_A``, ``sigma_B``
        (nuisance); the simulators and log-likelihoods are the bound methods
        of two :class:`Radiometer` objects.

    Examples
    --------
    >>> from accord.examples import cm21_problem
    >>> cm21_problem(0.15).name
    '21cm_B0.15'
    """
    amplitude_B = _check_amplitude(amplitude_B)
    prior = cm21_prior()
    radio_A = Radiometer(FREQUENCIES_A, columns=[0, 1, 2, 3])
    radio_B = Radiometer(FREQUENCIES_B, columns=[0, 1, 2, 4])
    x_A, x_B = load_cm21(amplitude_B)
    return Problem(
        prior, radio_A.simulate, radio_B.simulate,
        params_A=("A", "nu0", "w", "sigma_A"), params_B=("A", "nu0", "w", "sigma_B"),
        x_A_obs=x_A, x_B_obs=x_B,
        log_likelihood_A=radio_A.log_likelihood, log_likelihood_B=radio_B.log_likelihood,
        name=f"21cm_B{amplitude_B:g}" if name is None else name,
    )
