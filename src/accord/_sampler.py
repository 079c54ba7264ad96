"""Nested sampling of a problem's three evidences with nautilus or dynesty.

Each run samples only the parameters its experiment depends on, through the
problem's own prior object, so that the evidences share the simulations'
prior by construction (docs/method.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np

from .exceptions import AccordError

__all__ = ["SamplingError", "SAMPLERS", "RunEvidence", "sample_evidence", "run_subset",
           "run_transform", "checkpoint_stem", "check_symmetries", "check_run_sizes"]

logger = logging.getLogger(__name__)

SAMPLERS = ("nautilus", "dynesty")

_DEFAULT_N_LIVE = {"nautilus": 1000, "dynesty": 500}


class SamplingError(AccordError):
    """Nested sampling of a problem could not be run or returned nonsense."""


@dataclass(frozen=True)
class RunEvidence:
    """The evidence of one nested-sampling run."""

    logZ: float
    logZ_err: float
    n_like: int
    wall_s: float


def run_subset(problem: Any, label: str) -> tuple[str, ...]:
    """The parameters run ``label`` (``"A"``, ``"B"`` or ``"AB"``) samples.

    Raises
    ------
    SamplingError
        If they split one of the prior's correlated blocks: the unit-cube
        transform of part of a block is not defined.
    """
    names = {"A": problem.params_A, "B": problem.params_B, "AB": problem.names}[label]
    groups = getattr(problem.prior, "groups", (tuple(problem.names),))
    chosen = set(names)
    for group in groups:
        if set(group) & chosen and not set(group) <= chosen:
            raise SamplingError(
                f"run {label} of problem {problem.name!r} samples {list(names)}, which "
                f"splits the prior's correlated block {list(group)}; the unit-cube "
                f"transform of part of a block is undefined. Make each correlated "
                f"block belong entirely to params_A, to params_B, or to both."
            )
    return tuple(names)


class _Transform:
    """Unit cube ``(*, k)`` of a run's parameters to their values ``(*, k)``.

    The cube coordinates of parameters outside the run are held at 0.5; since
    the run's parameters form whole prior blocks, their values do not depend
    on those coordinates. ``keys`` holds, for each exchangeable group in the
    run, the full-row columns of its components' first parameters: their
    coordinates are mapped onto decreasing order statistics, so only one
    ordering of the components is sampled (see :func:`ordered`).
    """

    def __init__(self, prior: Any, columns: np.ndarray,
                 keys: tuple[np.ndarray, ...] = ()) -> None:
        self.prior, self.columns, self.keys = prior, columns, keys

    def __call__(self, cube: np.ndarray) -> np.ndarray:
        cube = np.asarray(cube, dtype=float)
        full = np.full(cube.shape[:-1] + (self.prior.dim,), 0.5)
        full[..., self.columns] = cube
        for key in self.keys:
            full[..., key] = ordered(full[..., key])
        return self.prior.transform(full)[..., self.columns]


def _run_groups(problem: Any, names: tuple[str, ...]) -> list[Any]:
    """The problem's exchangeable groups that lie in a run's parameters."""
    return [group for group in getattr(problem, "exchangeable", ())
            if group[0][0] in names]


def run_transform(problem: Any, label: str) -> _Transform:
    """The unit-cube transform that run ``label`` samples through."""
    names = run_subset(problem, label)
    keys = tuple(problem.indices([component[0] for component in group])
                 for group in _run_groups(problem, names))
    return _Transform(problem.prior, problem.indices(names), keys)


def checkpoint_stem(problem: Any) -> str:
    """The start of the names of a problem's nested-sampling checkpoints."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", problem.name)
    exchangeable = getattr(problem, "exchangeable", ())
    if not exchangeable:
        return stem
    # Ordered runs sample another space, which the declaration defines: never
    # resume an unordered run, or one ordered by another declaration.
    digest = hashlib.sha256(json.dumps(exchangeable).encode()).hexdigest()[:8]
    return f"{stem}_ordered-{digest}"


def ordered(cube: np.ndarray) -> np.ndarray:
    """Map ``cube (*, k)``, uniform on the unit cube, to its decreasing region.

    The first column becomes the largest of k uniforms, ``c_1^(1/k)``, and
    each next one the largest of the remaining, ``v_j = v_{j-1} c_j^(1/(k-j+1))``:
    a bijection onto ``{v_1 >= ... >= v_k}`` whose image is uniform there,
    i.e. the prior restricted to one ordering with its density multiplied
    by k!. Where the likelihood is symmetric the evidence is unchanged.
    """
    k = cube.shape[-1]
    out = np.empty_like(cube)
    level = np.ones(cube.shape[:-1])
    for j in range(k):
        level = level * cube[..., j] ** (1.0 / (k - j))
        out[..., j] = level
    return out


class _LogLikelihood:
    """Log-likelihood of one run as a function of its own parameters ``(*, k)``.

    The problem's likelihoods take full rows ``theta (n, P)``; parameters the
    run does not sample are set to the prior median, a harmless value inside
    the support that the run's likelihoods ignore.
    """

    def __init__(self, problem: Any, label: str, columns: np.ndarray) -> None:
        self.problem, self.label, self.columns = problem, label, columns
        self.fill = np.asarray(problem.prior.transform(np.full(problem.prior.dim, 0.5)))
        self.terms = {
            "A": [(problem.log_likelihood_A, problem.x_A_obs)],
            "B": [(problem.log_likelihood_B, problem.x_B_obs)],
            "AB": [(problem.log_likelihood_A, problem.x_A_obs),
                   (problem.log_likelihood_B, problem.x_B_obs)],
        }[label]

    def __call__(self, params: np.ndarray) -> np.ndarray | float:
        params = np.asarray(params, dtype=float)
        single = params.ndim == 1
        theta = np.tile(self.fill, (1 if single else len(params), 1))
        theta[:, self.columns] = params

        logL = np.zeros(len(theta))
        for log_likelihood, x in self.terms:
            logL = logL + np.asarray(log_likelihood(theta, x), dtype=float).reshape(-1)

        bad = np.isnan(logL) | np.isposinf(logL)
        if np.any(bad):
            row = dict(zip(self.problem.names, theta[int(np.argmax(bad))].tolist()))
            raise SamplingError(
                f"the log-likelihood of run {self.label} of problem "
                f"{self.problem.name!r} is {logL[bad][0]} at {row}; it must be finite "
                f"or -inf (zero likelihood)"
            )
        return float(logL[0]) if single else logL


def sample_evidence(
    problem: Any,
    label: str,
    *,
    sampler: str,
    n_live: int | None,
    seed: int,
    checkpoint: str | None,
    progress: bool,
    run_kwargs: Mapping[str, Any],
    sampler_kwargs: Mapping[str, Any],
) -> RunEvidence:
    """Run one nested sampler on run ``label`` of ``problem``."""
    names = run_subset(problem, label)
    columns = problem.indices(names)
    log_likelihood = _LogLikelihood(problem, label, columns)
    transform = run_transform(problem, label)
    n_live = _DEFAULT_N_LIVE[sampler] if n_live is None else n_live

    start = time.perf_counter()
    if sampler == "nautilus":
        logZ, logZ_err, n_like = _nautilus(
            transform, log_likelihood, len(names), n_live, seed, checkpoint, progress,
            run_kwargs, sampler_kwargs,
        )
    else:
        logZ, logZ_err, n_like = _dynesty(
            transform, log_likelihood, len(names), n_live, seed, checkpoint, progress,
            run_kwargs, sampler_kwargs,
        )
    wall_s = time.perf_counter() - start

    if not (np.isfinite(logZ) and np.isfinite(logZ_err)):
        raise SamplingError(
            f"{sampler} returned logZ = {logZ} +/- {logZ_err} for run {label} of "
            f"problem {problem.name!r}"
        )
    logger.info("%s run %s of %s: logZ = %.4f +/- %.4f (%d likelihood calls, %.1f s)",
                sampler, label, problem.name, logZ, logZ_err, n_like, wall_s)
    return RunEvidence(float(logZ), float(logZ_err), int(n_like), wall_s)


# Prior draws on which a declared symmetry is checked.
_N_SYMMETRY_DRAWS = 256


def check_symmetries(problem: Any, label: str) -> None:
    """Refuse exchangeable components whose permutation changes run ``label``'s
    likelihood.

    A spot check on prior draws: a cyclic shift and a swap of the first two
    components (together they generate every permutation) must leave every
    finite log-likelihood unchanged to a relative 1e-6, which single-precision
    likelihoods meet. A symmetry broken only where the likelihood is tiny
    everywhere on the draws can pass it.
    """
    names = run_subset(problem, label)
    groups = _run_groups(problem, names)
    if not groups:
        return
    columns = problem.indices(names)
    log_likelihood = _LogLikelihood(problem, label, columns)
    rng = np.random.default_rng(0)
    params = _Transform(problem.prior, columns)(rng.uniform(size=(_N_SYMMETRY_DRAWS,
                                                                  len(names))))
    before = log_likelihood(params)
    for group in groups:
        # A run may hold only some places of the components (the shared ones).
        positions = [[names.index(n) for n in component if n in names]
                     for component in group]
        cyclic = positions[1:] + positions[:1]
        swap = [positions[1], positions[0]] + positions[2:]
        for kind, targets in (("a cyclic shift", cyclic), ("a swap", swap)):
            permuted = params.copy()
            for source, target in zip(positions, targets):
                permuted[:, target] = params[:, source]
            after = log_likelihood(permuted)
            finite = np.isfinite(before) | np.isfinite(after)
            bad = ~np.isclose(after[finite], before[finite], rtol=1e-6, atol=1e-6)
            if np.any(bad):
                i = int(np.argmax(bad))
                raise SamplingError(
                    f"problem {problem.name!r} declares the components {list(group)} "
                    f"exchangeable, but {kind} of them changes the log-likelihood of "
                    f"run {label} ({before[finite][i]:.10g} against "
                    f"{after[finite][i]:.10g} at a prior draw); declare only "
                    f"symmetries of the likelihood")


def _nautilus(
    transform: _Transform, log_likelihood: _LogLikelihood, n_dim: int, n_live: int,
    seed: int, checkpoint: str | None, progress: bool, run_kwargs: Mapping[str, Any],
    sampler_kwargs: Mapping[str, Any],
) -> tuple[float, float, int]:
    import nautilus

    sampler = nautilus.Sampler(
        transform, log_likelihood, n_dim=n_dim, n_live=n_live, vectorized=True,
        pass_dict=False, seed=seed,
        filepath=None if checkpoint is None else checkpoint + ".hdf5", resume=True,
        **sampler_kwargs,
    )
    # The exploration phase biases the evidence slightly; discarding it is
    # what makes nautilus's estimate unbiased.
    options = {"discard_exploration": True, **run_kwargs}
    with _interrupts_kept():
        sampler.run(verbose=progress, **options)

    # nautilus reports no evidence error. Its estimate is an importance-sampling
    # sum whose relative variance is about 1 / n_eff, hence this error on logZ.
    logZ_err = 1.0 / np.sqrt(max(sampler.n_eff, 1.0))
    return float(sampler.log_z), float(logZ_err), int(sampler.n_like)


@contextlib.contextmanager
def _interrupts_kept() -> Iterator[None]:
    """Make Ctrl-C stop a run even if a library catches the KeyboardInterrupt.

    nautilus trains its bounds with scikit-learn, whose network training
    catches KeyboardInterrupt and carries on; the run would then finish and
    its result be saved as if nothing happened. The interrupt is recorded
    here and raised again once the sampler returns, leaving its checkpoint
    to resume from.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupted = []
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        interrupted.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        raise KeyboardInterrupt


def _dynesty(
    transform: _Transform, log_likelihood: _LogLikelihood, n_dim: int, n_live: int,
    seed: int, checkpoint: str | None, progress: bool, run_kwargs: Mapping[str, Any],
    sampler_kwargs: Mapping[str, Any],
) -> tuple[float, float, int]:
    import dynesty

    path = None if checkpoint is None else checkpoint + ".dynesty"
    options = {"print_progress": progress, **run_kwargs}
    if path is not None and os.path.exists(path):
        logger.info("resuming dynesty from %s", path)
        sampler = dynesty.NestedSampler.restore(path)
        sampler.run_nested(resume=True, checkpoint_file=path, **options)
    else:
        sampler = dynesty.NestedSampler(
            log_likelihood, transform, n_dim, nlive=n_live,
            rstate=np.random.default_rng(seed), **sampler_kwargs,
        )
        sampler.run_nested(checkpoint_file=path, **options)

    results = sampler.results
    n_like = int(np.sum(results.ncall))
    return float(results.logz[-1]), float(results.logzerr[-1]), n_like


def check_sampler_options(
    problem: Any, sampler: str, n_live: int | None, n_repeats: int
) -> None:
    """Validate the arguments of :func:`accord.evidence.run_nested_sampling`."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}; got {sampler!r}")
    if n_live is not None and (
        isinstance(n_live, bool) or not isinstance(n_live, (int, np.integer))
        or n_live < 10
    ):
        raise ValueError(f"n_live must be an integer >= 10 or None; got {n_live!r}")
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, (int, np.integer)) \
            or n_repeats < 1:
        raise ValueError(f"n_repeats must be a positive integer; got {n_repeats!r}")

    missing = [
        name for name in ("log_likelihood_A", "log_likelihood_B", "x_A_obs", "x_B_obs")
        if getattr(problem, name, None) is None
    ]
    if missing:
        raise ValueError(
            f"nested sampling of problem {getattr(problem, 'name', '?')!r} needs "
            f"{missing}; give them to Problem(...)"
        )
    if not callable(getattr(problem.prior, "transform", None)):
        raise TypeError(
            f"the prior of problem {problem.name!r} has no unit-cube transform; use a "
            f"prior of accord.priors"
        )


def check_run_sizes(problem: Any, sampler: str) -> None:
    """nautilus needs two parameters per run; say so before any sampling."""
    if sampler == "nautilus":
        runs = (("A", problem.params_A), ("B", problem.params_B))
        small = [label for label, names in runs if len(names) < 2]
        if small:
            raise ValueError(
                f"nautilus samples at least two parameters, but run {small[0]} of "
                f"problem {problem.name!r} has one; use sampler='dynesty'")
