"""Calibration: the concordance distribution of log R and the observed T and C."""

from __future__ import annotations

import json
import logging
import math
import warnings
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import stats

from ._validation import check_seed
from .estimator import RatioEstimator
from .exceptions import AccordWarning
from .problem import Problem
from .simulation import simulate
from .stats import TensionStatistics, tension_from_sample

__all__ = ["CalibrationResult", "calibrate"]

logger = logging.getLogger(__name__)

# Spawn key of the calibration stream: training draws from keys 0 and 1 of the
# same seed, so the concordance sample never repeats a training simulation.
_CALIBRATION_KEY = 7


@dataclass
class CalibrationResult:
    r"""The calibrated tension of one observation.

    Attributes
    ----------
    T, C, s_R, P : float
        Tension and concordance in sigma, signed surprise and the probability
        under concordance of a log R below ``log_r_obs`` (see
        :mod:`accord.stats`).
    T_bound, C_bound : {None, "lower"}
        ``"lower"`` when the value is only a lower limit, because the
        observation lies outside the concordance sample.
    log_r_obs, log_r_obs_err : float
        The observed log R and its standard error.
    log_r_obs_source : str
        Where log R_obs came from: the ``log_r_obs_source`` argument of
        :func:`calibrate` (for example ``"nested sampling (nautilus)"``),
        ``"given"`` by default, or ``"network"`` (the
        ensemble's own estimate for the observed data).
    T_err, C_err : dict
        Error budget by source: ``"log_r_obs"`` (re-evaluation at
        log R_obs -/+ its error), ``"members"`` (standard deviation between
        ensemble members), ``"finite_sample"`` (binomial error of P from the
        finite concordance sample), and ``"total"`` (their quadrature sum).
    T_members, C_members : array (n_members,)
        Each member's T and C from its own concordance sample.
    log_r_obs_members : array (n_members,)
        Each member's log R_obs (all equal when it was given).
    log_r : array (N,)
        The concordance sample: the ensemble-mean log R of N fresh concordant
        pairs, never seen in training.
    log_r_members : array (n_members, N)
        Each member's log R for the same pairs.
    """

    T: float
    C: float
    s_R: float
    P: float
    T_bound: str | None
    C_bound: str | None
    log_r_obs: float
    log_r_obs_err: float
    log_r_obs_source: str
    T_err: dict[str, float]
    C_err: dict[str, float]
    T_members: np.ndarray
    C_members: np.ndarray
    log_r_obs_members: np.ndarray
    log_r: np.ndarray = field(repr=False)
    log_r_members: np.ndarray = field(repr=False)
    method: str = "posterior"
    problem: str = "problem"

    @property
    def n_calibration(self) -> int:
        return int(self.log_r.size)

    def to_dict(self, *, samples: bool = False) -> dict[str, Any]:
        """JSON-ready values; the concordance samples only if ``samples``."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if key in ("log_r", "log_r_members") and not samples:
                continue
            out[key] = value.tolist() if isinstance(value, np.ndarray) else value
        out["n_calibration"] = self.n_calibration
        out["log_r_quantiles"] = dict(zip(
            ["2.3%", "15.9%", "50%", "84.1%", "97.7%"],
            np.quantile(self.log_r, [0.0228, 0.1587, 0.5, 0.8413, 0.9772]).tolist()))
        return out

    def save_json(self, path: str | Path, *, samples: bool = False) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(samples=samples), indent=1))
        return path

    def summary(self) -> str:
        """A plain-text table of the result and its error budget."""
        def value(x: float, bound: str | None) -> str:
            return f"> {x:.3f}" if bound else f"{x:.3f}"

        source = ("network estimate" if self.log_r_obs_source == "network"
                  else self.log_r_obs_source)
        lines = [
            f"accord calibration: {self.problem} ({self.method} estimator, "
            f"{len(self.T_members)} members, {self.n_calibration} concordant pairs)",
            f"  log R_obs   {self.log_r_obs:.3f} +/- {self.log_r_obs_err:.3f}   [{source}]",
            f"  P           {self.P:.4g}",
            "",
            f"  {'':14s}{'value':>10s}{'log R_obs':>11s}{'members':>9s}"
            f"{'sample':>8s}{'total':>8s}",
        ]
        for name, x, bound, err in [("tension T", self.T, self.T_bound, self.T_err),
                                    ("concordance C", self.C, self.C_bound, self.C_err)]:
            lines.append(
                f"  {name:14s}{value(x, bound):>10s}{err['log_r_obs']:>11.3f}"
                f"{err['members']:>9.3f}{err['finite_sample']:>8.3f}{err['total']:>8.3f}")
        lines.append(f"  surprise s_R {self.s_R:>11.3f}   (sigma; in units of a standard normal)")
        return "\n".join(lines)


def _finite_sample_error(stat: TensionStatistics, n: int) -> tuple[float, float]:
    """Binomial error of P, carried to T and C by the delta method."""
    sigma_P = math.sqrt(max(stat.P * (1.0 - stat.P), 1.0 / n) / n)
    dT = 0.5 / stats.norm.pdf(stat.T)
    dC = 0.5 / stats.norm.pdf(stat.C)
    return dT * sigma_P, dC * sigma_P


# Beyond this many training standard deviations an observed data value is
# taken to lie outside the simulations (a Gaussian reaches 8 sigma once in
# 10^15 draws).
_OUTSIDE_Z = 8.0


def _check_coverage(estimator: RatioEstimator, problem: Problem) -> None:
    z_A, z_B = estimator.max_z_score(problem.x_A_obs, problem.x_B_obs)
    for label, z in (("x_A_obs", z_A), ("x_B_obs", z_B)):
        if z > _OUTSIDE_Z:
            warnings.warn(
                f"{label} lies outside the simulated data: one of its values is "
                f"{z:.1f} training standard deviations from the simulated mean. The "
                f"prior or the simulator may not cover the observation, and log R "
                f"there is an extrapolation; check both.", AccordWarning, stacklevel=3)


def _same_model(stored: dict[str, Any], current: dict[str, Any]) -> bool:
    """Equal fingerprints, with the simulator probe compared to rounding."""
    if {k: v for k, v in stored.items() if k != "probe"} != \
            {k: v for k, v in current.items() if k != "probe"}:
        return False
    return bool(np.allclose(stored["probe"], current["probe"], rtol=1e-6, atol=1e-12))


def _std(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def calibrate(
    estimator: RatioEstimator,
    problem: Problem,
    *,
    log_r_obs: float | None = None,
    log_r_obs_err: float = 0.0,
    n_calibration: int = 50_000,
    seed: int | None = None,
    progress: bool = False,
    log_r_obs_source: str = "given",
    executor: Executor | Literal["serial", "auto"] = "auto",
) -> CalibrationResult:
    """Calibrate an observed log R against the concordance distribution.

    Parameters
    ----------
    estimator : RatioEstimator
        Trained on ``problem`` (see :func:`accord.train`).
    problem : Problem
    log_r_obs : float, optional
        The observed log R, for example from nested sampling. Without it the
        ensemble's own estimate for the problem's observed data is used, and
        labelled so in every output.
    log_r_obs_err : float
        Standard error of ``log_r_obs``.
    n_calibration : int
        Fresh concordant pairs that make the concordance sample.
    seed : int, optional
        Seed of the calibration simulations; by default the estimator's. The
        calibration stream is disjoint from the training stream of the same
        seed.
    progress : bool
        Show a progress bar while simulating.
    executor : concurrent.futures.Executor, "serial" or "auto"
        Where the calibration simulations run (see :func:`accord.simulate`).
    log_r_obs_source : str
        A label of where ``log_r_obs`` came from, carried into every output.

    Returns
    -------
    CalibrationResult

    Examples
    --------
    >>> import accord
    >>> from accord.linear import LinearGaussian
    >>> model = LinearGaussian.paper(sigma=1.0, seed=0)
    >>> problem = model.problem()
    >>> estimator = accord.train(problem, 5000, seed=1, n_members=2, hidden=0)
    >>> result = accord.calibrate(estimator, problem, n_calibration=2000, seed=2)
    >>> result.log_r_obs_source
    'network'
    """
    if not isinstance(estimator, RatioEstimator):
        raise TypeError(f"estimator must be a RatioEstimator (from accord.train or "
                        f"accord.load); got {type(estimator).__name__}")
    info = estimator.problem_info
    if list(problem.names) != info["names"] or list(problem.shared) != info["shared"]:
        raise ValueError(
            f"estimator was trained on parameters {info['names']} (shared "
            f"{info['shared']}) but problem has {list(problem.names)} (shared "
            f"{list(problem.shared)})")
    stored = info.get("fingerprint")
    if stored is not None and not _same_model(stored, problem.fingerprint()):
        raise ValueError(
            "problem differs from the one the estimator was trained on (its prior "
            "or its simulators give other values); a concordance distribution is "
            "specific to one prior and model. Retrain on this problem.")
    if isinstance(n_calibration, bool) or not isinstance(n_calibration, int) \
            or n_calibration < 100:
        raise ValueError(f"n_calibration must be an integer >= 100; got {n_calibration!r}")
    if not (isinstance(log_r_obs_err, (int, float)) and math.isfinite(log_r_obs_err)
            and log_r_obs_err >= 0):
        raise ValueError(f"log_r_obs_err must be a finite number >= 0; "
                         f"got {log_r_obs_err!r}")

    # Observed log R, given or estimated.
    if problem.has_observation:
        _check_coverage(estimator, problem)
    if log_r_obs is None:
        if not problem.has_observation:
            raise ValueError("give log_r_obs, or a problem with observed data "
                             "(x_A_obs and x_B_obs) for the network to estimate it")
        members_obs = estimator.log_ratio(problem.x_A_obs, problem.x_B_obs, members=True)
        log_r_obs, source = float(members_obs.mean()), "network"
        if log_r_obs_err:
            raise ValueError("log_r_obs_err applies to a given log_r_obs; the network "
                             "estimate's spread enters through the members")
    else:
        log_r_obs = float(log_r_obs)
        if not math.isfinite(log_r_obs):
            raise ValueError(f"log_r_obs must be finite; got {log_r_obs}")
        members_obs = np.full(estimator.n_members, log_r_obs)
        source = str(log_r_obs_source)
        if source == "network":
            raise ValueError("log_r_obs_source='network' is reserved for the "
                             "network's own estimate (log_r_obs=None)")

    # Concordance sample from fresh simulations.
    root = np.random.SeedSequence(estimator.seed if seed is None else check_seed(seed),
                                  spawn_key=(_CALIBRATION_KEY,))
    sims = simulate(problem, n_calibration, seed=root, progress=progress,
                    executor=executor)
    log_r_members = estimator.log_ratio(sims.x_A, sims.x_B, members=True)
    log_r = log_r_members.mean(axis=0)

    # Central values and the three error sources.
    central = tension_from_sample(log_r_obs, log_r)
    per_member = [tension_from_sample(obs, sample)
                  for obs, sample in zip(members_obs, log_r_members)]
    T_members = np.array([s.T for s in per_member])
    C_members = np.array([s.C for s in per_member])
    low = tension_from_sample(log_r_obs - log_r_obs_err, log_r)
    high = tension_from_sample(log_r_obs + log_r_obs_err, log_r)
    T_sample, C_sample = _finite_sample_error(central, len(log_r))
    T_err = {"log_r_obs": abs(low.T - high.T) / 2, "members": _std(T_members),
             "finite_sample": T_sample}
    C_err = {"log_r_obs": abs(low.C - high.C) / 2, "members": _std(C_members),
             "finite_sample": C_sample}
    for budget in (T_err, C_err):
        budget["total"] = math.sqrt(sum(v**2 for v in budget.values()))

    if central.T_bound or central.C_bound:
        warnings.warn(
            f"log R_obs = {log_r_obs:.3g} lies outside the {len(log_r)} concordance "
            f"values [{log_r.min():.3g}, {log_r.max():.3g}]; T or C is only a lower "
            f"bound. Increase n_calibration to resolve it.", AccordWarning, stacklevel=2)
    logger.info("calibrated %s: T = %.3f, C = %.3f", problem.name, central.T, central.C)
    return CalibrationResult(
        T=central.T, C=central.C, s_R=central.s_R, P=central.P,
        T_bound=central.T_bound, C_bound=central.C_bound,
        log_r_obs=log_r_obs, log_r_obs_err=float(log_r_obs_err),
        log_r_obs_source=source, T_err=T_err, C_err=C_err,
        T_members=T_members, C_members=C_members, log_r_obs_members=members_obs,
        log_r=log_r, log_r_members=log_r_members,
        method=estimator.settings.method, problem=problem.name)
