r"""Tension and concordance in sigma from a concordance sample of log R.

With :math:`P = F(\log R_\mathrm{obs})` the probability, under concordance,
of a log R below the observed one:

.. math::

    T = \Phi^{-1}(1 - P/2), \qquad C = \Phi^{-1}(1 - (1 - P)/2), \qquad
    s_R = \Phi^{-1}(P).

References
----------
Bevins, Handley & Gessey-Jones (2024), "Calibrating Bayesian Tension
Statistics using Neural Ratio Estimation", arXiv:2407.15478.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["TensionStatistics", "tension_from_p", "tension_from_sample"]


@dataclass(frozen=True)
class TensionStatistics:
    """T, C and s_R for one observed log R.

    Attributes
    ----------
    P : float
        Probability under concordance of a log R below the observed one.
    T, C : float
        Tension and concordance in sigma.
    s_R : float
        Signed surprise, :math:`\\Phi^{-1}(P)`.
    T_bound, C_bound : {None, "lower"}
        ``"lower"`` when the observation lies outside the concordance sample,
        so that the value is only a lower limit (the sample cannot resolve
        probabilities below ``1 / (N + 1)``).
    """

    P: float
    T: float
    C: float
    s_R: float
    T_bound: str | None = None
    C_bound: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def tension_from_p(P: float) -> TensionStatistics:
    """T, C and s_R from an exact probability ``P``.

    Examples
    --------
    The worked check: log R ~ N(5, 1) under concordance, log R_obs = 5.87.

    >>> from scipy.stats import norm
    >>> s = tension_from_p(norm.cdf(5.87, loc=5.0))
    >>> round(s.T, 2), round(s.C, 2)
    (0.24, 1.3)
    """
    P = float(P)
    if not 0.0 <= P <= 1.0:
        raise ValueError(f"P must lie in [0, 1]; got {P}")
    return TensionStatistics(P=P, T=float(stats.norm.isf(P / 2.0)),
                             C=float(stats.norm.isf((1.0 - P) / 2.0)),
                             s_R=float(stats.norm.ppf(P)))


def tension_from_sample(log_r_obs: float, log_r: np.ndarray) -> TensionStatistics:
    """T, C and s_R of ``log_r_obs`` against a concordance sample ``log_r (N,)``.

    With ``k`` sample values below the observation, the tail probabilities
    are the Monte-Carlo p-values :math:`(k + 1) / (N + 1)` (below) and
    :math:`(N - k + 1) / (N + 1)` (above), which never vanish: an observation
    outside the sample gives a finite lower bound on T or C, flagged in
    ``T_bound`` or ``C_bound``, never an infinity. ``P`` is their midpoint
    estimate ``(k + 1/2) / (N + 1)``, used for ``s_R``.

    Examples
    --------
    >>> import numpy as np
    >>> s = tension_from_sample(-10.0, np.linspace(0.0, 1.0, 999))
    >>> s.T_bound, round(s.T, 2)
    ('lower', 3.29)
    """
    log_r = np.asarray(log_r, dtype=float)
    if log_r.ndim != 1 or log_r.size == 0:
        raise ValueError(f"log_r must be a non-empty vector (N,); got shape {log_r.shape}")
    if not np.all(np.isfinite(log_r)):
        raise ValueError("log_r contains NaN or infinite values")
    if not np.isfinite(log_r_obs):
        raise ValueError(f"log_r_obs must be finite; got {log_r_obs}")
    n = log_r.size
    k = int(np.count_nonzero(log_r < log_r_obs))
    p_below, p_above = (k + 1) / (n + 1), (n - k + 1) / (n + 1)
    return TensionStatistics(
        P=(k + 0.5) / (n + 1),
        T=float(stats.norm.isf(min(p_below, 1.0) / 2.0)),
        C=float(stats.norm.isf(min(p_above, 1.0) / 2.0)),
        s_R=float(stats.norm.ppf((k + 0.5) / (n + 1))),
        T_bound="lower" if k == 0 else None,
        C_bound="lower" if k == n else None,
    )
