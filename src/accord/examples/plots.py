"""Figures of the worked examples: their data and the posterior of a shared parameter.

Every function takes arrays (or a :class:`~accord.problem.Problem`) and draws
on a matplotlib axis, returning it; the ``save_*`` helpers write a file. The
posterior figure takes weighted samples, so that nested-sampling output of
any sampler can be passed in.

Examples
--------
>>> import numpy as np
>>> from accord.examples import cm21_problem
>>> from accord.examples.plots import plot_cm21_spectra
>>> ax = plot_cm21_spectra(cm21_problem(0.25))
>>> len(ax.lines) >= 2
True
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..problem import Problem
from . import bump, cm21

__all__ = [
    "plot_bump_spectra",
    "plot_cm21_spectra",
    "plot_observed_cdf",
    "plot_observed_concordance",
    "plot_shared_posterior",
    "save_bump_spectra",
    "save_cm21_spectra",
    "save_shared_posterior",
]

_COLOURS = {"A": "C0", "B": "C1", "AB": "k"}


def _pyplot() -> Any:
    from ..plots import _pyplot as pyplot

    return pyplot()


def _axis(ax: Any, size: tuple[float, float] = (6.5, 4.0)) -> Any:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=size)
    return ax


def _save(ax: Any, path: str | Path) -> Path:
    plt = _pyplot()
    fig = ax.figure
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def _truth_row(problem: Problem, values: Mapping[str, float]) -> np.ndarray:
    missing = [n for n in problem.names if n not in values]
    if missing:
        raise ValueError(f"truth must give every parameter of {problem.name!r}; "
                         f"missing {missing}")
    return np.array([[values[n] for n in problem.names]], dtype=float)


def _shipped_amplitude(problem: Problem) -> float:
    """B's amplitude of the shipped spectrum that ``problem`` observes."""
    for amplitude in cm21.AMPLITUDES_B:
        if problem.x_B_obs is not None and np.array_equal(problem.x_B_obs,
                                                          cm21.load_cm21(amplitude)[1]):
            return amplitude
    raise ValueError(f"problem {problem.name!r} does not observe a shipped spectrum "
                     f"of B; give truth")


def plot_cm21_spectra(problem: Problem, *, truth: Mapping[str, float] | None = None,
                      ax: Any = None) -> Any:
    """Both radiometers' observed spectra with the true troughs.

    Parameters
    ----------
    problem : Problem
        From :func:`accord.examples.cm21_problem`.
    truth : mapping, optional
        Parameters of the curves drawn over the data; by default
        :data:`accord.examples.cm21.TRUTH` with B's amplitude that of the
        shipped spectrum the problem observes.
    ax : matplotlib axis, optional
    """
    ax = _axis(ax)
    if truth is None:
        truth = dict(cm21.TRUTH)
        truth_B = dict(truth, A=_shipped_amplitude(problem))
    else:
        truth_B = dict(truth)
    for label, frequencies, x, values, column in [
            ("A", cm21.FREQUENCIES_A, problem.x_A_obs, truth, 3),
            ("B", cm21.FREQUENCIES_B, problem.x_B_obs, truth_B, 4)]:
        radio = cm21.Radiometer(frequencies, [0, 1, 2, column])
        colour = _COLOURS[label]
        ax.plot(frequencies, x, ".", ms=3, color=colour, alpha=0.6,
                label=f"{label}: observed")
        ax.plot(frequencies, radio.signal(_truth_row(problem, values))[0], color=colour,
                label=f"{label}: truth, A = {values['A']:g} K")
    ax.set_xlabel(r"$\nu$ [MHz]")
    ax.set_ylabel(r"$T_{21}$ [K]")
    ax.legend(fontsize="small")
    return ax


def plot_bump_spectra(problem: Problem, *, truth: Mapping[str, float] | None = None,
                      ax: Any = None) -> Any:
    """Both experiments' counts with their true background and background + excess.

    Parameters
    ----------
    problem : Problem
        From :func:`accord.examples.bump_problem`.
    truth : mapping, optional
        By default :data:`accord.examples.bump.TRUTH`.
    ax : matplotlib axis, optional
    """
    ax = _axis(ax)
    theta = _truth_row(problem, bump.TRUTH if truth is None else truth)
    colliders = bump._colliders(problem.names)
    for label, x in [("A", problem.x_A_obs), ("B", problem.x_B_obs)]:
        collider, colour = colliders[label], _COLOURS[label]
        ax.plot(collider.masses, x, ".", ms=3, color=colour, label=f"{label}: counts")
        ax.plot(collider.masses, collider.background(theta)[0], "--", color=colour,
                lw=1, label=f"{label}: background")
        ax.plot(collider.masses, collider.expected(theta)[0], color=colour, lw=1,
                label=f"{label}: background + excess")
    ax.set_yscale("log")
    ax.set_xlabel("mass [GeV]")
    ax.set_ylabel("events per bin")
    ax.legend(fontsize="small", ncol=2)
    return ax


def plot_shared_posterior(samples: Mapping[str, tuple[Any, Any]], *,
                          name: str = "mu", truth: float | None = None,
                          bins: int = 80, range: tuple[float, float] | None = None,
                          ax: Any = None) -> Any:
    """Marginal posteriors of one shared parameter from several runs.

    Parameters
    ----------
    samples : mapping of str to (values, weights)
        For each run (typically ``"A"``, ``"B"``, ``"AB"``) the parameter's
        samples ``(n,)`` and their weights ``(n,)`` (any normalisation;
        ``None`` for equal weights).
    name : str
        The parameter's label on the axis.
    truth : float, optional
        Marked by a vertical line.
    bins : int
    range : (float, float), optional
        By default the 0.05 %-99.95 % weighted quantiles over all runs.
    ax : matplotlib axis, optional
    """
    if not isinstance(samples, Mapping) or not samples:
        raise TypeError("samples must be a non-empty mapping of run label to "
                        "(values, weights)")
    runs = {}
    for label, pair in samples.items():
        try:
            values, weights = pair
        except (TypeError, ValueError):
            raise TypeError(f"samples[{label!r}] must be a pair (values, weights); "
                            f"got {type(pair).__name__}") from None
        values = np.asarray(values, dtype=float).ravel()
        weights = (np.ones_like(values) if weights is None
                   else np.asarray(weights, dtype=float).ravel())
        if values.shape != weights.shape or values.size == 0:
            raise ValueError(f"samples[{label!r}]: values and weights must be "
                             f"non-empty and of one length; got {values.shape} and "
                             f"{weights.shape}")
        if not (np.all(np.isfinite(weights)) and np.all(weights >= 0)
                and weights.sum() > 0):
            raise ValueError(f"samples[{label!r}]: weights must be finite, >= 0 and "
                             f"not all zero")
        runs[label] = (values, weights / weights.sum())

    if range is None:
        lows, highs = [], []
        for values, weights in runs.values():
            order = np.argsort(values)
            cdf = np.cumsum(weights[order])
            lows.append(values[order][np.searchsorted(cdf, 5e-4)])
            top = min(int(np.searchsorted(cdf, 1 - 5e-4)), values.size - 1)
            highs.append(values[order][top])
        pad = 0.05 * (max(highs) - min(lows)) or 1.0
        range = (min(lows) - pad, max(highs) + pad)

    ax = _axis(ax)
    edges = np.linspace(range[0], range[1], bins + 1)
    for label, (values, weights) in runs.items():
        ax.hist(values, bins=edges, weights=weights, density=True, histtype="step",
                lw=1.4, color=_COLOURS.get(label, None), label=label)
    if truth is not None:
        ax.axvline(truth, color="0.5", ls=":", label="truth")
    ax.set_xlabel(name)
    ax.set_ylabel("posterior density")
    ax.legend(fontsize="small")
    return ax


def _observations(observed: Any) -> list[tuple[str, float, dict[str, Any]]]:
    out = []
    for item in observed:
        try:
            label, value, *style = item
        except (TypeError, ValueError):
            raise TypeError(f"observed must hold (label, value) or (label, value, "
                            f"style) items; got {item!r}") from None
        if len(style) > 1 or (style and not isinstance(style[0], Mapping)):
            raise TypeError(f"the style of {label!r} must be one mapping of line "
                            f"options; got {style!r}")
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"the log R of {label!r} must be finite; got {value}")
        out.append((str(label), value, dict(style[0]) if style else {}))
    return out


def _range(log_r: np.ndarray, marks: list[tuple[str, float, dict[str, Any]]]
           ) -> tuple[float, float]:
    """The sample's central 99.8 % widened to every mark, with a margin.

    A long tail of the sample (a few pairs at log R of -40, say) would
    otherwise squeeze the bulk into a few bins.
    """
    low, high = np.quantile(log_r, [0.001, 0.999])
    values = [value for _, value, _ in marks]
    low, high = min([low, *values]), max([high, *values])
    pad = 0.05 * (high - low) or 1.0
    return float(low - pad), float(high + pad)


def plot_observed_concordance(log_r: Any, observed: Any, *, bins: int = 80,
                              ax: Any = None) -> Any:
    """The concordance distribution with several observed log R marked.

    Parameters
    ----------
    log_r : array (N,)
        The concordance sample (:attr:`CalibrationResult.log_r`).
    observed : sequence of (label, value) or (label, value, style)
        Each observed log R to mark, with optional matplotlib line options
        (``{"ls": "--", "color": "C3"}``). The axis spans the sample's
        central 99.8 % and every mark, however far outside the sample.
    bins : int
    ax : matplotlib axis, optional
    """
    log_r = np.asarray(log_r, dtype=float).ravel()
    marks = _observations(observed)
    ax = _axis(ax)
    limits = _range(log_r, marks)
    ax.hist(log_r, bins=np.linspace(*limits, bins + 1), density=True, color="C0",
            alpha=0.5, label=f"concordant pairs ({log_r.size})")
    for i, (label, value, style) in enumerate(marks):
        options = {"color": f"C{(i + 1) % 10}", "lw": 1.4, **style}
        ax.axvline(value, label=f"{label}: {value:.2f}", **options)
    ax.set_xlim(limits)
    ax.set_xlabel(r"$\log R$")
    ax.set_ylabel("density under concordance")
    ax.legend(fontsize="x-small", loc="upper left")
    return ax


def plot_observed_cdf(log_r: Any, observed: Any, *, ax: Any = None) -> Any:
    """The empirical CDF of the concordance sample with observed log R marked.

    Each mark's label gives its P, the fraction of the sample below it.

    Parameters
    ----------
    log_r : array (N,)
    observed : sequence of (label, value) or (label, value, style)
        As for :func:`plot_observed_concordance`.
    ax : matplotlib axis, optional
    """
    values = np.sort(np.asarray(log_r, dtype=float).ravel())
    marks = _observations(observed)
    ax = _axis(ax)
    ax.plot(values, np.arange(1, values.size + 1) / values.size, color="C0",
            label="concordant pairs")
    for i, (label, value, style) in enumerate(marks):
        options = {"color": f"C{(i + 1) % 10}", "lw": 1.4, **style}
        fraction = np.searchsorted(values, value) / values.size
        ax.axvline(value, label=f"{label}: P = {fraction:.3g}", **options)
    ax.set_xlim(_range(values, marks))
    ax.set_xlabel(r"$\log R$")
    ax.set_ylabel(r"$P(\log R < x)$ under concordance")
    ax.legend(fontsize="x-small", loc="upper left")
    return ax


def save_cm21_spectra(problem: Problem, path: str | Path, **options: Any) -> Path:
    """Write :func:`plot_cm21_spectra` to ``path``."""
    return _save(plot_cm21_spectra(problem, **options), path)


def save_bump_spectra(problem: Problem, path: str | Path, **options: Any) -> Path:
    """Write :func:`plot_bump_spectra` to ``path``."""
    return _save(plot_bump_spectra(problem, **options), path)


def save_shared_posterior(samples: Mapping[str, tuple[Any, Any]], path: str | Path,
                          **options: Any) -> Path:
    """Write :func:`plot_shared_posterior` to ``path``."""
    return _save(plot_shared_posterior(samples, **options), path)
