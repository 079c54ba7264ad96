"""Figures of a BAO run: measurements against distances, posterior contours.

Examples
--------
>>> import numpy as np
>>> from accord.bao import load_bao
>>> from accord.bao.plots import plot_distances
>>> ax = plot_distances({"SDSS": load_bao("sdss_dr12_lrg")},
...                     {"best fit": np.array([0.3, 10000.0])})
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
from scipy import ndimage

from .cosmology import distances_over_rd
from .data import BAOData

if TYPE_CHECKING:
    from ..pipeline import PosteriorSamples

__all__ = ["plot_distances", "save_distances", "plot_posteriors", "save_posteriors"]

_LABELS = {"DM_over_rd": r"$D_M / r_d$", "DH_over_rd": r"$D_H / r_d$",
           "DV_over_rd": r"$D_V / r_d$"}
_FIELDS = {"DM_over_rd": "DM", "DH_over_rd": "DH", "DV_over_rd": "DV"}
_COLOURS = {"A": "C0", "B": "C1", "AB": "k"}


def _pyplot() -> Any:
    from ..plots import _pyplot as pyplot

    return pyplot()


def plot_distances(
    data: Mapping[str, BAOData],
    fits: Mapping[str, np.ndarray],
    *,
    parameterisation: str = "Om_H0rd",
    axes: Any = None,
) -> Any:
    """Measured distance ratios of each survey against best-fitting distances.

    Parameters
    ----------
    data : mapping of str to BAOData
        The surveys, by label.
    fits : mapping of str to array (P,)
        Parameters in the parameterisation's order, one curve each; a label
        ``"AB"`` or starting with ``"both"`` is drawn solid, others dashed.
    parameterisation : str
    axes : sequence of matplotlib axes, optional
        One per quantity measured.

    Returns
    -------
    array of axes
    """
    plt = _pyplot()
    quantities = [q for q in _LABELS if any(q in d.quantities for d in data.values())]
    if axes is None:
        _, axes = plt.subplots(1, len(quantities), figsize=(4.2 * len(quantities), 3.8),
                               squeeze=False)
        axes = axes[0]
    z_max = max(float(d.z.max()) for d in data.values())
    z = np.linspace(0.05, 1.1 * z_max, 200)
    curves = {label: distances_over_rd(np.asarray(theta, float), z,
                                       parameterisation=parameterisation)
              for label, theta in fits.items()}

    for ax, quantity in zip(axes, quantities):
        for i, (label, survey) in enumerate(data.items()):
            rows = np.array([q == quantity for q in survey.quantities])
            if rows.any():
                ax.errorbar(survey.z[rows], survey.values[rows], yerr=survey.std[rows],
                            fmt="os"[i % 2], color=f"C{i}", ms=4, capsize=2, label=label)
        for j, (label, distances) in enumerate(curves.items()):
            solid = label == "AB" or label.startswith("both")
            ax.plot(z, getattr(distances, _FIELDS[quantity]),
                    color="k" if solid else f"C{j % 2}", ls="-" if solid else "--",
                    lw=1.2, label=f"best fit, {label}")
        ax.set_xlabel("z")
        ax.set_ylabel(_LABELS[quantity])
        ax.set_xlim(0.0, z[-1])
    # Below the panels: the labels of combined data sets are long.
    handles, labels = axes[0].get_legend_handles_labels()
    axes[0].figure.legend(handles, labels, loc="lower center", ncol=2,
                          fontsize="small", frameon=False)
    return axes


def save_distances(data: Mapping[str, BAOData], fits: Mapping[str, np.ndarray],
                   path: str | Path, *, parameterisation: str = "Om_H0rd") -> Path:
    """Write :func:`plot_distances` to ``path``."""
    plt = _pyplot()
    axes = plot_distances(data, fits, parameterisation=parameterisation)
    fig = axes[0].figure
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def _mass_levels(density: np.ndarray, masses: tuple[float, ...]) -> list[float]:
    """Density thresholds enclosing the given probability masses."""
    flat = np.sort(density.ravel())[::-1]
    cumulative = np.cumsum(flat) / flat.sum()
    levels = [float(flat[min(np.searchsorted(cumulative, m), flat.size - 1)])
              for m in masses]
    return sorted(set(levels))


def plot_posteriors(posteriors: Mapping[str, PosteriorSamples], *,
                    bins: int = 60, smooth: float = 1.5, fig: Any = None) -> Any:
    """Corner plot of weighted posterior samples: 68 % and 95 % contours.

    Parameters
    ----------
    posteriors : mapping of str to PosteriorSamples
        Usually the runs ``"A"``, ``"B"`` and ``"AB"``; a run that lacks a
        parameter is left out of that parameter's panels.
    bins, smooth : int, float
        Histogram bins per axis and the Gaussian smoothing, in bins.

    Returns
    -------
    matplotlib figure
    """
    plt = _pyplot()
    names: list[str] = []
    for samples in posteriors.values():
        names += [n for n in samples.names if n not in names]
    k = len(names)
    if fig is None:
        fig, axes = plt.subplots(k, k, figsize=(2.6 * k + 0.6, 2.6 * k + 0.2),
                                 squeeze=False)
    else:
        axes = np.array(fig.subplots(k, k, squeeze=False))
    ranges = {}
    for name in names:
        lows, highs = [], []
        for samples in posteriors.values():
            if name in samples.names:
                x = samples.theta[:, samples.names.index(name)]
                order = np.argsort(x)
                cdf = np.cumsum(samples.weights[order])
                lows.append(x[order][np.searchsorted(cdf, 0.0005)])
                highs.append(x[order][min(np.searchsorted(cdf, 0.9995), x.size - 1)])
        pad = 0.05 * (max(highs) - min(lows))
        ranges[name] = (min(lows) - pad, max(highs) + pad)

    for i, y_name in enumerate(names):
        for j, x_name in enumerate(names):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            for label, samples in posteriors.items():
                colour = _COLOURS.get(label, "C2")
                if x_name not in samples.names or y_name not in samples.names:
                    continue
                x = samples.theta[:, samples.names.index(x_name)]
                if i == j:
                    hist, edges = np.histogram(x, bins=bins, range=ranges[x_name],
                                               weights=samples.weights, density=True)
                    ax.plot(0.5 * (edges[1:] + edges[:-1]),
                            ndimage.gaussian_filter1d(hist, smooth), color=colour,
                            label=label)
                    continue
                y = samples.theta[:, samples.names.index(y_name)]
                hist, x_edges, y_edges = np.histogram2d(
                    x, y, bins=bins, range=[ranges[x_name], ranges[y_name]],
                    weights=samples.weights)
                hist = ndimage.gaussian_filter(hist, smooth)
                levels = _mass_levels(hist, (0.95, 0.68))
                if len(levels) == 2:
                    ax.contour(0.5 * (x_edges[1:] + x_edges[:-1]),
                               0.5 * (y_edges[1:] + y_edges[:-1]), hist.T,
                               levels=levels + [hist.max() * 1.01], colors=colour,
                               linewidths=1.2)
            ax.set_xlim(ranges[x_name])
            if i != j:
                ax.set_ylim(ranges[y_name])
            else:
                ax.set_yticks([])
            ax.set_xlabel(x_name if i == k - 1 else "")
            ax.set_ylabel(y_name if j == 0 and i != j else "")
    axes[0, 0].legend(fontsize="small", title="68 %, 95 %", title_fontsize="small")
    return fig


def save_posteriors(posteriors: Mapping[str, PosteriorSamples],
                    path: str | Path) -> Path:
    """Write :func:`plot_posteriors` to ``path``."""
    plt = _pyplot()
    fig = plot_posteriors(posteriors)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
