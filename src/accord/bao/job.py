"""The BAO job: two sets of BAO measurements, from a configuration to a tension.

:func:`run_bao` builds the problem that a :class:`~accord.config.BAOConfig`
describes, obtains log R_obs as the configuration says, and hands both to
:func:`accord.run`, which writes each finished stage to disk; it then adds the
BAO figures and ``report.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize

from ..config import BAOConfig, ConfigError
from ..evidence import (
    EvidenceResult,
    NestedSampling,
    evidence_from_chains,
    evidence_from_numbers,
)
from ..pipeline import PosteriorSamples, RunResult, run
from ..priors import Independent, LogUniform, Normal, Uniform
from ..problem import Problem
from ..report import write_report
from .cosmology import get_parameterisation
from .data import combine, load_bao, load_bao_files
from .problem import DEFAULT_A, DEFAULT_B, bao_problem

__all__ = ["bao_problem_from_config", "run_bao"]

_LABELS = ("A", "B", "AB")


def bao_problem_from_config(config: BAOConfig) -> tuple[Problem, dict[str, Any]]:
    """The problem a :class:`~accord.config.BAOConfig` describes, and its data.

    Returns
    -------
    problem : Problem
    data : dict
        ``{"A": BAOData, "B": BAOData}``, for figures.
    """
    data = {}
    for key, entries, label in [("A", config.data_A, config.label_A),
                                ("B", config.data_B, config.label_B)]:
        parts = []
        for entry in entries:
            if isinstance(entry, str):
                parts.append(load_bao(entry))
            else:
                parts.append(load_bao_files(entry["mean"], entry.get("cov"),
                                            label=entry.get("label")))
        joined = parts[0] if len(parts) == 1 else combine(*parts)
        if label is not None:
            joined = combine(joined, label=label)
        data[key] = joined

    para = get_parameterisation(config.parameterisation)
    unknown = [name for name in config.prior if name not in para.names]
    if unknown:
        raise ConfigError(
            f"model.prior names {unknown}, which the {para.name!r} parameterisation "
            f"does not have; accepted: {', '.join(para.names)}")
    default = para.default_prior()
    components = {part.names[0]: part for part in default.components}
    makers = {"uniform": lambda s: Uniform(s["low"], s["high"]),
              "loguniform": lambda s: LogUniform(s["low"], s["high"]),
              "normal": lambda s: Normal(s["loc"], s["scale"])}
    for name, spec in config.prior.items():
        try:
            components[name] = makers[spec["type"]](spec)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"model.prior.{name}: {error}") from None
    prior = Independent(**{name: components[name] for name in para.names})
    name = config.name
    if name is None and (config.data_A, config.data_B) == (DEFAULT_A, DEFAULT_B) \
            and config.label_A is None and config.label_B is None:
        name = "SDSS DR12 LRG vs DESI DR1"
    problem = bao_problem(data["A"], data["B"], parameterisation=para.name,
                          prior=prior, name=name)
    return problem, data


def _best_fits(problem: Problem, posteriors: dict[str, PosteriorSamples],
               parameterisation: str) -> dict[str, np.ndarray]:
    """Best-fitting parameters of A, B and AB, in the parameterisation's order.

    From the nested-sampling samples when there are any, otherwise by
    maximising each likelihood from the prior median.
    """
    order = problem.indices(get_parameterisation(parameterisation).names)
    median = np.asarray(problem.prior.transform(np.full(len(problem.names), 0.5)))
    terms = {"A": [(problem.log_likelihood_A, problem.x_A_obs)],
             "B": [(problem.log_likelihood_B, problem.x_B_obs)]}
    terms["AB"] = terms["A"] + terms["B"]
    fits = {}
    for label in _LABELS:
        if label in posteriors:
            best = posteriors[label].best_fit()
            theta = np.array([best[name] for name in problem.names])
        else:
            def chi2(theta: np.ndarray, label: str = label) -> float:
                if not np.isfinite(problem.prior.log_prob(theta)):
                    return np.inf
                return -float(sum(f(theta[None], x)[0] for f, x in terms[label]))

            theta = optimize.minimize(chi2, median, method="Nelder-Mead").x
        fits[label] = theta[order]
    return fits


def run_bao(
    config: BAOConfig | None = None,
    output: str | Path = "accord-output/bao",
    *,
    progress: bool = False,
    figures: bool = True,
    executor: Any = "auto",
) -> RunResult:
    """The BAO job: two surveys, simulate, train, nested-sample, calibrate, report.

    By default SDSS DR12 LRG (z = 0.38, 0.51) against DESI DR1 (LRG z = 0.71,
    LRG+ELG z = 0.93, ELG z = 1.32) in flat LCDM with (Om, H0 r_d), log R_obs
    from nautilus on the problem's own prior and likelihoods. Writes
    everything :func:`run` writes plus ``report.md`` and ``distances.png``.

    Parameters
    ----------
    config : BAOConfig, optional
        See :mod:`accord.config`; by default the paper's split.
    output : path
        Output directory; finished stages in it are reused.
    progress, figures : bool
    executor : concurrent.futures.Executor or str
        Where the simulations run (see :func:`accord.run`).

    Returns
    -------
    RunResult
    """
    config = BAOConfig() if config is None else config
    if not isinstance(config, BAOConfig):
        raise TypeError(f"config must be a BAOConfig (see accord.config.load_config); "
                        f"got {type(config).__name__}")
    problem, data = bao_problem_from_config(config)

    observed = config.observed
    evidence: EvidenceResult | NestedSampling | None = None
    if observed.source == "sampler":
        evidence = observed.sampling
    elif observed.source == "numbers":
        evidence = evidence_from_numbers(**observed.options)
    elif observed.source == "chains":
        options = dict(observed.options)
        evidence = evidence_from_chains(
            options.pop("root_A"), options.pop("root_B"), options.pop("root_AB"),
            seed=config.seed, prior=problem, **options)

    description = config.to_dict()
    extra = {"config": description,
             "data": {key: {"label": d.label, "z": d.z.tolist(),
                            "quantities": list(d.quantities)}
                      for key, d in data.items()}}
    result = run(problem, output, n_simulations=config.n_simulations,
                 n_calibration=config.n_calibration, seed=config.seed,
                 settings=config.training, progress=progress, figures=figures,
                 extra=extra, evidence=evidence, executor=executor)

    if figures:
        from .plots import save_distances

        fits = _best_fits(problem, result.posteriors, config.parameterisation)
        save_distances({f"A: {data['A'].label}": data["A"],
                        f"B: {data['B'].label}": data["B"]},
                       {"A": fits["A"], "B": fits["B"], "both (AB)": fits["AB"]},
                       result.output / "distances.png",
                       parameterisation=config.parameterisation)
    write_report(result, result.output / "report.md", config=description)
    return result
