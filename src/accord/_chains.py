"""Reading nested-sampling chains and drawing their evidence statistics.

Chains are read with anesthetic, which recognises PolyChord, MultiNest,
UltraNest and Cobaya (PolyChord) outputs from a file root. Everything a file
can get wrong is checked here, once, and reported with the file and the
problem it was meant for.

The evidence of a run is uncertain because the prior volumes enclosed by the
dead points are only known statistically. We draw those volumes ourselves
with an explicit numpy Generator (anesthetic's ``logZ(nsamples)`` draws from
numpy's global random state, which we must not touch), following the same
rules: the log-volume shrinks at each death by ``log(u) / n_live`` with ``u``
uniform, and a dead point's weight is its likelihood times half the volume
between its neighbours.
"""

from __future__ import annotations

import logging
import math
import os
import re
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import special, stats

from .exceptions import AccordError, AccordWarning

__all__ = ["ChainError", "ChainStatistics", "read_run", "draw_statistics"]

logger = logging.getLogger(__name__)

# Bytes allowed for one (n_points, chunk) block of simulated volumes; a few
# such blocks are alive at once while a chunk is reduced.
_BLOCK_BYTES = 32 * 2**20

# A Kolmogorov-Smirnov p-value below this, after a Bonferroni correction over
# parameters, means the prior draws of a run do not follow the given prior.
_PRIOR_P_MIN = 1e-4

# Fewer prior draws than this make the distribution test meaningless.
_MIN_PRIOR_DRAWS = 20


class ChainError(AccordError):
    """A chain file is missing, empty, malformed or inconsistent with the problem.

    Attributes
    ----------
    root : str
        The file root that was read.
    """

    def __init__(self, message: str, *, root: str) -> None:
        super().__init__(message)
        self.root = root


@dataclass(frozen=True)
class ChainStatistics:
    """Draws of one run's statistics over simulated prior volumes.

    Each field has shape ``(n_samples,)``.
    """

    logZ: np.ndarray
    D_KL: np.ndarray
    logL_P: np.ndarray
    d_G: np.ndarray


def read_run(root: str | os.PathLike[str], *, label: str, problem: str) -> Any:
    """Read one nested-sampling run and check that it is usable.

    Parameters
    ----------
    root : str or path
        File root as anesthetic's ``read_chains`` expects it, e.g.
        ``chains/test`` for PolyChord's ``chains/test_dead-birth.txt``.
    label : str
        Which run this is (``"A"``, ``"B"`` or ``"AB"``), for messages.
    problem : str
        Name of the problem the run belongs to, for messages.

    Returns
    -------
    anesthetic.samples.NestedSamples
    """
    from anesthetic import read_chains
    from anesthetic.samples import NestedSamples

    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(
            f"root_{label} must be a path or string; got {type(root).__name__}")
    root = os.fspath(root)
    where = (f"run {label} (root {root!r})" if problem == "(none given)"
             else f"run {label} of problem {problem!r} (root {root!r})")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            samples = read_chains(root)
        except FileNotFoundError as error:
            raise ChainError(
                f"no chain files found for {where}: {_first_line(error)}", root=root
            ) from None
        except ValueError as error:
            message = _shape_message(root, where, caught, error)
            raise ChainError(message, root=root) from None
    _relay(caught, root, where)

    if not isinstance(samples, NestedSamples):
        raise ChainError(
            f"{where} holds {type(samples).__name__}, not nested samples; the evidence "
            f"needs a nested-sampling run (PolyChord, MultiNest, UltraNest, or Cobaya "
            f"with its PolyChord sampler)",
            root=root,
        )
    if len(samples) == 0:
        raise ChainError(f"{where} has no dead points", root=root)

    logL = samples["logL"].to_numpy(dtype=float)
    if np.any(np.isposinf(logL)):
        raise ChainError(
            f"{where} has {int(np.sum(np.isposinf(logL)))} rows with logL = +inf; "
            f"its evidence would be infinite. Check the likelihood at those points.",
            root=root,
        )
    if np.all(np.isneginf(logL)):
        raise ChainError(f"{where} has logL = -inf on every dead point", root=root)
    return samples


# A chain's evidence may differ from the one its sampler recorded by this many
# combined standard deviations before the files are taken to disagree.
_STATS_TOLERANCE = 5.0


def check_against_stats_file(root: str, logZ: np.ndarray, *, label: str,
                             problem: str) -> None:
    """Compare log Z of the chain with a PolyChord ``<root>.stats`` file, if any.

    A dead-points file cut short (a killed run, a partial copy) still reads,
    but its evidence is wrong; the sampler's own record of log Z exposes it.
    """
    path = f"{root}.stats"
    if not os.path.isfile(path):
        return
    match = re.search(r"^log\(Z\)\s*=\s*(\S+)\s*\+/-\s*(\S+)", _read_text(path),
                      flags=re.MULTILINE)
    if match is None:
        return
    try:
        recorded, error = float(match.group(1)), float(match.group(2))
    except ValueError:
        return
    mean, std = float(np.mean(logZ)), float(np.std(logZ))
    if abs(mean - recorded) > _STATS_TOLERANCE * math.hypot(std, error):
        raise ChainError(
            f"run {label} of problem {problem!r} (root {root!r}): the dead points give "
            f"log Z = {mean:.3f} +/- {std:.3f} but {path} records {recorded:.3f} +/- "
            f"{error:.3f}; the chain file is truncated or belongs to another run",
            root=root)


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def _first_line(error: Exception) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    text = "; ".join(lines[1:] or lines)
    # anesthetic names each reader it tried by its repr; keep just the name.
    return re.sub(r"<function (\w+) at 0x[0-9a-fA-F]+>", r"\1", text)


def _shape_message(root: str, where: str, caught: list, error: ValueError) -> str:
    if any("no data" in str(w.message) for w in caught):
        return f"the chain file of {where} is empty"
    try:
        from anesthetic.read.chain import read_paramnames

        names, _ = read_paramnames(root)
        listed = f"the parameter-name file lists {len(names)} names {list(names)}"
    except (FileNotFoundError, OSError, ValueError):
        listed = "the parameter-name file"
    return (
        f"the chain file of {where} does not match its parameter names: {listed}, "
        f"but the columns differ ({error}). Fix the .paramnames file or the chain."
    )


def _relay(caught: list, root: str, where: str) -> None:
    """Turn anesthetic's warnings into our own error or warning."""
    texts = [str(entry.message) for entry in caught]
    if any("NaN" in text for text in texts):
        raise ChainError(
            f"{where} has rows with logL = NaN; anesthetic would drop them and "
            f"bias the evidence. Fix or remove those rows.",
            root=root,
        )
    for entry, text in zip(caught, texts):
        if issubclass(entry.category, (RuntimeWarning, UserWarning)):
            warnings.warn(f"reading {where}: {text}", AccordWarning, stacklevel=4)


def match_columns(
    samples: Any, expected: Sequence[str] | None, *, label: str, root: str, problem: str
) -> list[str]:
    """Name the parameter columns of a run in the problem's vocabulary.

    Columns are matched by name when every chain name is a problem name, and
    by position otherwise, when the counts agree.
    """
    chain_names = parameter_columns(samples)
    if expected is None:
        return chain_names
    expected = list(expected)
    if set(chain_names) <= set(expected) and chain_names:
        return chain_names
    if len(chain_names) != len(expected):
        raise ChainError(
            f"run {label} of problem {problem!r} (root {root!r}) has parameters "
            f"{chain_names}, which neither are names of the problem nor match its "
            f"{len(expected)} parameters {expected} in number; pass columns= to "
            f"name them",
            root=root,
        )
    logger.info("run %s (%s): reading columns %s as %s by position",
                label, root, chain_names, expected)
    return expected


_BOOKKEEPING = ("logL", "logL_birth", "nlive", "insertion")


def parameter_columns(samples: Any) -> list[str]:
    """The parameter columns of a run, in file order."""
    return [str(c) for c in samples.drop_labels().columns if c not in _BOOKKEEPING]


def parameter_values(samples: Any) -> np.ndarray:
    """The parameter values of a run, shape ``(n_points, k)``."""
    frame = samples.drop_labels()
    return frame[[c for c in frame.columns if c not in _BOOKKEEPING]].to_numpy(float)


def check_prior(
    samples: Any, names: Sequence[str], prior: Any, *, label: str, root: str,
    problem: str,
) -> None:
    """Check that a run was sampled on ``prior``, as far as its points tell.

    Two checks: every point must lie inside the prior's support (an error),
    and the points born at logL_birth = -inf, which are prior draws, must
    follow the prior's marginals (a Kolmogorov-Smirnov test; a warning).
    """
    where = (f"run {label} (root {root!r})" if problem == "(none given)"
             else f"run {label} of problem {problem!r} (root {root!r})")
    values = parameter_values(samples)
    theta = fill_theta(prior, names, values)

    log_prior = np.asarray(prior.log_prob(theta), dtype=float)
    outside = ~np.isfinite(log_prior)
    if np.any(outside):
        row = int(np.argmax(outside))
        point = dict(zip(names, np.round(values[row], 6).tolist()))
        raise ChainError(
            f"{int(outside.sum())} of {len(outside)} points of {where} lie outside "
            f"the support of the problem's prior, e.g. {point}; the chains were run "
            f"on a different prior, and log R depends on the prior",
            root=root,
        )

    if not _is_union_of_groups(prior, names):
        logger.info("%s: skipping the prior-draw test, its parameters split a "
                    "correlated prior block", where)
        return
    births = samples["logL_birth"].to_numpy(dtype=float)
    draws = np.isneginf(births)
    if draws.sum() < _MIN_PRIOR_DRAWS:
        return
    u = prior.to_normal(theta[draws])[:, [list(prior.names).index(n) for n in names]]
    p_values = [stats.kstest(column, "norm").pvalue for column in u.T]
    worst = int(np.argmin(p_values))
    if p_values[worst] * len(names) < _PRIOR_P_MIN:
        warnings.warn(
            f"the {int(draws.sum())} prior draws of {where} do not follow the "
            f"problem's prior for {names[worst]!r} (Kolmogorov-Smirnov p = "
            f"{p_values[worst]:.1e}); the chains were probably run on another prior, "
            f"and log R depends on the prior",
            AccordWarning,
            stacklevel=3,
        )


def fill_theta(prior: Any, names: Sequence[str], values: np.ndarray) -> np.ndarray:
    """Full parameter rows ``(n, P)`` from columns ``names`` of ``values (n, k)``.

    Parameters a run does not depend on are set to the prior median (the
    transform of the cube centre), a point inside the support; the
    likelihoods ignore them.
    """
    median = np.asarray(prior.transform(np.full(len(prior.names), 0.5)), dtype=float)
    theta = np.tile(median, (len(values), 1))
    theta[:, [list(prior.names).index(n) for n in names]] = values
    return theta


def _is_union_of_groups(prior: Any, names: Sequence[str]) -> bool:
    chosen = set(names)
    return all(set(g) <= chosen or not set(g) & chosen for g in prior.groups)


def draw_statistics(
    samples: Any, n_samples: int, rng: np.random.Generator
) -> ChainStatistics:
    """Draw logZ, D_KL, logL_P and d_G over simulated prior volumes.

    Memory stays bounded: the draws are made in column blocks of at most
    ``_BLOCK_BYTES``.

    .. math::
        \\log X_i = \\sum_{j \\le i} \\log(u_j) / n_j, \\quad
        w_i = L_i (X_{i-1} - X_{i+1}) / 2, \\quad Z = \\sum_i w_i
    """
    logL = samples["logL"].to_numpy(dtype=float)
    n_live = samples["nlive"].to_numpy(dtype=float)
    n_points = len(logL)
    chunk = max(1, min(n_samples, _BLOCK_BYTES // (8 * n_points)))

    parts = []
    for start in range(0, n_samples, chunk):
        size = min(chunk, n_samples - start)
        log_t = np.log(rng.random((n_points, size))) / n_live[:, None]
        parts.append(_reduce(logL, np.cumsum(log_t, axis=0)))
    return ChainStatistics(*[np.concatenate(p) for p in zip(*parts)])


def mean_statistics(samples: Any) -> ChainStatistics:
    """The statistics at the expected log-volumes, ``log X_i = sum log(n/(n+1))``."""
    logL = samples["logL"].to_numpy(dtype=float)
    n_live = samples["nlive"].to_numpy(dtype=float)
    logX = np.cumsum(np.log(n_live / (n_live + 1.0)))[:, None]
    return ChainStatistics(*[v for v in _reduce(logL, logX)])


def _reduce(logL: np.ndarray, logX: np.ndarray) -> tuple[np.ndarray, ...]:
    """Statistics for log-volumes ``logX (n_points, k)``, each of shape ``(k,)``."""
    # X just above the first dead point is 1 and below the last one 0.
    upper = np.vstack([np.zeros((1, logX.shape[1])), logX[:-1]])
    lower = np.vstack([logX[1:], np.full((1, logX.shape[1]), -np.inf)])
    with np.errstate(divide="ignore"):
        logw = upper + np.log1p(-np.exp(lower - upper)) - np.log(2.0)
    logw += logL[:, None]

    logZ = special.logsumexp(logw, axis=0)
    w = np.exp(logw - logZ)
    # Points of zero likelihood carry zero weight; keep their -inf out of sums.
    centred = np.where(np.isfinite(logL), logL, 0.0)[:, None] - logZ
    D_KL = np.sum(w * centred, axis=0)
    d_G = 2.0 * np.sum(w * (centred - D_KL) ** 2, axis=0)
    return logZ, D_KL, logZ + D_KL, d_G
