"""The paper's 21-cm and bump-hunt demonstrations as complete, resumable jobs.

:func:`run_cm21` and :func:`run_bump` build the example's problem, obtain
log R_obs from every source the example has (the published PolyChord runs,
accord's own nested sampling with nautilus, and the trained network itself),
hand the problem to :func:`accord.run`, which simulates, trains and
calibrates with every finished stage on disk, calibrate each source against
the same concordance sample, and write ``report.md``, ``result.json``,
``summary.txt`` and the example's figures. ``accord run 21cm`` and
``accord run bump`` call them.

The three 21-cm observations differ only in B's spectrum; the simulations
and the trained ensemble do not depend on the observation (the problem's
fingerprint leaves it out), so the cases share them: the shared stages live
in the output folder itself and each case's own files in ``B<amplitude>/``.

References
----------
Bevins, Handley & Gessey-Jones (2024), "Calibrating Bayesian Tension
Statistics using Neural Ratio Estimation", arXiv:2407.15478.

Examples
--------
>>> from accord.examples.job import PAPER_CM21, polychord_evidence
>>> PAPER_CM21[0.25]["T"]
2.99
>>> round(polychord_evidence(0.2, seed=0).logR, 1)
8.6
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .._version import __version__
from ..calibration import CalibrationResult, calibrate
from ..estimator import RatioEstimator, TrainingSettings
from ..evidence import (
    EvidenceResult,
    NestedSampling,
    cross_check,
    evidence_from_chains,
)
from ..exceptions import AccordWarning
from ..pipeline import RunResult, _nested_sampling_stage, run
from ..problem import Problem
from . import bump, cm21

__all__ = [
    "BUMP_SAMPLING",
    "CM21_SAMPLING",
    "PAPER_BUMP",
    "PAPER_CM21",
    "ExampleCase",
    "ExampleResult",
    "polychord_evidence",
    "run_bump",
    "run_cm21",
]

logger = logging.getLogger(__name__)

PAPER_CM21: dict[float, dict[str, float]] = {
    0.15: {"logR": -4.9, "logR_err": 0.6, "T": 2.15},
    0.2: {"logR": 8.6, "logR_err": 0.6, "T": 0.51},
    0.25: {"logR": -13.4, "logR_err": 0.6, "T": 2.99},
}
"""The paper's log R_obs (PolyChord) and calibrated T for B's three amplitudes."""

PAPER_BUMP: dict[str, float] = {"C": 2.56, "C_plus": 0.31, "C_minus": 0.29}
"""The paper's calibrated concordance of the bump hunt, over five networks."""

CM21_SAMPLING = NestedSampling(n_live=300, n_eff=2000, n_networks=1)
"""nautilus's default settings for the 21-cm cases: under a minute each on two
cores, with one network per bound instead of four (the evidence is an
importance-sampling sum over the bounds, so cruder bounds cost efficiency,
not accuracy)."""

BUMP_SAMPLING = NestedSampling(n_live=200, n_eff=1000, n_networks=1)
"""nautilus's settings for the bump hunt: a few minutes on two cores for the
three runs, which sample one ordering of each experiment's interchangeable
background terms (``Problem(exchangeable=...)``)."""

_SOURCE_LABELS = {"polychord": "PolyChord (published runs)",
                  "nautilus": "nested sampling (nautilus)",
                  "network": "network"}
_STAGES = ("simulate", "train", "nested_sampling", "calibrate")


# --------------------------------------------------------------------------
# Results


@dataclass
class ExampleCase:
    """One observation of an example, calibrated with every source of log R_obs.

    Attributes
    ----------
    label : str
        For example ``"B = 0.15 K"`` or ``"bump"``.
    output : Path
        The case's own folder.
    observed : str
        The source of the main result: ``"polychord"``, ``"nautilus"`` or
        ``"network"``.
    evidences : dict of str to EvidenceResult
        log R_obs from nested sampling, by source.
    calibrations : dict of str to CalibrationResult
        The same concordance sample calibrating each source, ``"network"``
        (the ensemble's estimate for the observed pair) included.
    network : dict
        The ensemble's log R for the observed pair: ``log_r``, ``spread``
        (standard deviation between members) and ``members``.
    agree : dict of str to bool
        For each nested-sampling source, whether the network's log R lies
        within three combined standard deviations of it.
    paper : dict
        The paper's numbers for this case.
    run : RunResult
        What :func:`accord.run` returned for the main source.
    """

    label: str
    output: Path
    observed: str
    evidences: dict[str, EvidenceResult]
    calibrations: dict[str, CalibrationResult]
    network: dict[str, Any]
    agree: dict[str, bool]
    paper: dict[str, float]
    run: RunResult

    @property
    def calibration(self) -> CalibrationResult:
        """The calibration of the main source of log R_obs."""
        return self.calibrations[self.observed]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary of the case."""
        return {
            "label": self.label,
            "observed": self.observed,
            "calibrations": {k: v.to_dict() for k, v in self.calibrations.items()},
            "evidences": {k: v.to_dict() for k, v in self.evidences.items()},
            "network": self.network,
            "network_agrees_with": self.agree,
            "suspiciousness": self.run.suspiciousness,
            "paper": self.paper,
        }


@dataclass
class ExampleResult:
    """Everything :func:`run_cm21` or :func:`run_bump` made.

    Attributes
    ----------
    example : str
        ``"21cm"`` or ``"bump"``.
    cases : list of ExampleCase
        One per observation.
    estimator : RatioEstimator
        The ensemble all cases share.
    output : Path
        The folder of ``report.md``, ``result.json``, ``summary.txt``, the
        figures and the shared stages.
    timings : dict
        Wall time in seconds of each stage (``simulate``, ``train``,
        ``nested_sampling``, ``calibrate``), summed over the cases; a stage
        reused from disk counts only its loading.
    settings : dict
        The budget of the run, as written to ``result.json``.
    reused : list of str
        Stages taken from disk rather than computed.
    """

    example: str
    cases: list[ExampleCase]
    estimator: RatioEstimator
    output: Path
    timings: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The result of every case and source as plain text, as printed."""
        return "\n".join(_summary_lines(self))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary, as written to ``result.json``."""
        return {"accord_version": __version__, "example": self.example,
                "settings": self.settings, "timings_s": self.timings,
                "reused_stages": self.reused,
                "cases": [case.to_dict() for case in self.cases]}


# --------------------------------------------------------------------------
# Sources of log R_obs


def polychord_evidence(amplitude_B: float, problem: Problem | None = None, *,
                       n_samples: int = 1000, seed: int | None = 0) -> EvidenceResult:
    """log R_obs of a 21-cm case from the published PolyChord runs.

    The runs ship with accord (``accord/data/cm21/polychord``); they are read
    with :func:`accord.evidence_from_chains`, which checks every point against
    the prior of ``problem``.

    Parameters
    ----------
    amplitude_B : {0.15, 0.2, 0.25}
        B's true amplitude in K.
    problem : Problem, optional
        By default :func:`accord.examples.cm21_problem` of ``amplitude_B``.
    n_samples : int
        Simulated prior volumes behind the evidence errors.
    seed : int or None
        Seed of the simulated prior volumes.
    """
    amplitude_B = cm21._check_amplitude(amplitude_B)
    problem = cm21.cm21_problem(amplitude_B) if problem is None else problem
    folders = ("exp1", f"exp2_{amplitude_B:g}", f"joint_{amplitude_B:g}")
    # A real folder even when the package is imported from a zip archive.
    package = resources.files("accord") / "data" / "cm21" / "polychord"
    with resources.as_file(package) as root:
        roots = [Path(root) / folder / "test" for folder in folders]
        return evidence_from_chains(*roots, n_samples=n_samples, seed=seed,
                                    prior=problem)


def _nautilus_stage(problem: Problem, directory: Path, options: NestedSampling, *,
                    seed: int, progress: bool) -> tuple[EvidenceResult, bool]:
    """nautilus on the observed pair, as the nested-sampling stage of
    :func:`accord.run` in ``directory``: a finished run with the same settings
    and data is read back, and checkpoints of other settings are removed."""
    evidence, _, _, reused = _nested_sampling_stage(problem, directory, options,
                                                    seed=seed, progress=progress)
    return evidence, reused


# --------------------------------------------------------------------------
# One case


def _check_budget(n_simulations: Any, n_calibration: Any, seed: Any) -> None:
    for name, value, low in (("n_simulations", n_simulations, 10),
                             ("n_calibration", n_calibration, 100),
                             ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")


def _network(estimator: RatioEstimator, problem: Problem) -> dict[str, Any]:
    members = estimator.log_ratio(problem.x_A_obs, problem.x_B_obs, members=True)
    spread = float(members.std(ddof=1)) if members.size > 1 else 0.0
    return {"log_r": float(members.mean()), "spread": spread,
            "members": members.tolist()}


def _agrees(evidence: EvidenceResult, network: dict[str, Any]) -> bool:
    # accord.run has already warned about the main source; the report and
    # the summary flag every disagreement.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AccordWarning)
        return cross_check(evidence.logR, evidence.logR_err, network["log_r"],
                           network["spread"])


def _run_case(problem: Problem, output: Path, case_dir: Path, label: str, *,
              evidences: dict[str, EvidenceResult], observed: str,
              n_simulations: int, n_calibration: int, seed: int,
              settings: TrainingSettings, sampling: NestedSampling | None,
              progress: bool, paper: dict[str, float], extra: dict[str, Any],
              timings: dict[str, float], executor: Any = "auto") -> ExampleCase:
    """Run :func:`accord.run` for one observation and calibrate every source."""
    evidence: EvidenceResult | NestedSampling | None = evidences.get(observed)
    if observed == "nautilus" and evidence is None:
        evidence = sampling  # nautilus as a stage of accord.run, with posteriors
    result = run(problem, output, n_simulations=n_simulations,
                 n_calibration=n_calibration, seed=seed, settings=settings,
                 progress=progress, figures=False, evidence=evidence, extra=extra,
                 executor=executor)
    for stage in _STAGES:
        timings[stage] += result.timings.get(stage, 0.0)
    if isinstance(evidence, NestedSampling) and result.evidence is not None:
        evidences["nautilus"] = result.evidence
    if case_dir != output:
        case_dir.mkdir(parents=True, exist_ok=True)
        for name in ("result.json", "summary.txt"):
            (output / name).replace(case_dir / name)

    # The other sources against the same concordance sample (same estimator,
    # problem and seed), each with its full error budget.
    calibrations = {observed: result.calibration}
    start = time.perf_counter()
    for source in [*evidences, "network"]:
        if source in calibrations:
            continue
        if source == "network":
            calibrations[source] = calibrate(result.estimator, problem,
                                             n_calibration=n_calibration, seed=seed)
        else:
            calibrations[source] = calibrate(
                result.estimator, problem, n_calibration=n_calibration, seed=seed,
                log_r_obs=evidences[source].logR,
                log_r_obs_err=evidences[source].logR_err,
                log_r_obs_source=_SOURCE_LABELS[source])
    timings["calibrate"] += time.perf_counter() - start

    network = _network(result.estimator, problem)
    return ExampleCase(
        label=label, output=case_dir, observed=observed, evidences=evidences,
        calibrations={s: calibrations[s] for s in
                      [*evidences, "network"] if s in calibrations},
        network=network,
        agree={source: _agrees(ev, network) for source, ev in evidences.items()},
        paper=paper, run=result)


# --------------------------------------------------------------------------
# The two jobs


def _amplitudes(amplitude_B: Any) -> tuple[float, ...]:
    """The cases to run, from ``"all"``, one amplitude or a sequence of them."""
    if isinstance(amplitude_B, str) and amplitude_B == "all":
        return cm21.AMPLITUDES_B
    values = amplitude_B if isinstance(amplitude_B, (list, tuple)) else [amplitude_B]
    try:
        amplitudes = tuple(cm21._check_amplitude(
            float(a) if isinstance(a, str) else a) for a in values)
    except ValueError:
        raise ValueError(f"amplitude_B must be one of {cm21.AMPLITUDES_B} (K), a "
                         f"sequence of them, or 'all'; got {amplitude_B!r}") from None
    if not amplitudes or len(set(amplitudes)) != len(amplitudes):
        raise ValueError(f"amplitude_B must list distinct amplitudes of "
                         f"{cm21.AMPLITUDES_B}; got {amplitude_B!r}")
    return amplitudes


def run_cm21(
    amplitude_B: float | str | Sequence[float] = "all",
    output: str | Path = "accord-output/21cm",
    *,
    n_simulations: int = 20_000,
    n_calibration: int = 20_000,
    seed: int = 0,
    settings: TrainingSettings | None = None,
    sampling: NestedSampling | None = None,
    observed: str = "polychord",
    progress: bool = False,
    figures: bool = True,
    executor: Any = "auto",
) -> ExampleResult:
    """The 21-cm radiometers: calibrated T and C of B's spectra against A's.

    For each case, log R_obs comes from the published PolyChord runs and from
    nautilus on the problem's own prior and likelihoods, and the network
    estimates it too; all three are calibrated against one concordance
    sample, and the report sets them side by side with the paper's T.

    Parameters
    ----------
    amplitude_B : {0.15, 0.2, 0.25, "all"} or sequence of them
        B's true amplitude in K; ``"all"`` runs the three cases, which share
        the simulations and the trained ensemble.
    output : path
        Folder of the shared stages, ``report.md``, ``result.json``,
        ``summary.txt`` and the figures; each case's own files go to
        ``B<amplitude>/`` inside it. Finished stages are reused.
    n_simulations, n_calibration : int
        Training simulations and concordant pairs of the calibration.
    seed : int
        Seeds the simulations, the networks, the calibration, nautilus and
        the simulated prior volumes of the PolyChord evidences.
    settings : TrainingSettings, optional
        By default two members of the Gaussian-posterior estimator.
    sampling : NestedSampling, optional
        nautilus's settings; by default :data:`CM21_SAMPLING`.
    observed : {"polychord", "nautilus", "network"}
        The source of log R_obs for the main result; the others are reported
        beside it. ``"network"`` also skips nautilus (the PolyChord values
        cost nothing and are still shown).
    progress, figures : bool
    executor : concurrent.futures.Executor or str
        Where the simulations run (see :func:`accord.run`).

    Returns
    -------
    ExampleResult

    Notes
    -----
    At affordable budgets the network's log R for the observed pairs is
    shrunk towards the middle of the concordance distribution (the
    posteriors are about a thousandth of the prior's width), so the
    PolyChord and nautilus values can fall outside the concordance sample
    and give only a bound on T; the report shows the network's value beside
    them and flags the disagreement. See docs/cm21.md.
    """
    amplitudes = _amplitudes(amplitude_B)
    _check_budget(n_simulations, n_calibration, seed)
    if observed not in ("polychord", "nautilus", "network"):
        raise ValueError(f"observed must be 'polychord', 'nautilus' or 'network'; "
                         f"got {observed!r}")
    settings = TrainingSettings(n_members=2) if settings is None else settings
    sampling = CM21_SAMPLING if sampling is None else sampling
    if sampling.sampler != "nautilus":
        raise ValueError(f"the 21-cm job runs nautilus; got sampler "
                         f"{sampling.sampler!r}")
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    timings = dict.fromkeys(_STAGES, 0.0)

    cases, reused = [], set()
    for amplitude in amplitudes:
        # One name for the three cases: accord.run reuses the stages of a
        # problem with the same name and model, and the observation is not
        # part of the model.
        problem = cm21.cm21_problem(amplitude, name="21cm")
        case_dir = output / f"B{amplitude:g}"
        start = time.perf_counter()
        evidences = {"polychord": polychord_evidence(amplitude, problem, seed=seed)}
        if observed != "network":
            evidences["nautilus"], was_reused = _nautilus_stage(
                problem, case_dir / "nautilus", sampling, seed=seed, progress=progress)
            if was_reused:
                reused.add("nested_sampling")
        timings["nested_sampling"] += time.perf_counter() - start
        paper = PAPER_CM21[amplitude]
        case = _run_case(
            problem, output, case_dir, f"B = {amplitude:g} K", evidences=evidences,
            observed=observed, n_simulations=n_simulations, n_calibration=n_calibration,
            seed=seed, settings=settings, sampling=sampling, progress=progress,
            paper=paper, extra={"example": "21cm", "amplitude_B": amplitude,
                                "paper": paper},
            timings=timings, executor=executor)
        reused.update(case.run.reused)
        cases.append(case)

    result = ExampleResult(
        example="21cm", cases=cases, estimator=cases[0].run.estimator, output=output,
        timings=timings, reused=sorted(reused),
        settings=_settings_dict(n_simulations, n_calibration, seed, settings, sampling,
                                observed, amplitude_B=list(amplitudes)))
    _finish(result, figures=figures)
    return result


def run_bump(
    output: str | Path = "accord-output/bump",
    *,
    n_simulations: int = 20_000,
    n_calibration: int = 20_000,
    seed: int = 0,
    settings: TrainingSettings | None = None,
    sampling: NestedSampling | None = None,
    observed: str = "nautilus",
    progress: bool = False,
    figures: bool = True,
    executor: Any = "auto",
) -> ExampleResult:
    """The bump hunt: do two colliders see the same excess near 125 GeV?

    nautilus samples A, B and AB with the Poisson likelihood, as a resumable
    stage of :func:`accord.run` that keeps the posterior samples; its
    log R_obs is the main result, calibrated on the ensemble's concordance
    distribution, with the network's own log R for the observed counts
    beside it. ``observed="network"`` skips nested sampling and calibrates
    the network's value alone. The report sets C against the paper's
    C = 2.56 (+0.31/-0.29).

    Parameters
    ----------
    output : path
        Folder of every stage, ``report.md``, ``result.json``, ``summary.txt``
        and the figures. Finished stages are reused.
    n_simulations, n_calibration, seed :
        As for :func:`run_cm21`.
    settings : TrainingSettings, optional
        By default two members of the Gaussian-posterior estimator.
    sampling : NestedSampling, optional
        nautilus's settings; by default :data:`BUMP_SAMPLING`.
    observed : {"network", "nautilus"}
        The source of log R_obs for the main result.
    progress, figures : bool
    executor : concurrent.futures.Executor or str
        Where the simulations run (see :func:`accord.run`).

    Returns
    -------
    ExampleResult

    Notes
    -----
    The background's three terms are interchangeable, so each experiment's
    posterior has 3! = 6 equal modes and the joint one 36. The problem
    declares them (``exchangeable``), and nautilus samples one ordering of
    the terms with the prior density multiplied by 6 per experiment, which
    leaves every evidence unchanged and the posterior with one mode. See
    docs/bump.md.
    """
    _check_budget(n_simulations, n_calibration, seed)
    if observed not in ("nautilus", "network"):
        raise ValueError(f"observed must be 'network' or 'nautilus' for the bump "
                         f"hunt; got {observed!r}")
    settings = TrainingSettings(n_members=2) if settings is None else settings
    sampling = BUMP_SAMPLING if sampling is None else sampling
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    timings = dict.fromkeys(_STAGES, 0.0)

    paper = dict(PAPER_BUMP)
    case = _run_case(bump.bump_problem(), output, output, "bump", evidences={},
                     observed=observed, n_simulations=n_simulations,
                     n_calibration=n_calibration, seed=seed, settings=settings,
                     sampling=sampling, progress=progress, paper=paper,
                     extra={"example": "bump", "paper": paper}, timings=timings,
                     executor=executor)
    result = ExampleResult(
        example="bump", cases=[case], estimator=case.run.estimator, output=output,
        timings=timings, reused=list(case.run.reused),
        settings=_settings_dict(n_simulations, n_calibration, seed, settings, sampling,
                                observed))
    _finish(result, figures=figures)
    return result


def _settings_dict(n_simulations: int, n_calibration: int, seed: int,
                   settings: TrainingSettings, sampling: NestedSampling,
                   observed: str, **more: Any) -> dict[str, Any]:
    return {"n_simulations": n_simulations, "n_calibration": n_calibration,
            "seed": seed, "observed": observed, "training": asdict(settings),
            "nested_sampling": asdict(sampling), **more}


# --------------------------------------------------------------------------
# Output


def _finish(result: ExampleResult, *, figures: bool) -> None:
    """Write the figures, ``report.md``, ``result.json`` and ``summary.txt``."""
    written = _write_figures(result) if figures else []
    (result.output / "result.json").write_text(json.dumps(result.to_dict(), indent=1))
    (result.output / "summary.txt").write_text(result.summary() + "\n")
    _write_report(result, written)


def _marks(result: ExampleResult) -> list[tuple[str, float, dict[str, Any]]]:
    """Every log R_obs to mark on the figures: one colour per case, the main
    source solid, the network dashed."""
    marks = []
    for i, case in enumerate(result.cases):
        prefix = "" if len(result.cases) == 1 else f"{case.label}: "
        colour = f"C{3 + i}"
        marks.append((f"{prefix}{_SOURCE_LABELS[case.observed]}",
                      case.calibration.log_r_obs, {"color": colour}))
        if case.observed != "network":
            marks.append((f"{prefix}network", case.network["log_r"],
                          {"color": colour, "ls": "--"}))
    return marks


def _write_figures(result: ExampleResult) -> list[tuple[str, str]]:
    from ..plots import _pyplot, plot_training
    from . import plots

    plt = _pyplot()
    output, cases = result.output, result.cases
    sample = cases[0].calibration.log_r
    marks = _marks(result)
    written = []

    if result.example == "21cm":
        fig, axes = plt.subplots(len(cases), 1, figsize=(6.5, 3.2 * len(cases)),
                                 squeeze=False)
        for case, ax in zip(cases, axes[:, 0]):
            amplitude = case.run.extra["amplitude_B"]
            plots.plot_cm21_spectra(cm21.cm21_problem(amplitude), ax=ax)
            ax.set_title(case.label, fontsize="medium")
        _save(fig, output / "spectra.png")
        written.append(("spectra.png", ("observed spectra of both radiometers "
                                        "with the true troughs")))
    else:
        problem = bump.bump_problem()
        plots.save_bump_spectra(problem, output / "spectra.png")
        written.append(("spectra.png", ("counts of both experiments with the "
                                        "true background and background + excess")))
        posteriors = cases[0].run.posteriors
        if posteriors:
            samples = {label: (p.theta[:, p.names.index("mu")], p.weights)
                       for label, p in posteriors.items()}
            plots.save_shared_posterior(samples, output / "posterior_mu.png",
                                        name=r"$\mu$ [GeV]", truth=bump.TRUTH["mu"])
            written.append(("posterior_mu.png", ("posterior of the shared mass "
                                                 "from the nautilus runs on A, B "
                                                 "and AB")))

    for name, draw, text in [
            ("concordance.png", plots.plot_observed_concordance,
             "concordance distribution of the network's log R with every log R_obs"),
            ("cdf.png", plots.plot_observed_cdf,
             "its cumulative distribution with every log R_obs")]:
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        draw(sample, marks, ax=ax)
        _save(fig, output / name)
        written.append((name, text))
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_training(result.estimator, ax)
    _save(fig, output / "training.png")
    written.append(("training.png", "training and validation loss of every member"))
    return written


def _save(fig: Any, path: Path) -> None:
    from ..plots import _pyplot

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)


def _value(x: float, bound: str | None) -> str:
    return f"> {x:.2f}" if bound else f"{x:.2f}"


def _paper_column(result: ExampleResult, case: ExampleCase) -> str:
    if result.example == "21cm":
        return f"T = {case.paper['T']:.2f}"
    return (f"C = {case.paper['C']:.2f} (+{case.paper['C_plus']:.2f}/"
            f"-{case.paper['C_minus']:.2f})")


def _rows(result: ExampleResult) -> list[list[str]]:
    rows = []
    for case in result.cases:
        for source, cal in case.calibrations.items():
            main = " (main)" if source == case.observed else ""
            err = (f"{case.network['spread']:.2f} (members)" if source == "network"
                   else f"{cal.log_r_obs_err:.2f}")
            rows.append([case.label, _SOURCE_LABELS[source] + main,
                         f"{cal.log_r_obs:.2f} +/- {err}", f"{cal.P:.4g}",
                         f"{_value(cal.T, cal.T_bound)} +/- {cal.T_err['total']:.2f}",
                         f"{_value(cal.C, cal.C_bound)} +/- {cal.C_err['total']:.2f}",
                         _paper_column(result, case)])
    return rows


_HEADER = ["case", "log R_obs from", "log R_obs", "P", "T (sigma)", "C (sigma)",
           "paper"]


def _disagreements(result: ExampleResult) -> list[str]:
    """One line per case whose network log R misses a nested-sampling value."""
    lines = []
    for case in result.cases:
        missed = [f"{_SOURCE_LABELS[source]} {case.evidences[source].logR:.2f} +/- "
                  f"{case.evidences[source].logR_err:.2f}"
                  for source, agrees in case.agree.items() if not agrees]
        if missed:
            lines.append(f"{case.label}: network {case.network['log_r']:.2f} +/- "
                         f"{case.network['spread']:.2f} against {' and '.join(missed)}")
    return lines


def _title(result: ExampleResult) -> str:
    return ("21-cm global signal seen by two radiometers" if result.example == "21cm"
            else "bump hunt at two colliders")


def _budget(result: ExampleResult) -> str:
    s, training = result.settings, result.estimator.settings
    members = f"{training.n_members} member{'s' if training.n_members > 1 else ''}"
    sampled = any("nautilus" in case.evidences for case in result.cases)
    sampler = (f", nautilus n_live = {s['nested_sampling']['n_live']}" if sampled
               else ", no nautilus run")
    return (f"{s['n_simulations']} simulations, {training.method} estimator with "
            f"{members}, {s['n_calibration']} concordant pairs{sampler}, "
            f"seed {s['seed']}")


def _summary_lines(result: ExampleResult) -> list[str]:
    widths = [max(len(r[i]) for r in [_HEADER] + _rows(result))
              for i in range(len(_HEADER))]
    lines = [f"accord: {_title(result)} ({_budget(result)})", ""]
    for row in [_HEADER] + _rows(result):
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)))
    warnings_ = _disagreements(result)
    if warnings_:
        lines += ["", ("  WARNING: the network's own log R disagrees with nested "
                       "sampling:")]
        lines += [f"    {w}" for w in warnings_]
        lines += [("    T and C from it and from nested sampling are then not "
                   "consistent; see report.md.")]
    timings = ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
    lines += ["", f"  time (s)  {timings}"]
    if result.reused:
        lines.append(f"  reused    {', '.join(result.reused)} (from {result.output})")
    return lines


def _write_report(result: ExampleResult, figures: list[tuple[str, str]]) -> Path:
    out = [f"# accord: {_title(result)}", "",
           (f"Budget: {_budget(result)}. Every source of log R_obs is calibrated "
            f"against the same concordance sample; the main result is marked."), "",
           "| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    out += ["| " + " | ".join(row) + " |" for row in _rows(result)]
    sources = list(result.cases[0].evidences)
    out += ["", "## Network against nested sampling", ""]
    if sources:
        out += ["| case | " + " | ".join(_SOURCE_LABELS[s] for s in sources) +
                " | network (member spread) | agree |",
                "|" + "---|" * (len(sources) + 3)]
    for case in result.cases if sources else ():
        values = [f"{ev.logR:.2f} +/- {ev.logR_err:.2f}"
                  for ev in case.evidences.values()]
        verdict = "yes" if all(case.agree.values()) else "**no**"
        out.append(f"| {case.label} | " + " | ".join(values) +
                   f" | {case.network['log_r']:.2f} +/- {case.network['spread']:.2f}"
                   f" | {verdict} |")
    problems = _disagreements(result)
    out.append("")
    if not sources:
        out += [("No nested sampling was run (log R_obs from the network only), so "
                 "the network's log R for the observed data is unchecked: it is the "
                 "estimator's weakest point on problems with narrow posteriors."), ""]
    elif problems:
        out += [("**Warning: the network's own log R disagrees with nested "
                 "sampling by more than three combined standard deviations.**"), ""]
        out += [f"- {line}" for line in problems]
        page = "cm21" if result.example == "21cm" else "bump"
        out += ["", ("The concordance distribution is the network's log R over "
                     "simulated concordant pairs. A network that misjudges log R "
                     "of the observed pair likely misjudges it for similar "
                     "simulated pairs too, so an exact log R_obs is compared with "
                     "a distribution on another scale: its T and C are not "
                     "trustworthy, and may be only bounds. T and C from the "
                     "network's own log R are on the distribution's scale but "
                     "inherit the network's error. Quote neither without this "
                     "caveat; more simulations, members or "
                     f"`method=\"classifier\"` are the things to try "
                     f"(docs/{page}.md)."), ""]
    else:
        out += [("The network's log R for the observed data agrees with nested "
                 "sampling within three combined standard deviations."), ""]

    suspicious = [(case.label, case.run.suspiciousness) for case in result.cases
                  if case.run.suspiciousness]
    if suspicious:
        out += ["## Suspiciousness", "", "| case | log S | d_G | p | sigma | from |",
                "|---|---|---|---|---|---|"]
        for label, s in suspicious:
            p = "-" if s.get("p_S") is None else f"{s['p_S']:.3g}"
            sig = "-" if s.get("sigma_S") is None else f"{s['sigma_S']:.2f}"
            out.append(f"| {label} | {s['logS']:.2f} +/- {s['logS_err']:.2f} | "
                       f"{s['d_G']:.2f} | {p} | {sig} | {s.get('source', '')} |")
        out.append("")

    estimator = result.estimator
    epochs = [" + ".join(f"{len(c['validation']) - 1}/{c['best_epoch']}"
                         for c in history.values()) for history in estimator.history]
    out += ["## Diagnostics", "", "```",
            f"training      epochs run/best per member: {', '.join(epochs)}"]
    if any(len(c["validation"]) - 1 >= estimator.settings.max_epochs
           for history in estimator.history for c in history.values()):
        out.append("              some members reached max_epochs without stopping "
                   "early; more epochs may help")
    out.append("time (s)      " + ", ".join(f"{k} {v:.1f}"
                                             for k, v in result.timings.items()))
    if result.reused:
        out.append(f"reused        {', '.join(result.reused)}")
    out += ["```", ""]
    if figures:
        out += ["## Figures", ""] + [f"- `{name}`: {text}" for name, text in figures]
        out += [""] + [f"![{name}]({name})" for name, _ in figures] + [""]
    out += [("Method and paper numbers: Bevins, Handley & Gessey-Jones (2024), "
             "arXiv:2407.15478."), ""]
    path = result.output / "report.md"
    path.write_text("\n".join(out))
    return path
