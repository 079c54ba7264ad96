"""The observed evidence ratio log R_obs, from numbers, chains or a sampler.

Calibration needs the observed

.. math::
    \\log R = \\log Z_{AB} - \\log Z_A - \\log Z_B

with its uncertainty. It can come from numbers a user already has
(:func:`evidence_from_numbers`), from nested-sampling chains on disk
(:func:`evidence_from_chains`), or from nested sampling that accord runs
itself on the problem's likelihoods (:func:`run_nested_sampling`). Whatever
the source, the evidences must be computed on the prior of the simulations,
since log R depends on the prior (docs/method.md).
:func:`cross_check` compares the result with the network's log R.

References
----------
Bevins, Handley & Gessey-Jones (2024), "Calibrating Bayesian Tension
Statistics using Neural Ratio Estimation", arXiv:2407.15478.

Handley & Lemos (2019), "Quantifying tensions in cosmological parameters:
Interpreting the DES evidence ratio", arXiv:1902.04029 (suspiciousness).

Examples
--------
>>> from accord.evidence import evidence_from_numbers
>>> result = evidence_from_numbers(logZ_A=-10.0, logZ_B=-12.0, logZ_AB=-19.0,
...                                logZ_A_err=0.3, logZ_B_err=0.4, logZ_AB_err=0.0)
>>> result.logR, result.logR_err
(3.0, 0.5)
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import stats

from . import _chains, _sampler
from ._chains import ChainError
from ._sampler import SamplingError
from .exceptions import AccordWarning
from .priors import Prior, as_rng
from .problem import Problem

__all__ = [
    "EvidenceResult",
    "NestedSampling",
    "ChainError",
    "SamplingError",
    "evidence_from_numbers",
    "evidence_from_chains",
    "run_nested_sampling",
    "cross_check",
]

logger = logging.getLogger(__name__)

_LABELS = ("A", "B", "AB")


@dataclass(frozen=True)
class NestedSampling:
    """Ask :func:`accord.run` to compute log R_obs by nested sampling.

    The three runs (A, B, AB) sample the problem's own likelihoods through its
    own prior object, the prior of the simulations (docs/method.md).

    Attributes
    ----------
    sampler : {"nautilus", "dynesty"}
    n_live : int
        Live points of each run.
    n_repeats : int
        Independent repeats of each run; their scatter enters the error.
    seed : int or None
        Seed of the sampler; by default the seed of the run.
    n_eff, n_networks : int or None
        nautilus only: the effective sample size at which it stops (its
        default 10 000) and the networks of its bounds (default 4). Smaller
        values are quicker and noisier.
    """

    sampler: str = "nautilus"
    n_live: int = 500
    n_repeats: int = 1
    seed: int | None = None
    n_eff: int | None = None
    n_networks: int | None = None

    def __post_init__(self) -> None:
        from ._sampler import SAMPLERS

        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}; got {self.sampler!r}")
        if self.sampler != "nautilus" and (self.n_eff or self.n_networks):
            raise ValueError("n_eff and n_networks are options of nautilus only")
        for name in ("n_eff", "n_networks"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None; "
                                 f"got {value!r}")


@dataclass(frozen=True)
class EvidenceResult:
    """The observed evidence ratio and the evidences it came from.

    Attributes
    ----------
    logR, logR_err : float
        :math:`\\log R = \\log Z_{AB} - \\log Z_A - \\log Z_B` and its standard error.
    logZ_A, logZ_A_err, logZ_B, logZ_B_err, logZ_AB, logZ_AB_err : float or None
        The evidences and their standard errors; None when only log R was given.
    source : str
        ``"numbers"``, ``"chains"``, ``"nautilus"`` or ``"dynesty"``.
    logR_scatter : float or None
        Standard deviation of log R between repeated sampler runs
        (``n_repeats > 1``), a measure of the sampler's systematic error.
    runs : tuple of dict
        Per-run values of repeated sampler runs: ``logZ_A``, ``logZ_A_err``,
        ..., ``logR``, ``seed``.
    logS, logS_err : float or None
        Suspiciousness :math:`\\log S = \\langle\\log L\\rangle_{P_{AB}} -
        \\langle\\log L\\rangle_{P_A} - \\langle\\log L\\rangle_{P_B}` (chains only).
    d_G, d_G_err : float or None
        Bayesian model dimensionality of the shared constrained parameters,
        :math:`d_A + d_B - d_{AB}` (chains only).
    p_S, sigma_S : float or None
        The suspiciousness p-value, the survival function of
        :math:`\\chi^2_{d_G}` at :math:`d_G - 2 \\log S`, and the same as a
        two-sided Gaussian significance (chains only). Median over the
        simulated prior volumes.
    n_samples : int or None
        Number of simulated prior-volume draws behind the chain errors.
    roots : tuple of str
        The chain roots that were read, for chains.
    """

    logR: float
    logR_err: float
    logZ_A: float | None = None
    logZ_A_err: float | None = None
    logZ_B: float | None = None
    logZ_B_err: float | None = None
    logZ_AB: float | None = None
    logZ_AB_err: float | None = None
    source: str = "numbers"
    logR_scatter: float | None = None
    runs: tuple[dict[str, float], ...] = field(default_factory=tuple)
    logS: float | None = None
    logS_err: float | None = None
    d_G: float | None = None
    d_G_err: float | None = None
    p_S: float | None = None
    sigma_S: float | None = None
    n_samples: int | None = None
    roots: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dictionary of every field."""
        out = dataclasses.asdict(self)
        out["runs"] = [dict(run) for run in self.runs]
        out["roots"] = list(self.roots)
        return out


def _check_number(name: str, value: Any, *, error: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer,
                                                         np.floating)):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or (error and value < 0.0):
        wanted = "a finite number >= 0" if error else "a finite number"
        raise ValueError(f"{name} must be {wanted}; got {value}")
    return value


def evidence_from_numbers(
    *,
    logZ_A: float | None = None,
    logZ_B: float | None = None,
    logZ_AB: float | None = None,
    logZ_A_err: float = 0.0,
    logZ_B_err: float = 0.0,
    logZ_AB_err: float = 0.0,
    logR: float | None = None,
    logR_err: float | None = None,
) -> EvidenceResult:
    """log R_obs from three evidences, or from log R and its error directly.

    Give either ``logZ_A``, ``logZ_B`` and ``logZ_AB`` (with optional errors,
    combined in quadrature as independent runs), or ``logR`` and ``logR_err``.

    .. math::
        \\log R = \\log Z_{AB} - \\log Z_A - \\log Z_B, \\quad
        \\sigma_{\\log R}^2 = \\sigma_A^2 + \\sigma_B^2 + \\sigma_{AB}^2

    Examples
    --------
    >>> evidence_from_numbers(logR=-4.9, logR_err=0.6).logR
    -4.9
    """
    evidences = {"logZ_A": logZ_A, "logZ_B": logZ_B, "logZ_AB": logZ_AB}
    given = [name for name, value in evidences.items() if value is not None]

    if logR is not None or logR_err is not None:
        if given:
            raise ValueError(
                f"give either logR and logR_err, or logZ_A, logZ_B and logZ_AB; got "
                f"logR together with {given}"
            )
        if logR is None or logR_err is None:
            raise ValueError("logR and logR_err must be given together")
        return EvidenceResult(
            logR=_check_number("logR", logR),
            logR_err=_check_number("logR_err", logR_err, error=True),
        )

    if len(given) != 3:
        missing = [name for name in evidences if name not in given]
        raise ValueError(
            f"give logZ_A, logZ_B and logZ_AB (missing {missing}), or logR and logR_err"
        )
    values = {name: _check_number(name, value) for name, value in evidences.items()}
    errors = {
        f"{name}_err": _check_number(f"{name}_err", value, error=True)
        for name, value in [("logZ_A", logZ_A_err), ("logZ_B", logZ_B_err),
                            ("logZ_AB", logZ_AB_err)]
    }
    return EvidenceResult(
        logR=values["logZ_AB"] - values["logZ_A"] - values["logZ_B"],
        logR_err=math.sqrt(sum(e**2 for e in errors.values())),
        **values,
        **errors,
    )


def evidence_from_chains(
    root_A: str | os.PathLike[str],
    root_B: str | os.PathLike[str],
    root_AB: str | os.PathLike[str],
    *,
    n_samples: int = 1000,
    seed: np.random.Generator | int | None = None,
    prior: Prior | Problem | None = None,
    columns: Mapping[str, Sequence[str]] | None = None,
) -> EvidenceResult:
    """log R_obs from three nested-sampling runs on disk.

    The runs are read with anesthetic's ``read_chains`` (PolyChord, MultiNest,
    UltraNest, or Cobaya with PolyChord). Each evidence is uncertain because
    the prior volumes of the dead points are known only statistically; we draw
    ``n_samples`` sets of volumes per run, seeded, and report log R as the mean
    and standard deviation of

    .. math::
        \\log R_k = \\log Z_{AB,k} - \\log Z_{A,k} - \\log Z_{B,k}.

    The suspiciousness ``logS``, the dimensionality ``d_G`` and the
    suspiciousness p-value and sigma are computed from the same draws, as
    anesthetic's ``tension_stats`` defines them.

    Parameters
    ----------
    root_A, root_B, root_AB : str or path
        File roots of the runs on A's data, B's data and both, e.g.
        ``chains/test`` for ``chains/test_dead-birth.txt``.
    n_samples : int
        Number of simulated prior-volume draws per run (>= 2). Memory stays
        bounded for long chains: draws are made in blocks.
    seed : Generator, int or None
        Randomness of the volume draws; the same seed gives the same numbers.
    prior : Prior or Problem, optional
        The prior of the simulations. With it, every point of the chains must
        lie in the prior's support (else :class:`ChainError`), and the prior
        draws of each run are tested against the prior (an
        :class:`~accord.exceptions.AccordWarning` when they disagree). A
        :class:`~accord.problem.Problem` also tells which parameters each run
        has, so chain columns with generic names (``p0``, ``p1``, ...) are
        matched by position to ``params_A``, ``params_B`` and all parameters.
    columns : mapping, optional
        ``{"A": names, "B": names, "AB": names}``: the problem's names of each
        run's chain columns, in file order, overriding the matching above.

    Returns
    -------
    EvidenceResult

    Raises
    ------
    ChainError
        A chain file is missing or empty, has no dead points, has NaN or +inf
        log-likelihoods, does not match its parameter names, or lies outside
        the prior. The message names the file and the problem.

    Notes
    -----
    Only the points' positions can reveal a different prior: PolyChord's
    ``.prior_info`` file does not record the prior's ranges. A prior that
    differs only inside the sampled region escapes both checks.
    """
    n_samples = _check_count("n_samples", n_samples, minimum=2)
    rng = as_rng(seed)
    problem_name, prior_obj, expected = _chain_context(prior, columns)

    roots = {"A": root_A, "B": root_B, "AB": root_AB}
    draws = {}
    for label, rng_run in zip(_LABELS, rng.spawn(3)):
        root = os.fspath(roots[label]) if isinstance(roots[label], os.PathLike) \
            else roots[label]
        samples = _chains.read_run(root, label=label, problem=problem_name)
        names = _chains.match_columns(samples, expected[label], label=label,
                                      root=root, problem=problem_name)
        if prior_obj is not None:
            _check_names_in_prior(names, prior_obj, label, root, problem_name)
            _chains.check_prior(samples, names, prior_obj, label=label, root=root,
                                problem=problem_name)
        draws[label] = _chains.draw_statistics(samples, n_samples, rng_run)
        _chains.check_against_stats_file(root, draws[label].logZ, label=label,
                                         problem=problem_name)
        logger.info("run %s (%s): %d points, logZ = %.3f +/- %.3f", label, root,
                    len(samples), draws[label].logZ.mean(), draws[label].logZ.std())

    a, b, ab = draws["A"], draws["B"], draws["AB"]
    logR = ab.logZ - a.logZ - b.logZ
    logS = ab.logL_P - a.logL_P - b.logL_P
    d_G = a.d_G + b.d_G - ab.d_G
    p_S, sigma_S = _suspiciousness_significance(logS, d_G, roots)

    return EvidenceResult(
        logR=float(logR.mean()),
        logR_err=float(logR.std(ddof=1)),
        **{f"logZ_{label}": float(draws[label].logZ.mean()) for label in _LABELS},
        **{f"logZ_{label}_err": float(draws[label].logZ.std(ddof=1))
           for label in _LABELS},
        source="chains",
        logS=float(logS.mean()),
        logS_err=float(logS.std(ddof=1)),
        d_G=float(d_G.mean()),
        d_G_err=float(d_G.std(ddof=1)),
        p_S=p_S,
        sigma_S=sigma_S,
        n_samples=n_samples,
        roots=tuple(str(roots[label]) for label in _LABELS),
    )


def _chain_context(
    prior: Prior | Problem | None, columns: Mapping[str, Sequence[str]] | None
) -> tuple[str, Any, dict[str, Sequence[str] | None]]:
    """Problem name, prior object and expected column names of each run."""
    expected: dict[str, Sequence[str] | None] = dict.fromkeys(_LABELS)
    if isinstance(prior, Problem):
        name, prior_obj = prior.name, prior.prior
        expected = {"A": prior.params_A, "B": prior.params_B, "AB": prior.names}
    elif prior is None or isinstance(prior, Prior):
        name, prior_obj = "(none given)", prior
    else:
        raise TypeError(
            f"prior must be an accord Prior, a Problem or None; "
            f"got {type(prior).__name__}"
        )

    if columns is not None:
        if not isinstance(columns, Mapping) or not set(columns) <= set(_LABELS):
            raise ValueError(
                f"columns must be a mapping with keys among {_LABELS}; got {columns!r}"
            )
        for label, names in columns.items():
            if isinstance(names, str):
                raise TypeError(f"columns[{label!r}] must be a sequence of names")
            expected[label] = list(names)
    return name, prior_obj, expected


def _check_names_in_prior(
    names: Sequence[str], prior: Any, label: str, root: str, problem: str
) -> None:
    unknown = [n for n in names if n not in prior.names]
    if unknown:
        raise ChainError(
            f"run {label} of problem {problem!r} (root {root!r}) has parameters "
            f"{unknown} that the prior {list(prior.names)} does not know; pass a "
            f"Problem, or columns= to name the chain's columns",
            root=root,
        )


def _suspiciousness_significance(
    logS: np.ndarray, d_G: np.ndarray, roots: Mapping[str, Any]
) -> tuple[float | None, float | None]:
    """Median p-value of the suspiciousness and its two-sided sigma."""
    usable = d_G > 0
    if not np.any(usable):
        warnings.warn(
            f"the dimensionality d_G of the shared constrained parameters is "
            f"{float(np.mean(d_G)):.2f} <= 0 for the runs {dict(roots)}; the "
            f"suspiciousness p-value is undefined and not reported",
            AccordWarning,
            stacklevel=3,
        )
        return None, None
    p = stats.chi2.sf(d_G[usable] - 2.0 * logS[usable], df=d_G[usable])
    # The median commutes with the monotone map from p to sigma.
    p_median = float(np.median(p))
    return p_median, float(stats.norm.isf(p_median / 2.0))


def run_nested_sampling(
    problem: Problem,
    *,
    sampler: str = "nautilus",
    n_live: int | None = None,
    seed: int | None = None,
    n_repeats: int = 1,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
    run_kwargs: Mapping[str, Any] | None = None,
    sampler_kwargs: Mapping[str, Any] | None = None,
) -> EvidenceResult:
    """log R_obs by nested sampling of the problem's three evidences.

    The runs on A, B and both sample ``problem.params_A``, ``problem.params_B``
    and all parameters, through the unit-cube transform of ``problem.prior``:
    the prior of the simulations, by construction.

    Parameters
    ----------
    problem : Problem
        With ``log_likelihood_A``, ``log_likelihood_B``, ``x_A_obs`` and
        ``x_B_obs``. The likelihoods take full rows ``theta (n, P)``; in the
        runs on A or B alone, the parameters the run does not sample are set
        to the prior median (the transform of the cube centre), which the
        experiment's likelihood must ignore.
    sampler : {"nautilus", "dynesty"}
        nautilus (vectorised likelihood calls) or dynesty (one call per point).
    n_live : int, optional
        Live points; by default 1000 for nautilus and 500 for dynesty.
    seed : int, optional
        Seed of all runs; the same seed gives the same numbers. Repeats and
        the three runs get independent child seeds.
    n_repeats : int
        Run each evidence this many times with different seeds. The reported
        values are the means; the errors are the larger of the formal error
        of the mean and the scatter between repeats over sqrt(n_repeats).
    checkpoint_dir : str or path, optional
        Directory for checkpoints; a run whose checkpoint exists resumes from
        it. dynesty's checkpoints are pickles: resume only from your own.
    progress : bool
        Show the sampler's own progress output.
    run_kwargs : mapping, optional
        Passed to nautilus's ``Sampler.run`` or dynesty's ``run_nested``, e.g.
        ``{"n_eff": 2000}`` or ``{"dlogz": 0.05}``.
    sampler_kwargs : mapping, optional
        Passed to the constructor of ``nautilus.Sampler`` or
        ``dynesty.NestedSampler``, e.g. ``{"n_networks": 1}``.

    Returns
    -------
    EvidenceResult

    Raises
    ------
    SamplingError
        The parameters of a run split a correlated prior block, or a
        likelihood returned NaN or +inf.

    Notes
    -----
    nautilus reports no evidence error; we use :math:`1/\\sqrt{n_{\\rm eff}}`,
    the relative standard error of its importance-sampling sum. It ignores
    any bias of the sampler, which ``n_repeats`` cannot reveal either, but
    repeats do expose a seed-dependent spread.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a Problem; got {type(problem).__name__}")
    _sampler.check_sampler_options(problem, sampler, n_live, n_repeats)
    run_kwargs = dict(run_kwargs or {})
    sampler_kwargs = dict(sampler_kwargs or {})
    for label in _LABELS:
        _sampler.run_subset(problem, label)
    _sampler.check_run_sizes(problem, sampler)
    for label in _LABELS:
        # Before any sampling, so that a false declaration costs nothing.
        _sampler.check_symmetries(problem, label)

    sequence = np.random.SeedSequence(seed)
    if seed is None:
        logger.info("run_nested_sampling: no seed given; entropy %d reproduces "
                    "this run", sequence.entropy)
    directory = None
    if checkpoint_dir is not None:
        directory = os.fspath(checkpoint_dir)
        os.makedirs(directory, exist_ok=True)
    stem = _sampler.checkpoint_stem(problem)

    runs = []
    for repeat, child in enumerate(sequence.spawn(n_repeats)):
        seeds = [int(s.generate_state(1)[0]) for s in child.spawn(3)]
        run: dict[str, float] = {"seed": float(seeds[0])}
        for label, run_seed in zip(_LABELS, seeds):
            checkpoint = None if directory is None else os.path.join(
                directory, f"{stem}_{sampler}_{label}_{repeat}")
            evidence = _sampler.sample_evidence(
                problem, label, sampler=sampler, n_live=n_live, seed=run_seed,
                checkpoint=checkpoint, progress=progress, run_kwargs=run_kwargs,
                sampler_kwargs=sampler_kwargs,
            )
            run[f"logZ_{label}"] = evidence.logZ
            run[f"logZ_{label}_err"] = evidence.logZ_err
            run[f"n_like_{label}"] = float(evidence.n_like)
        run["logR"] = run["logZ_AB"] - run["logZ_A"] - run["logZ_B"]
        run["logR_err"] = math.sqrt(sum(run[f"logZ_{x}_err"] ** 2 for x in _LABELS))
        runs.append(run)

    summary = {}
    for key in ["logZ_A", "logZ_B", "logZ_AB", "logR"]:
        summary[key], summary[f"{key}_err"] = _combine(
            [r[key] for r in runs], [r[f"{key}_err"] for r in runs])
    scatter = None
    if n_repeats > 1:
        scatter = float(np.std([r["logR"] for r in runs], ddof=1))
    return EvidenceResult(
        **summary, source=sampler, logR_scatter=scatter, runs=tuple(runs)
    )


def _combine(values: Sequence[float], errors: Sequence[float]) -> tuple[float, float]:
    """Mean of repeated estimates and its error, formal or from their scatter."""
    values, errors = np.asarray(values), np.asarray(errors)
    n = len(values)
    formal = math.sqrt(float(np.sum(errors**2))) / n
    if n == 1:
        return float(values[0]), formal
    # A sampler's quoted error can be optimistic; the scatter between seeds is
    # an independent estimate of it, and we trust whichever is larger.
    return float(values.mean()), max(formal, float(values.std(ddof=1)) / math.sqrt(n))


def cross_check(
    logR_obs: float,
    logR_obs_err: float,
    log_r_network: float,
    log_r_network_spread: float,
) -> bool:
    """Compare log R_obs with the network's log R for the observed data.

    Returns True when they agree within three combined standard deviations,

    .. math::
        |\\log R_{\\rm obs} - \\log r| \\le 3 \\sqrt{\\sigma_{\\rm obs}^2 +
        \\sigma_{\\rm net}^2},

    and otherwise warns with both numbers and returns False.

    Parameters
    ----------
    logR_obs, logR_obs_err : float
        log R_obs and its standard error (from any source above).
    log_r_network, log_r_network_spread : float
        The network's log R for the observed pair and the spread of the
        ensemble of networks.

    Examples
    --------
    >>> cross_check(8.6, 0.6, 8.1, 0.3)
    True
    """
    logR_obs = _check_number("logR_obs", logR_obs)
    logR_obs_err = _check_number("logR_obs_err", logR_obs_err, error=True)
    log_r_network = _check_number("log_r_network", log_r_network)
    log_r_network_spread = _check_number("log_r_network_spread", log_r_network_spread,
                                         error=True)

    combined = math.hypot(logR_obs_err, log_r_network_spread)
    difference = abs(logR_obs - log_r_network)
    if difference <= 3.0 * combined:
        return True
    warnings.warn(
        f"log R_obs = {logR_obs:.3f} +/- {logR_obs_err:.3f} and the network's log R "
        f"for the observed data = {log_r_network:.3f} +/- {log_r_network_spread:.3f} "
        f"differ by {difference:.3f}, more than 3 combined standard deviations "
        f"({3.0 * combined:.3f}); the network may be inaccurate near the observation, "
        f"or the evidences may use another prior or likelihood",
        AccordWarning,
        stacklevel=2,
    )
    return False


def _check_count(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)
