"""Plain-text and Markdown reports of a run: the result and its diagnostics.

:func:`summary_text` is what ``accord run`` prints and writes to
``summary.txt``; :func:`write_report` writes ``report.md`` beside the
figures. Both only format; nothing is computed here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .pipeline import RunResult

__all__ = ["summary_text", "write_report"]

_FIGURES = {
    "distances.png": "measurements of both surveys against the best-fitting distances",
    "posteriors.png": "posteriors of A, B and AB from the nested-sampling samples "
                      "(68 % and 95 % contours)",
    "concordance.png": "concordance distribution of log R with the observed band",
    "cdf.png": "its cumulative distribution, with P, T and C",
    "training.png": "training and validation loss of every member",
}


def _suspiciousness_lines(result: RunResult) -> list[str]:
    s = result.suspiciousness
    if s is None:
        why = ("log R_obs did not come from nested sampling or chains"
               if result.evidence is None or result.evidence.source == "numbers"
               else "the sampler run kept no posterior samples")
        return [f"  suspiciousness not available ({why})"]
    if s.get("sigma_S") is None:
        return [f"  suspiciousness log S = {s['logS']:.3f} +/- {s['logS_err']:.3f}, "
                f"d_G = {s['d_G']:.2f}: no p-value (d_G <= 0)"]
    return [f"  suspiciousness log S = {s['logS']:.3f} +/- {s['logS_err']:.3f}, "
            f"d_G = {s['d_G']:.2f} +/- {s['d_G_err']:.2f}, p = {s['p_S']:.3g}, "
            f"{s['sigma_S']:.2f} sigma   [{s['source']}]"]


def _diagnostics(result: RunResult) -> list[str]:
    cal, estimator = result.calibration, result.estimator
    epochs = []
    for history in estimator.history:
        parts = [f"{len(curves['validation']) - 1}/{curves['best_epoch']}"
                 for curves in history.values()]
        epochs.append(" + ".join(parts))
    networks = " + ".join(estimator.history[0]) if estimator.history else ""
    member_word = "member" if estimator.n_members == 1 else "members"
    lines = [f"  training      {estimator.n_simulations} simulations, "
             f"{estimator.n_members} {member_word}; epochs run/best per member "
             f"({networks}): {', '.join(epochs)}"]
    if estimator.settings.max_epochs and any(
            len(c["validation"]) - 1 >= estimator.settings.max_epochs
            for h in estimator.history for c in h.values()):
        lines.append("                some members reached max_epochs without stopping "
                     "early; more epochs may help")
    lines.append(f"  members       T per member {np.round(cal.T_members, 3).tolist()}")
    check = result.network_check
    if check is not None:
        verdict = "agree" if check["agree"] else "DISAGREE (more than 3 sigma)"
        n_sigma = "" if check["n_sigma"] is None else f", {check['n_sigma']:.1f} sigma"
        lines.append(f"  network       log R for the observed data = {check['log_r']:.3f}"
                     f" +/- {check['spread']:.3f} (member spread); {verdict} with "
                     f"log R_obs{n_sigma}")
    if result.evidence is not None and result.evidence.runs:
        calls = sum(run.get(f"n_like_{x}", 0.0) for run in result.evidence.runs
                    for x in ("A", "B", "AB"))
        lines.append(f"  evidence      {result.evidence.source}: log Z_A = "
                     f"{result.evidence.logZ_A:.3f}, log Z_B = {result.evidence.logZ_B:.3f}"
                     f", log Z_AB = {result.evidence.logZ_AB:.3f}; "
                     f"{int(calls)} likelihood calls")
    timings = ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
    lines.append(f"  time (s)      {timings}")
    if result.reused:
        lines.append(f"  reused        {', '.join(result.reused)} (from {result.output})")
    return lines


def summary_text(result: RunResult) -> str:
    """The calibration table, the suspiciousness and the diagnostics, as text."""
    lines = [result.calibration.summary()]
    if result.evidence is not None or result.network_check is not None:
        lines += [""] + _suspiciousness_lines(result) + [""] + _diagnostics(result)
    return "\n".join(lines)


def _value(x: float, bound: str | None) -> str:
    return f"> {x:.2f}" if bound else f"{x:.2f}"


def write_report(result: RunResult, path: str | Path, *,
                 config: dict[str, Any] | None = None) -> Path:
    """Write ``report.md``: result, error budget, suspiciousness, diagnostics.

    Parameters
    ----------
    result : RunResult
    path : path
        The file to write.
    config : dict, optional
        The run's configuration, shown at the end.
    """
    cal = result.calibration
    path = Path(path)
    source = ("network estimate for the observed data"
              if cal.log_r_obs_source == "network" else
              "nested sampling" if result.evidence is not None
              and result.evidence.source in ("nautilus", "dynesty") else
              result.evidence.source if result.evidence is not None else "given")
    out = [
        f"# accord: {result.problem or cal.problem}",
        "",
        f"log R_obs = **{cal.log_r_obs:.3f} +/- {cal.log_r_obs_err:.3f}** ({source}).",
        f"Against {cal.n_calibration} concordant simulated pairs ({cal.method} "
        f"estimator, {len(cal.T_members)} members), P = {cal.P:.4g}:",
        "",
        "| statistic | value | from log R_obs | between members | finite sample | total |",
        "|---|---|---|---|---|---|",
    ]
    for name, x, bound, err in [("tension T (sigma)", cal.T, cal.T_bound, cal.T_err),
                                ("concordance C (sigma)", cal.C, cal.C_bound,
                                 cal.C_err)]:
        out.append(f"| {name} | {_value(x, bound)} | {err['log_r_obs']:.3f} | "
                   f"{err['members']:.3f} | {err['finite_sample']:.3f} | "
                   f"{err['total']:.3f} |")
    out += ["", f"Signed surprise s_R = {cal.s_R:.2f}.", ""]

    out += ["## Suspiciousness", ""]
    out += [line.strip() for line in _suspiciousness_lines(result)]
    out += ["", "The suspiciousness (Handley & Lemos 2019, arXiv:1902.04029) removes "
            "the prior dependence of log R analytically, assuming Gaussian "
            "posteriors; the calibrated T does it by simulation.", ""]

    out += ["## Diagnostics", "", "```"] + _diagnostics(result) + ["```", ""]
    figures = [(name, text) for name, text in _FIGURES.items()
               if (result.output / name).is_file()]
    if figures:
        out += ["## Figures", ""]
        out += [f"- `{name}`: {text}" for name, text in figures]
        out += [""] + [f"![{name}]({name})" for name, _ in figures] + [""]
    if config is not None:
        out += ["## Configuration", "", "```json", json.dumps(config, indent=1), "```",
                ""]
    out += ["Method: Bevins, Handley & Gessey-Jones (2024), arXiv:2407.15478.", ""]
    path.write_text("\n".join(out))
    return path
