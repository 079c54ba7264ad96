"""One call from a problem to a calibrated tension, with every stage on disk.

:func:`run` simulates, trains the ensemble, obtains the observed log R
(optionally by nested sampling of the problem's own likelihoods and prior),
calibrates and reports, writing each finished stage to the output directory.
Running it again with the same arguments reuses the finished stages, so an
interrupted run resumes and a failure mid-way loses nothing already computed.
:func:`accord.bao.run_bao` builds on it for two BAO data sets.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import time
import warnings
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from scipy import stats

from ._version import __version__
from .calibration import CalibrationResult, calibrate
from .estimator import RatioEstimator, TrainingSettings, load, train
from .evidence import EvidenceResult, NestedSampling, cross_check, run_nested_sampling
from .exceptions import AccordError, AccordWarning
from .executors import check_spec, executor_from_spec
from .problem import Problem
from .store import SimulationStore, simulate_to_store

__all__ = ["NestedSampling", "PosteriorSamples", "RunResult", "run"]

logger = logging.getLogger(__name__)

_MANIFEST = "run.json"
_SIMULATIONS = "simulations"
_ESTIMATOR = "estimator"
_EVIDENCE = "evidence.json"
_SAMPLING_DIR = "nested_sampling"
_LABELS = ("A", "B", "AB")


@dataclass
class PosteriorSamples:
    """Weighted posterior samples of one nested-sampling run.

    Attributes
    ----------
    names : tuple of str
        The run's parameters.
    theta : array (n, k)
    log_w : array (n,)
        Normalised log-weights.
    log_l : array (n,)
        Log-likelihoods.
    """

    names: tuple[str, ...]
    theta: np.ndarray
    log_w: np.ndarray
    log_l: np.ndarray

    @property
    def weights(self) -> np.ndarray:
        w = np.exp(self.log_w - self.log_w.max())
        return w / w.sum()

    def best_fit(self) -> dict[str, float]:
        """The sample of highest likelihood (the maximum posterior for a flat prior)."""
        return dict(zip(self.names, self.theta[int(np.argmax(self.log_l))].tolist()))


@dataclass
class RunResult:
    """Everything :func:`run` made.

    Attributes
    ----------
    calibration : CalibrationResult
    estimator : RatioEstimator
    output : Path
        Directory holding ``result.json``, the figures and the estimator.
    timings : dict
        Wall time of each stage in seconds (0 for a stage reused from disk).
    extra : dict
        Problem-specific values written beside the result (for example the
        exact answer of a linear-Gaussian problem).
    evidence : EvidenceResult or None
        Where log R_obs came from, when it came from evidences.
    suspiciousness : dict or None
        ``logS``, ``logS_err``, ``d_G``, ``p_S``, ``sigma_S`` from the
        nested-sampling samples or the chains; None where unavailable.
    network_check : dict or None
        The network's own log R for the observed data (``log_r``,
        ``spread``) against log R_obs, and whether they ``agree`` within
        three combined standard deviations.
    posteriors : dict
        :class:`PosteriorSamples` of the runs ``"A"``, ``"B"``, ``"AB"``,
        where the sampler provides them.
    reused : list of str
        The stages taken from disk rather than computed.
    """

    calibration: CalibrationResult
    estimator: RatioEstimator
    output: Path
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    evidence: EvidenceResult | None = None
    suspiciousness: dict[str, Any] | None = None
    network_check: dict[str, Any] | None = None
    posteriors: dict[str, PosteriorSamples] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    problem: str = ""


def run(
    problem: Problem,
    output: str | Path,
    *,
    n_simulations: int = 100_000,
    n_calibration: int = 50_000,
    seed: int = 0,
    log_r_obs: float | None = None,
    log_r_obs_err: float = 0.0,
    settings: TrainingSettings | None = None,
    progress: bool = False,
    figures: bool = True,
    extra: dict[str, Any] | None = None,
    exact_log_r: np.ndarray | None = None,
    evidence: EvidenceResult | NestedSampling | None = None,
    report: bool = False,
    executor: Executor | str = "auto",
) -> RunResult:
    """Simulate, train and calibrate, writing every stage to ``output``.

    Parameters
    ----------
    problem : Problem
    output : path
        Directory for ``simulations/`` (a resumable
        :class:`~accord.store.SimulationStore`), ``estimator/``, ``result.json``,
        ``summary.txt`` and the figures.
    n_simulations, n_calibration : int
        Training simulations and fresh concordant pairs for calibration.
    seed : int
        Seeds everything; the same seed gives the same numbers.
    log_r_obs, log_r_obs_err : float, optional
        Observed log R and its error; without them (and without
        ``evidence``) the network estimates log R for the problem's observed
        data.
    settings : TrainingSettings, optional
    progress : bool
        Show progress bars.
    figures : bool
        Write ``concordance.png``, ``cdf.png`` and ``training.png``, and
        ``posteriors.png`` when nested-sampling samples exist.
    extra : dict, optional
        Values to store in ``result.json`` beside the calibration.
    exact_log_r : array (N,), optional
        An exact concordance sample drawn in the histogram for comparison.
    evidence : EvidenceResult or NestedSampling, optional
        The source of log R_obs: evidences already computed (from numbers or
        chains), or :class:`NestedSampling` to run the sampler here as a
        resumable stage (``evidence.json`` and ``nested_sampling/``). Exclusive
        with ``log_r_obs``.
    report : bool
        Also write ``report.md``.
    executor : concurrent.futures.Executor or str
        Where the simulations run: an executor, or a specification such as
        ``"processes:8"``, ``"dask://HOST:PORT"`` or ``"mpi"`` (see
        :func:`accord.executors.executor_from_spec`). The numbers do not
        depend on it.

    Returns
    -------
    RunResult

    Notes
    -----
    Whenever log R_obs does not come from the network, the network's own
    estimate for the observed data is compared with it
    (:func:`accord.evidence.cross_check`); an
    :class:`~accord.exceptions.AccordWarning` says when they differ by more
    than three combined standard deviations.
    """
    settings = settings if settings is not None else TrainingSettings()
    for name, value, low in (("n_simulations", n_simulations, 10),
                             ("n_calibration", n_calibration, 100)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    if log_r_obs is not None and not np.isfinite(log_r_obs):
        raise ValueError(f"log_r_obs must be finite; got {log_r_obs}")
    if evidence is not None and log_r_obs is not None:
        raise ValueError("give log_r_obs or evidence, not both; got log_r_obs="
                         f"{log_r_obs!r} and evidence={type(evidence).__name__}")
    if evidence is not None and not isinstance(evidence, (EvidenceResult,
                                                          NestedSampling)):
        raise TypeError(f"evidence must be an EvidenceResult, a NestedSampling or "
                        f"None; got {type(evidence).__name__}")
    if isinstance(executor, str):
        check_spec(executor)  # before anything is written
    elif not isinstance(executor, Executor):
        raise TypeError(f"executor must be a concurrent.futures.Executor or a "
                        f"specification string; got {executor!r}")
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    manifest = {
        "accord_version": __version__,
        "problem": problem.name,
        "names": list(problem.names),
        "model": problem.fingerprint(),
        "seed": seed,
        "n_simulations": n_simulations,
        "settings": asdict(settings),
    }
    previous = output / _MANIFEST
    reuse = previous.is_file() and _read_manifest(previous) == manifest
    if not reuse:
        for stale in (output / _SIMULATIONS, output / _ESTIMATOR):
            if stale.exists():
                logger.info("settings changed; %s will be recomputed", stale)
        shutil.rmtree(output / _SIMULATIONS, ignore_errors=True)
        (output / "simulations.npz").unlink(missing_ok=True)
        previous.write_text(json.dumps(manifest, indent=1))

    with contextlib.ExitStack() as stack:
        if isinstance(executor, str) and executor not in ("serial", "auto"):
            executor = stack.enter_context(executor_from_spec(executor))
        return _run_stages(problem, output, manifest_reused=reuse,
                           executor=cast(Executor, executor),
                           n_simulations=n_simulations, n_calibration=n_calibration,
                           seed=seed, log_r_obs=log_r_obs, log_r_obs_err=log_r_obs_err,
                           settings=settings, progress=progress, figures=figures,
                           extra=extra, exact_log_r=exact_log_r, evidence=evidence,
                           report=report)


def _run_stages(problem: Problem, output: Path, *, manifest_reused: bool,
                executor: Executor | Literal["serial", "auto"], n_simulations: int, n_calibration: int,
                seed: int, log_r_obs: float | None, log_r_obs_err: float,
                settings: TrainingSettings, progress: bool, figures: bool,
                extra: dict[str, Any] | None, exact_log_r: np.ndarray | None,
                evidence: EvidenceResult | NestedSampling | None,
                report: bool) -> RunResult:
    """The four stages of :func:`run`, after its checks and manifest."""
    reuse = manifest_reused
    timings: dict[str, float] = {}
    reused: list[str] = []

    # Stage 1: training simulations, resumed chunk by chunk after a crash.
    start = time.perf_counter()
    sims_path = output / _SIMULATIONS
    root = np.random.SeedSequence(seed).spawn(2)[0]
    if sims_path.is_dir() and SimulationStore.open(sims_path).complete:
        reused.append("simulate")
        logger.info("reusing the simulations in %s", sims_path)
    simulations = simulate_to_store(problem, n_simulations, sims_path, seed=root,
                                    executor=executor, progress=progress)
    timings["simulate"] = time.perf_counter() - start

    # Stage 2: the ensemble.
    start = time.perf_counter()
    estimator_path = output / _ESTIMATOR
    estimator: RatioEstimator | None = None
    if reuse and estimator_path.is_dir():
        try:
            estimator = load(estimator_path)
            reused.append("train")
            logger.info("reusing the trained ensemble in %s", estimator_path)
        except AccordError as error:
            logger.warning("cannot reuse %s (%s); retraining", estimator_path, error)
    if estimator is None:
        estimator = train(problem, seed=seed, settings=settings, simulations=simulations,
                          progress=progress)
        estimator.save(estimator_path)
    timings["train"] = time.perf_counter() - start

    # Stage 3: the observed log R.
    start = time.perf_counter()
    suspiciousness: dict[str, Any] | None = None
    posteriors: dict[str, PosteriorSamples] = {}
    if isinstance(evidence, NestedSampling):
        evidence, suspiciousness, posteriors, was_reused = _nested_sampling_stage(
            problem, output, evidence, seed=seed, progress=progress)
        if was_reused:
            reused.append("nested_sampling")
    elif isinstance(evidence, EvidenceResult) and evidence.sigma_S is not None:
        suspiciousness = {key: getattr(evidence, key) for key in
                          ("logS", "logS_err", "d_G", "d_G_err", "p_S", "sigma_S")}
        suspiciousness["source"] = "chains"
    if evidence is not None:
        log_r_obs, log_r_obs_err = evidence.logR, evidence.logR_err
    timings["nested_sampling"] = time.perf_counter() - start

    network_check = None
    if log_r_obs is not None and problem.has_observation:
        network_check = _network_check(estimator, problem, log_r_obs, log_r_obs_err)

    # Stage 4: calibration and report.
    start = time.perf_counter()
    source = "given"
    if evidence is not None and log_r_obs is not None:
        source = {"nautilus": "nested sampling (nautilus)",
                  "dynesty": "nested sampling (dynesty)",
                  "chains": "nested-sampling chains"}.get(evidence.source, evidence.source)
    result = calibrate(estimator, problem, log_r_obs=log_r_obs,
                       log_r_obs_err=log_r_obs_err, n_calibration=n_calibration,
                       seed=seed, progress=progress, log_r_obs_source=source,
                       executor=executor)
    timings["calibrate"] = time.perf_counter() - start
    run_result = RunResult(
        calibration=result, estimator=estimator, output=output, timings=timings,
        extra=extra or {}, evidence=evidence, suspiciousness=suspiciousness,
        network_check=network_check, posteriors=posteriors, reused=reused,
        problem=problem.name)

    from .report import summary_text, write_report

    payload = result.to_dict()
    payload["timings_s"] = timings
    payload["extra"] = extra or {}
    if evidence is not None or network_check is not None:
        payload["evidence"] = None if evidence is None else evidence.to_dict()
        payload["suspiciousness"] = suspiciousness
        payload["network_check"] = network_check
        payload["reused_stages"] = reused
    (output / "result.json").write_text(json.dumps(payload, indent=1))
    (output / "summary.txt").write_text(summary_text(run_result) + "\n")
    if figures:
        from .plots import save_figures

        save_figures(result, estimator, output, exact_log_r=exact_log_r)
        if posteriors:
            from .bao.plots import save_posteriors

            save_posteriors(posteriors, output / "posteriors.png")
    if report:
        write_report(run_result, output / "report.md")
    return run_result


def _network_check(estimator: RatioEstimator, problem: Problem, log_r_obs: float,
                   log_r_obs_err: float) -> dict[str, Any]:
    """The network's log R for the observed data, against log R_obs."""
    members = estimator.log_ratio(problem.x_A_obs, problem.x_B_obs, members=True)
    log_r = float(members.mean())
    spread = float(members.std(ddof=1)) if members.size > 1 else 0.0
    agree = cross_check(log_r_obs, log_r_obs_err, log_r, spread)
    combined = math.hypot(log_r_obs_err, spread)
    return {"log_r": log_r, "spread": spread, "log_r_members": members.tolist(),
            "difference": log_r - log_r_obs,
            "n_sigma": abs(log_r - log_r_obs) / combined if combined > 0 else None,
            "agree": bool(agree)}


# --------------------------------------------------------------------------
# The nested-sampling stage


def _nested_sampling_stage(
    problem: Problem, output: Path, options: NestedSampling, *, seed: int,
    progress: bool,
) -> tuple[EvidenceResult, dict[str, Any] | None, dict[str, PosteriorSamples], bool]:
    """Run (or reuse) nested sampling of the observed data.

    The result goes to ``evidence.json``; the sampler's checkpoints and the
    weighted posterior samples to ``nested_sampling/``. A finished stage with
    the same manifest is reused; an interrupted one resumes from nautilus's
    checkpoints; a stage with another manifest is started afresh.
    """
    sampler_seed = seed if options.seed is None else options.seed
    prior = getattr(problem.prior, "to_dict", None)
    manifest = {
        "accord_version": __version__,
        "problem": problem.name,
        "names": list(problem.names),
        "prior": prior() if callable(prior) else repr(problem.prior),
        "x_A_obs": np.asarray(problem.x_A_obs).tolist(),
        "x_B_obs": np.asarray(problem.x_B_obs).tolist(),
        "sampler": options.sampler,
        "n_live": options.n_live,
        "n_repeats": options.n_repeats,
        "seed": sampler_seed,
        "n_eff": options.n_eff,
        "n_networks": options.n_networks,
    }
    directory = output / _SAMPLING_DIR
    stored = _read_manifest(output / _EVIDENCE)
    if stored is not None and stored.get("manifest") == manifest:
        posteriors = _load_posteriors(directory)
        if posteriors is not None or options.sampler != "nautilus":
            logger.info("reusing the nested-sampling result in %s", output / _EVIDENCE)
            evidence = _evidence_from_dict(stored["evidence"])
            return evidence, stored.get("suspiciousness"), posteriors or {}, True

    # Checkpoints of other settings would be resumed as if they were ours.
    if _read_manifest(directory / _MANIFEST) != manifest and directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / _MANIFEST).write_text(json.dumps(manifest, indent=1))

    run_kwargs = {} if options.n_eff is None else {"n_eff": options.n_eff}
    sampler_kwargs = {} if options.n_networks is None else \
        {"n_networks": options.n_networks}
    evidence = run_nested_sampling(
        problem, sampler=options.sampler, n_live=options.n_live, seed=sampler_seed,
        n_repeats=options.n_repeats, checkpoint_dir=directory, progress=progress,
        run_kwargs=run_kwargs, sampler_kwargs=sampler_kwargs)
    posteriors = {}
    if options.sampler == "nautilus":
        posteriors = _nautilus_posteriors(problem, directory, options.n_live)
        for label, samples in posteriors.items():
            np.savez(directory / f"posterior_{label}.npz", names=np.array(samples.names),
                     theta=samples.theta, log_w=samples.log_w, log_l=samples.log_l)
    suspiciousness = (suspiciousness_from_samples(posteriors, seed=sampler_seed)
                      if posteriors else None)
    payload = {"manifest": manifest, "evidence": evidence.to_dict(),
               "suspiciousness": suspiciousness}
    partial = output / (_EVIDENCE + ".partial")
    partial.write_text(json.dumps(payload, indent=1))
    partial.replace(output / _EVIDENCE)
    return evidence, suspiciousness, posteriors, False


def _evidence_from_dict(values: dict[str, Any]) -> EvidenceResult:
    values = dict(values)
    values["runs"] = tuple(values.get("runs", ()))
    values["roots"] = tuple(values.get("roots", ()))
    return EvidenceResult(**values)


def _load_posteriors(directory: Path) -> dict[str, PosteriorSamples] | None:
    out = {}
    for label in _LABELS:
        path = directory / f"posterior_{label}.npz"
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            out[label] = PosteriorSamples(tuple(str(n) for n in data["names"]),
                                          data["theta"], data["log_w"], data["log_l"])
    return out


def _nautilus_posteriors(problem: Problem, directory: Path,
                         n_live: int) -> dict[str, PosteriorSamples]:
    """Weighted samples of the first repeat of each run, from its checkpoint."""
    import nautilus

    from ._sampler import _LogLikelihood, checkpoint_stem, run_subset, run_transform

    stem = checkpoint_stem(problem)
    out = {}
    for label in _LABELS:
        path = directory / f"{stem}_nautilus_{label}_0.hdf5"
        if not path.is_file():
            logger.warning("no nautilus checkpoint %s; no posterior samples of run %s",
                           path, label)
            return {}
        names = run_subset(problem, label)
        columns = problem.indices(names)
        sampler = nautilus.Sampler(
            run_transform(problem, label), _LogLikelihood(problem, label, columns),
            n_dim=len(names), n_live=n_live, vectorized=True, pass_dict=False,
            filepath=str(path), resume=True)
        theta, log_w, log_l = sampler.posterior()
        out[label] = PosteriorSamples(tuple(names), np.asarray(theta),
                                      np.asarray(log_w), np.asarray(log_l))
    return out


def suspiciousness_from_samples(
    posteriors: dict[str, PosteriorSamples], *, n_bootstrap: int = 200,
    seed: int | None = 0,
) -> dict[str, Any] | None:
    """Suspiciousness and its significance from weighted samples of A, B, AB.

    .. math::
        \\log S = \\langle\\log L\\rangle_{P_{AB}} - \\langle\\log L\\rangle_{P_A}
        - \\langle\\log L\\rangle_{P_B}, \\quad
        d_G = d_A + d_B - d_{AB}, \\quad d = 2\\,\\mathrm{Var}_P(\\log L),

    and :math:`p_S` the survival function of :math:`\\chi^2_{d_G}` at
    :math:`d_G - 2\\log S`, quoted as a two-sided Gaussian ``sigma_S``
    (Handley & Lemos 2019, arXiv:1902.04029; anesthetic's definitions).
    Errors are the spread over bootstrap resamplings of the weighted samples,
    which capture the sampling noise but not a sampler's bias.
    """
    rng = np.random.default_rng(seed)

    def moments(samples: PosteriorSamples, index: np.ndarray | None) -> tuple[float, float]:
        w, logL = samples.weights, samples.log_l
        if index is not None:
            w, logL = w[index], logL[index]
            w = w / w.sum()
        mean = float(np.sum(w * logL))
        return mean, 2.0 * float(np.sum(w * (logL - mean) ** 2))

    def statistics(indices: dict[str, np.ndarray | None]) -> tuple[float, float]:
        m = {label: moments(posteriors[label], indices[label]) for label in _LABELS}
        logS = m["AB"][0] - m["A"][0] - m["B"][0]
        d_G = m["A"][1] + m["B"][1] - m["AB"][1]
        return logS, d_G

    logS, d_G = statistics(dict.fromkeys(_LABELS))
    draws = np.array([statistics({label: rng.integers(0, posteriors[label].log_l.size,
                                                      posteriors[label].log_l.size)
                                  for label in _LABELS}) for _ in range(n_bootstrap)])
    out: dict[str, Any] = {"logS": logS, "logS_err": float(draws[:, 0].std(ddof=1)),
                           "d_G": d_G, "d_G_err": float(draws[:, 1].std(ddof=1)),
                           "p_S": None, "sigma_S": None, "source": "nested sampling"}
    if d_G <= 0:
        warnings.warn(f"the dimensionality d_G = {d_G:.2f} of the shared constrained "
                      f"parameters is <= 0; the suspiciousness p-value is undefined",
                      AccordWarning, stacklevel=2)
        return out
    out["p_S"] = float(stats.chi2.sf(d_G - 2.0 * logS, df=d_G))
    out["sigma_S"] = float(stats.norm.isf(out["p_S"] / 2.0))
    return out


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
