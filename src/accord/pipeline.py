"""One call from a problem to a calibrated tension, with every stage on disk.

:func:`run` simulates, trains the ensemble and calibrates, writing each
finished stage to the output directory. Running it again with the same
arguments reuses the finished stages, so an interrupted run resumes and a
failure mid-way loses nothing already computed.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .calibrate import CalibrationResult, calibrate
from .estimator import RatioEstimator, TrainingSettings, load, train
from .exceptions import AccordError
from .problem import Problem
from .simulate import Simulations, simulate

__all__ = ["RunResult", "run"]

logger = logging.getLogger(__name__)

_MANIFEST = "run.json"
_SIMULATIONS = "simulations.npz"
_ESTIMATOR = "estimator"


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
    """

    calibration: CalibrationResult
    estimator: RatioEstimator
    output: Path
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def _load_simulations(path: Path) -> Simulations:
    with np.load(path, allow_pickle=False) as data:
        return Simulations(data["theta"], data["x_A"], data["x_B"])


def run(
    problem: Problem,
    output: str | Path,
    *,
    n_simulations: int = 100_000,
    n_calibration: int = 20_000,
    seed: int = 0,
    log_r_obs: float | None = None,
    log_r_obs_err: float = 0.0,
    settings: TrainingSettings | None = None,
    progress: bool = False,
    figures: bool = True,
    extra: dict[str, Any] | None = None,
    exact_log_r: np.ndarray | None = None,
) -> RunResult:
    """Simulate, train and calibrate, writing every stage to ``output``.

    Parameters
    ----------
    problem : Problem
    output : path
        Directory for ``simulations.npz``, ``estimator/``, ``result.json``,
        ``summary.txt`` and the figures.
    n_simulations, n_calibration : int
        Training simulations and fresh concordant pairs for calibration.
    seed : int
        Seeds everything; the same seed gives the same numbers.
    log_r_obs, log_r_obs_err : float, optional
        Observed log R and its error; without them the network estimates
        log R for the problem's observed data.
    settings : TrainingSettings, optional
    progress : bool
        Show progress bars.
    figures : bool
        Write ``concordance.png``, ``cdf.png`` and ``training.png``.
    extra : dict, optional
        Values to store in ``result.json`` beside the calibration.
    exact_log_r : array (N,), optional
        An exact concordance sample drawn in the histogram for comparison.

    Returns
    -------
    RunResult
    """
    settings = settings if settings is not None else TrainingSettings()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    manifest = {
        "accord_version": __version__,
        "problem": problem.name,
        "names": list(problem.names),
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
        (output / _SIMULATIONS).unlink(missing_ok=True)
        previous.write_text(json.dumps(manifest, indent=1))
    timings: dict[str, float] = {}

    # Stage 1: training simulations.
    start = time.perf_counter()
    sims_path = output / _SIMULATIONS
    if reuse and sims_path.is_file():
        simulations = _load_simulations(sims_path)
        logger.info("reusing %d simulations from %s", len(simulations), sims_path)
    else:
        root = np.random.SeedSequence(seed).spawn(2)[0]
        simulations = simulate(problem, n_simulations, seed=root, progress=progress,
                               failure_dir=output)
        partial = sims_path.with_suffix(".partial.npz")
        np.savez(partial, theta=simulations.theta, x_A=simulations.x_A,
                 x_B=simulations.x_B)
        partial.replace(sims_path)
    timings["simulate"] = time.perf_counter() - start

    # Stage 2: the ensemble.
    start = time.perf_counter()
    estimator_path = output / _ESTIMATOR
    estimator: RatioEstimator | None = None
    if reuse and estimator_path.is_dir():
        try:
            estimator = load(estimator_path)
            logger.info("reusing the trained ensemble in %s", estimator_path)
        except AccordError as error:
            logger.warning("cannot reuse %s (%s); retraining", estimator_path, error)
    if estimator is None:
        estimator = train(problem, seed=seed, settings=settings, simulations=simulations,
                          progress=progress)
        estimator.save(estimator_path)
    timings["train"] = time.perf_counter() - start

    # Stage 3: calibration and report.
    start = time.perf_counter()
    result = calibrate(estimator, problem, log_r_obs=log_r_obs,
                       log_r_obs_err=log_r_obs_err, n_calibration=n_calibration,
                       seed=seed, progress=progress)
    timings["calibrate"] = time.perf_counter() - start
    payload = result.to_dict()
    payload["timings_s"] = timings
    payload["extra"] = extra or {}
    (output / "result.json").write_text(json.dumps(payload, indent=1))
    (output / "summary.txt").write_text(result.summary() + "\n")
    if figures:
        from .plots import save_figures

        save_figures(result, estimator, output, exact_log_r=exact_log_r)
    return RunResult(calibration=result, estimator=estimator, output=output,
                     timings=timings, extra=extra or {})


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
