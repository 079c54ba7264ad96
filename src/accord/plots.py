"""Figures of a calibration: concordance histogram, CDF and training curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .calibration import CalibrationResult
from .estimator import RatioEstimator

__all__ = ["plot_concordance", "plot_cdf", "plot_training", "save_figures"]


def _pyplot() -> Any:
    # Imported on first use, so that importing accord never loads a GUI
    # backend; the user's backend choice (a notebook's, say) is left alone,
    # and matplotlib falls back to Agg by itself where there is no display.
    import matplotlib.pyplot as plt

    return plt


def _obs_label(result: CalibrationResult) -> str:
    source = "network estimate" if result.log_r_obs_source == "network" else "observed"
    return rf"$\log R_\mathrm{{obs}}$ = {result.log_r_obs:.2f} ({source})"


def plot_concordance(result: CalibrationResult, ax: Any = None,
                     exact_log_r: np.ndarray | None = None) -> Any:
    """Histogram of the concordance sample with the log R_obs band."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    bins = np.histogram_bin_edges(result.log_r, bins=80)
    ax.hist(result.log_r, bins=bins, density=True, color="C0", alpha=0.6,
            label="network, concordant pairs")
    if exact_log_r is not None:
        ax.hist(exact_log_r, bins=bins, density=True, histtype="step", color="k",
                label="exact")
    spread = max(result.log_r_obs_err, float(np.std(result.log_r_obs_members)))
    if spread > 0:
        ax.axvspan(result.log_r_obs - spread, result.log_r_obs + spread, color="C3",
                   alpha=0.25)
    ax.axvline(result.log_r_obs, color="C3", label=_obs_label(result))
    ax.set_xlabel(r"$\log R$")
    ax.set_ylabel("density under concordance")
    ax.legend(fontsize="small")
    return ax


def plot_cdf(result: CalibrationResult, ax: Any = None) -> Any:
    """Empirical CDF of the concordance sample with P, T and C marked."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    values = np.sort(result.log_r)
    ax.plot(values, np.arange(1, values.size + 1) / values.size, color="C0")
    ax.axvline(result.log_r_obs, color="C3", label=_obs_label(result))
    ax.axhline(result.P, color="C3", ls=":")
    T = f"> {result.T:.2f}" if result.T_bound else f"= {result.T:.2f}"
    C = f"> {result.C:.2f}" if result.C_bound else f"= {result.C:.2f}"
    ax.text(0.03, 0.95,
            f"P = {result.P:.3g}\nT {T} $\\pm$ {result.T_err['total']:.2f}\u03c3\n"
            f"C {C} $\\pm$ {result.C_err['total']:.2f}\u03c3",
            transform=ax.transAxes, va="top", fontsize="small",
            bbox=dict(facecolor="white", alpha=0.8, edgecolor="none"))
    ax.set_xlabel(r"$\log R$")
    ax.set_ylabel(r"$P(\log R < x)$ under concordance")
    ax.legend(fontsize="small", loc="lower right")
    return ax


def plot_training(estimator: RatioEstimator, ax: Any = None) -> Any:
    """Training (dashed) and validation (solid) loss of every member."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for i, history in enumerate(estimator.history):
        for j, (part, curves) in enumerate(sorted(history.items())):
            color = f"C{i % 10}"
            label = f"member {i}" if j == 0 else None
            epochs = np.arange(len(curves["validation"]))
            ls = ["-", "-."][j % 2]
            ax.plot(epochs, curves["validation"], color=color, ls=ls, label=label)
            ax.plot(epochs[1:], curves["train"], color=color, ls="--", alpha=0.5)
            ax.plot(curves["best_epoch"], curves["validation"][curves["best_epoch"]],
                    "o", color=color)
    parts = sorted({part for history in estimator.history for part in history})
    styles = ", ".join(f"{part} {['solid', 'dash-dot'][j % 2]}" for j, part in enumerate(parts))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (nats per pair)")
    ax.set_title(f"validation ({styles}); training dashed; best weights: dot",
                 fontsize="small")
    ax.legend(fontsize="small")
    return ax


def save_figures(result: CalibrationResult, estimator: RatioEstimator,
                 directory: str | Path, *,
                 exact_log_r: np.ndarray | None = None) -> list[Path]:
    """Write ``concordance.png``, ``cdf.png`` and ``training.png``."""
    plt = _pyplot()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in [
        ("concordance.png", lambda ax: plot_concordance(result, ax, exact_log_r)),
        ("cdf.png", lambda ax: plot_cdf(result, ax)),
        ("training.png", lambda ax: plot_training(estimator, ax)),
    ]:
        fig, ax = plt.subplots(figsize=(6, 4))
        draw(ax)
        fig.tight_layout()
        fig.savefig(directory / name, dpi=120)
        plt.close(fig)
        paths.append(directory / name)
    return paths
