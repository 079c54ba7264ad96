"""Gaussian BAO measurements: the shipped releases and users' own files.

A BAO data set is a list of distance ratios measured at effective redshifts,
one a row, with a Gaussian covariance between the rows. On disk it is a pair
of plain-text files (the layout of the public Cobaya ``bao_data``
collection):

- the *mean* file, one measurement a line, ``z value quantity``, where
  ``quantity`` is ``DM_over_rs``, ``DH_over_rs`` or ``DV_over_rs`` (comoving
  angular, Hubble and volume-averaged distance over the sound horizon at the
  drag epoch); lines starting with ``#`` are comments;
- the *covariance* file, the N x N covariance of those rows in the same
  order, whitespace-separated.

Inside accord the quantities are called ``DM_over_rd``, ``DH_over_rd`` and
``DV_over_rd``; files may use either spelling.

Examples
--------
>>> from accord.bao import load_bao, list_bao
>>> "sdss_dr12_lrg" in list_bao()
True
>>> data = load_bao("sdss_dr12_lrg")
>>> data.z
array([0.38, 0.38, 0.51, 0.51])
>>> data.quantities
('DM_over_rd', 'DH_over_rd', 'DM_over_rd', 'DH_over_rd')
>>> data.cov.shape
(4, 4)
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from importlib import resources
from typing import Any, Sequence

import numpy as np
from scipy import linalg

from ..exceptions import AccordError

__all__ = [
    "BAOData",
    "BAODataError",
    "QUANTITIES",
    "load_bao",
    "load_bao_files",
    "list_bao",
    "select_bao",
    "combine",
]

QUANTITIES = ("DM_over_rd", "DH_over_rd", "DV_over_rd")
"""Internal names of the distance ratios accord can predict."""

# The spellings accepted in files: the public files write r_s for the sound
# horizon at the drag epoch, which accord calls r_d.
_ALIASES = {
    "DM_over_rs": "DM_over_rd",
    "DH_over_rs": "DH_over_rd",
    "DV_over_rs": "DV_over_rd",
    **{name: name for name in QUANTITIES},
}

# Relative asymmetry tolerated in a covariance file: the published files carry
# round-off of order 1e-15 between mirrored entries.
_SYMMETRY_RTOL = 1e-8


class BAODataError(AccordError, ValueError):
    """A BAO data file is missing or malformed.

    Attributes
    ----------
    path : str
        The offending file.
    line : int or None
        The 1-based line of the file at fault, where one line is.
    """

    def __init__(self, message: str, *, path: str, line: int | None = None) -> None:
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


@dataclass(frozen=True, eq=False)
class BAOData:
    """Gaussian BAO measurements with their covariance.

    Parameters
    ----------
    z : array (N,)
        Effective redshift of each measurement, > 0.
    quantities : tuple of str (N,)
        What each row measures, one of :data:`QUANTITIES`.
    values : array (N,)
        The measured distance ratios.
    cov : array (N, N)
        Their covariance, symmetric positive definite.
    label : str
        A short name used in reports, such as ``"sdss_dr12_lrg"``.
    sources : tuple of str
        The files the measurements were read from.

    Examples
    --------
    >>> import numpy as np
    >>> from accord.bao import BAOData
    >>> data = BAOData(z=[0.5, 0.5], quantities=("DM_over_rd", "DH_over_rd"),
    ...                values=[13.4, 22.3], cov=np.diag([0.04, 0.3]), label="toy")
    >>> len(data), data.std.round(3)
    (2, array([0.2  , 0.548]))
    """

    z: np.ndarray
    quantities: tuple[str, ...]
    values: np.ndarray
    cov: np.ndarray
    label: str = "bao"
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        z = np.asarray(self.z, dtype=float)
        values = np.asarray(self.values, dtype=float)
        cov = np.atleast_2d(np.asarray(self.cov, dtype=float))
        if isinstance(self.quantities, str):
            raise TypeError("quantities must be a sequence of names, not one string")
        quantities = tuple(_ALIASES.get(str(q), str(q)) for q in self.quantities)

        n = z.size
        if z.ndim != 1 or n == 0:
            raise ValueError(f"z must be a non-empty vector (N,); got shape {z.shape}")
        if values.shape != (n,) or len(quantities) != n:
            raise ValueError(
                f"z, values and quantities must have one entry per measurement; "
                f"got {n}, {values.size} and {len(quantities)}"
            )
        if not (np.all(np.isfinite(z)) and np.all(z > 0)):
            raise ValueError(f"z must be finite and > 0; got {z}")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"values must be finite; got {values}")
        unknown = sorted(set(quantities) - set(QUANTITIES))
        if unknown:
            raise ValueError(
                f"unknown quantities {unknown}; accepted: {list(QUANTITIES)}"
            )
        if cov.shape != (n, n):
            raise ValueError(f"cov must have shape ({n}, {n}); got {cov.shape}")
        problem = _covariance_problem(cov)
        if problem:
            raise ValueError(f"cov {problem}")

        object.__setattr__(self, "z", z)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "cov", 0.5 * (cov + cov.T))
        object.__setattr__(self, "quantities", quantities)
        object.__setattr__(self, "sources", tuple(str(s) for s in self.sources))
        for array in (self.z, self.values, self.cov):
            array.setflags(write=False)

    def __len__(self) -> int:
        return self.z.size

    @property
    def std(self) -> np.ndarray:
        """Standard deviation of each measurement, shape ``(N,)``."""
        return np.sqrt(np.diag(self.cov))

    def select(
        self,
        *,
        z_min: float | None = None,
        z_max: float | None = None,
        quantities: Sequence[str] | None = None,
    ) -> BAOData:
        """The rows with ``z_min <= z <= z_max`` and the given quantities.

        The covariance of the kept rows is the matching block of the full
        covariance: marginalising a Gaussian over the dropped rows.
        """
        keep = np.ones(len(self), dtype=bool)
        if z_min is not None:
            keep &= self.z >= z_min
        if z_max is not None:
            keep &= self.z <= z_max
        if quantities is not None:
            wanted = {_ALIASES.get(q, q) for q in quantities}
            unknown = sorted(wanted - set(QUANTITIES))
            if unknown:
                raise ValueError(
                    f"quantities has unknown names {unknown}; "
                    f"accepted: {list(QUANTITIES)}"
                )
            keep &= np.isin(self.quantities, list(wanted))
        if not keep.any():
            raise ValueError(
                f"no measurement of {self.label!r} (z = {self.z.tolist()}) matches "
                f"z_min={z_min}, z_max={z_max}, quantities={quantities}"
            )
        index = np.flatnonzero(keep)
        return dataclasses.replace(
            self,
            z=self.z[index],
            quantities=tuple(self.quantities[i] for i in index),
            values=self.values[index],
            cov=self.cov[np.ix_(index, index)],
        )

    def chi2(self, theory: np.ndarray) -> np.ndarray:
        """Chi-square ``(*,)`` of the prediction ``theory (*, N)`` against the data."""
        theory = np.asarray(theory, dtype=float)
        if theory.ndim == 0 or theory.shape[-1] != len(self):
            raise ValueError(
                f"theory must have shape (*, {len(self)}); got {theory.shape}"
            )
        chol = linalg.cholesky(self.cov, lower=True)
        residual = (self.values - theory).reshape(-1, len(self))
        white = linalg.solve_triangular(chol, residual.T, lower=True)
        return np.sum(white**2, axis=0).reshape(theory.shape[:-1])

    def __repr__(self) -> str:
        rows = ", ".join(f"{q}(z={z:g})" for q, z in zip(self.quantities, self.z))
        return f"BAOData({self.label!r}: {rows})"


def _covariance_problem(cov: np.ndarray) -> str | None:
    """Describe why ``cov`` is not a covariance matrix, or return None."""
    if not np.all(np.isfinite(cov)):
        return "has non-finite entries"
    scale = np.max(np.abs(cov))
    if np.any(np.abs(cov - cov.T) > _SYMMETRY_RTOL * scale):
        i, j = np.unravel_index(np.argmax(np.abs(cov - cov.T)), cov.shape)
        return (
            f"is not symmetric: entry ({i + 1}, {j + 1}) is {cov[i, j]:g} but "
            f"({j + 1}, {i + 1}) is {cov[j, i]:g}"
        )
    try:
        np.linalg.cholesky(0.5 * (cov + cov.T))
    except np.linalg.LinAlgError:
        smallest = np.linalg.eigvalsh(0.5 * (cov + cov.T))[0]
        return f"is not positive definite: its smallest eigenvalue is {smallest:g}"
    return None


# ---------------------------------------------------------------------------
# Parsing


def _rows(text: str) -> list[tuple[int, list[str]]]:
    """Split a text file into (1-based line number, tokens) for data lines."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            rows.append((number, stripped.split()))
    return rows


def _number(token: str, *, path: str, line: int, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise BAODataError(f"cannot read {what} {token!r} as a number", path=path,
                           line=line) from None
    if not np.isfinite(value):
        raise BAODataError(f"{what} is {token!r}; it must be finite", path=path,
                           line=line)
    return value


def _parse_mean(text: str, path: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Read the ``z value quantity`` rows of a mean file."""
    z, values, quantities = [], [], []
    for line, tokens in _rows(text):
        if len(tokens) != 3:
            raise BAODataError(
                f"expected three columns 'z value quantity'; got {len(tokens)}: "
                f"{' '.join(tokens)!r}", path=path, line=line
            )
        redshift = _number(tokens[0], path=path, line=line, what="redshift")
        if redshift <= 0:
            raise BAODataError(f"redshift must be > 0; got {redshift:g}", path=path,
                               line=line)
        z.append(redshift)
        values.append(_number(tokens[1], path=path, line=line, what="value"))
        if tokens[2] not in _ALIASES:
            raise BAODataError(
                f"unknown quantity {tokens[2]!r}; accepted: {sorted(_ALIASES)}",
                path=path, line=line,
            )
        quantities.append(_ALIASES[tokens[2]])
    if not z:
        raise BAODataError("no measurements found (only blank or comment lines)",
                           path=path)
    return np.array(z), np.array(values), tuple(quantities)


def _parse_cov(text: str, path: str, n: int) -> np.ndarray:
    """Read an ``n`` x ``n`` covariance and check that it is one."""
    rows = _rows(text)
    for line, tokens in rows:
        if len(tokens) != n:
            raise BAODataError(
                f"covariance row has {len(tokens)} entries; the mean file has {n} "
                f"measurements, so each row needs {n}", path=path, line=line
            )
    if len(rows) != n:
        raise BAODataError(
            f"covariance has {len(rows)} rows; the mean file has {n} measurements",
            path=path,
        )
    cov = np.array([
        [_number(t, path=path, line=line, what="covariance entry") for t in tokens]
        for line, tokens in rows
    ])

    scale = np.max(np.abs(cov))
    asymmetry = np.abs(cov - cov.T)
    if np.any(asymmetry > _SYMMETRY_RTOL * scale):
        i, j = np.unravel_index(np.argmax(asymmetry), cov.shape)
        raise BAODataError(
            f"covariance is not symmetric: column {j + 1} holds {cov[i, j]:g} but "
            f"line {rows[j][0]}, column {i + 1} holds {cov[j, i]:g}",
            path=path, line=rows[i][0],
        )
    problem = _covariance_problem(cov)
    if problem:
        raise BAODataError(f"covariance {problem}", path=path)
    return cov


def _from_text(mean_text: str, mean_path: str, cov_text: str, cov_path: str,
               label: str) -> BAOData:
    z, values, quantities = _parse_mean(mean_text, mean_path)
    cov = _parse_cov(cov_text, cov_path, len(z))
    return BAOData(z=z, quantities=quantities, values=values, cov=cov, label=label,
                   sources=(mean_path, cov_path))


def _covariance_candidates(mean_path: str) -> list[str]:
    """Where a covariance file sits beside ``mean_path`` in the public layouts."""
    stem, _ = os.path.splitext(mean_path)
    candidates = []
    if stem.endswith("_mean"):
        candidates.append(stem[: -len("_mean")] + "_cov.txt")
    candidates += [stem + "_covtot.txt", stem + "_cov.txt"]
    return candidates


def load_bao_files(
    mean_path: str | os.PathLike[str],
    cov_path: str | os.PathLike[str] | None = None,
    *,
    label: str | None = None,
) -> BAOData:
    """Load BAO measurements from a user's own files.

    Parameters
    ----------
    mean_path : path
        The measurements, one ``z value quantity`` a line (see the module
        docstring for the layout).
    cov_path : path, optional
        Their covariance. By default it is looked for beside ``mean_path``:
        ``X_mean.txt`` pairs with ``X_cov.txt``, ``X.dat`` with
        ``X_covtot.txt`` or ``X_cov.txt``.
    label : str, optional
        A name for reports; by default the mean file's name.

    Returns
    -------
    BAOData

    Raises
    ------
    BAODataError
        A file is missing, a line cannot be read, a quantity is unknown, or
        the covariance does not match the rows or is not symmetric positive
        definite. The message names the file and, where it can, the line.
    """
    mean_path = os.fspath(mean_path)
    if not os.path.isfile(mean_path):
        raise BAODataError("mean file not found", path=mean_path)
    if cov_path is None:
        found = [p for p in _covariance_candidates(mean_path) if os.path.isfile(p)]
        if not found:
            raise BAODataError(
                f"no covariance file found beside it; looked for "
                f"{[os.path.basename(p) for p in _covariance_candidates(mean_path)]}. "
                f"Pass cov_path=",
                path=mean_path,
            )
        cov_path = found[0]
    cov_path = os.fspath(cov_path)
    if not os.path.isfile(cov_path):
        raise BAODataError("covariance file not found", path=cov_path)

    with open(mean_path, encoding="utf-8") as handle:
        mean_text = handle.read()
    with open(cov_path, encoding="utf-8") as handle:
        cov_text = handle.read()
    if label is None:
        label = os.path.splitext(os.path.basename(mean_path))[0]
    return _from_text(mean_text, mean_path, cov_text, cov_path, label)


# ---------------------------------------------------------------------------
# The shipped releases


@dataclass(frozen=True)
class _Entry:
    release: str
    tracer: str
    mean: str
    cov: str
    # Compilations (all tracers at once, or DESI combined with eBOSS) repeat
    # measurements of the single-tracer sets, so selection leaves them out.
    compilation: bool = False


_SHIPPED: dict[str, _Entry] = {
    "desi_dr1_bgs_z0.30": _Entry(
        "desi_dr1", "bgs",
        "desi_dr1/desi_2024_gaussian_bao_BGS_BRIGHT-21.5_GCcomb_z0.1-0.4_mean.txt",
        "desi_dr1/desi_2024_gaussian_bao_BGS_BRIGHT-21.5_GCcomb_z0.1-0.4_cov.txt"),
    "desi_dr1_lrg_z0.51": _Entry(
        "desi_dr1", "lrg",
        "desi_dr1/desi_2024_gaussian_bao_LRG_GCcomb_z0.4-0.6_mean.txt",
        "desi_dr1/desi_2024_gaussian_bao_LRG_GCcomb_z0.4-0.6_cov.txt"),
    "desi_dr1_lrg_z0.71": _Entry(
        "desi_dr1", "lrg",
        "desi_dr1/desi_2024_gaussian_bao_LRG_GCcomb_z0.6-0.8_mean.txt",
        "desi_dr1/desi_2024_gaussian_bao_LRG_GCcomb_z0.6-0.8_cov.txt"),
    "desi_dr1_lrg+elg_z0.93": _Entry(
        "desi_dr1", "lrg+elg",
        "desi_dr1/desi_2024_gaussian_bao_LRG+ELG_LOPnotqso_GCcomb_z0.8-1.1_mean.txt",
        "desi_dr1/desi_2024_gaussian_bao_LRG+ELG_LOPnotqso_GCcomb_z0.8-1.1_cov.txt"),
    "desi_dr1_elg_z1.32": _Entry(
        "desi_dr1", "elg",
        "desi_dr1/desi_2024_gaussian_bao_ELG_LOPnotqso_GCcomb_z1.1-1.6_mean.txt",
        "desi_dr1/desi_2024_gaussian_bao_ELG_LOPnotqso_GCcomb_z1.1-1.6_cov.txt"),
    "desi_dr1_qso_z1.49": _Entry(
        "desi_dr1", "qso",
        "desi_dr1/desi_2024_gaussian_bao_QSO_GCcomb_z0.8-2.1_mean.txt",
        "desi_dr1/desi_2024_gaussian_bao_QSO_GCcomb_z0.8-2.1_cov.txt"),
    "desi_dr1_lya_z2.33": _Entry(
        "desi_dr1", "lya",
        "desi_dr1/desi_2024_gaussian_bao_Lya_GCcomb_mean.txt",
        "desi_dr1/desi_2024_gaussian_bao_Lya_GCcomb_cov.txt"),
    "desi_dr1_lya_eboss_z2.33": _Entry(
        "desi_dr1", "lya",
        "desi_dr1/desi_2024_eboss_gaussian_bao_Lya_GCcomb_mean.txt",
        "desi_dr1/desi_2024_eboss_gaussian_bao_Lya_GCcomb_cov.txt", compilation=True),
    "desi_dr1_all": _Entry(
        "desi_dr1", "all",
        "desi_dr1/desi_2024_gaussian_bao_ALL_GCcomb_mean.txt",
        "desi_dr1/desi_2024_gaussian_bao_ALL_GCcomb_cov.txt", compilation=True),
    "desi_dr2_bgs_z0.30": _Entry(
        "desi_dr2", "bgs",
        "desi_dr2/desi_gaussian_bao_BGS_BRIGHT-21.35_GCcomb_mean.txt",
        "desi_dr2/desi_gaussian_bao_BGS_BRIGHT-21.35_GCcomb_cov.txt"),
    "desi_dr2_lrg_z0.51": _Entry(
        "desi_dr2", "lrg",
        "desi_dr2/desi_gaussian_bao_LRG_GCcomb_z0.4-0.6_mean.txt",
        "desi_dr2/desi_gaussian_bao_LRG_GCcomb_z0.4-0.6_cov.txt"),
    "desi_dr2_lrg_z0.71": _Entry(
        "desi_dr2", "lrg",
        "desi_dr2/desi_gaussian_bao_LRG_GCcomb_z0.6-0.8_mean.txt",
        "desi_dr2/desi_gaussian_bao_LRG_GCcomb_z0.6-0.8_cov.txt"),
    "desi_dr2_lrg+elg_z0.93": _Entry(
        "desi_dr2", "lrg+elg",
        "desi_dr2/desi_gaussian_bao_LRG+ELG_LOPnotqso_GCcomb_mean.txt",
        "desi_dr2/desi_gaussian_bao_LRG+ELG_LOPnotqso_GCcomb_cov.txt"),
    "desi_dr2_elg_z1.32": _Entry(
        "desi_dr2", "elg",
        "desi_dr2/desi_gaussian_bao_ELG_LOPnotqso_GCcomb_z1.1-1.6_mean.txt",
        "desi_dr2/desi_gaussian_bao_ELG_LOPnotqso_GCcomb_z1.1-1.6_cov.txt"),
    "desi_dr2_qso_z1.48": _Entry(
        "desi_dr2", "qso",
        "desi_dr2/desi_gaussian_bao_QSO_GCcomb_mean.txt",
        "desi_dr2/desi_gaussian_bao_QSO_GCcomb_cov.txt"),
    "desi_dr2_lya_z2.33": _Entry(
        "desi_dr2", "lya",
        "desi_dr2/desi_gaussian_bao_Lya_GCcomb_mean.txt",
        "desi_dr2/desi_gaussian_bao_Lya_GCcomb_cov.txt"),
    "desi_dr2_all": _Entry(
        "desi_dr2", "all",
        "desi_dr2/desi_gaussian_bao_ALL_GCcomb_mean.txt",
        "desi_dr2/desi_gaussian_bao_ALL_GCcomb_cov.txt", compilation=True),
    "sdss_dr12_lrg": _Entry(
        "sdss_dr12", "lrg",
        "sdss/sdss_DR12_LRG_BAO_DMDH.dat",
        "sdss/sdss_DR12_LRG_BAO_DMDH_covtot.txt"),
    "sdss_dr16_lrg_z0.70": _Entry(
        "sdss_dr16", "lrg",
        "sdss/sdss_DR16_LRG_BAO_DMDH.dat",
        "sdss/sdss_DR16_LRG_BAO_DMDH_covtot.txt"),
    "sdss_dr16_qso_z1.48": _Entry(
        "sdss_dr16", "qso",
        "sdss/sdss_DR16_QSO_BAO_DMDH.txt",
        "sdss/sdss_DR16_QSO_BAO_DMDH_covtot.txt"),
}

_RELEASES = ("desi_dr1", "desi_dr2", "sdss_dr12", "sdss_dr16")


def _shipped_text(relative: str) -> str:
    return (resources.files("accord") / "data" / "bao" / relative).read_text("utf-8")


def list_bao(
    *, release: str | None = None, tracer: str | None = None
) -> tuple[str, ...]:
    """Names of the shipped BAO data sets, optionally of one release or tracer.

    Parameters
    ----------
    release : str, optional
        One of ``"desi_dr1"``, ``"desi_dr2"``, ``"sdss_dr12"``, ``"sdss_dr16"``.
    tracer : str, optional
        ``"bgs"``, ``"lrg"``, ``"lrg+elg"``, ``"elg"``, ``"qso"``, ``"lya"``
        or ``"all"`` (a release's own compilation of every tracer).

    Examples
    --------
    >>> from accord.bao import list_bao
    >>> list_bao(release="desi_dr1", tracer="lrg")
    ('desi_dr1_lrg_z0.51', 'desi_dr1_lrg_z0.71')
    """
    if release is not None and release not in _RELEASES:
        raise ValueError(f"release must be one of {list(_RELEASES)}; got {release!r}")
    tracers = sorted({entry.tracer for entry in _SHIPPED.values()})
    if tracer is not None and tracer.lower() not in tracers:
        raise ValueError(f"tracer must be one of {tracers}; got {tracer!r}")
    return tuple(
        name for name, entry in _SHIPPED.items()
        if (release is None or entry.release == release)
        and (tracer is None or entry.tracer == tracer.lower())
    )


def load_bao(*names: str) -> BAOData:
    """Load shipped BAO measurements by name; several names are combined.

    Parameters
    ----------
    *names : str
        Names from :func:`list_bao`, such as ``"sdss_dr12_lrg"`` or
        ``"desi_dr1_lrg_z0.71"``. Several are joined with :func:`combine`,
        which requires them not to overlap.

    Returns
    -------
    BAOData

    Notes
    -----
    The files and the papers they come from are listed in the README of the
    package's ``data/bao`` folder: DESI DR1 (arXiv:2404.03000, 2404.03002),
    DESI DR2 (arXiv:2503.14738), SDSS DR12 (arXiv:1607.03155) and eBOSS DR16
    (arXiv:2007.08991).

    Examples
    --------
    >>> from accord.bao import load_bao
    >>> desi = load_bao(
    ...     "desi_dr1_lrg_z0.71", "desi_dr1_lrg+elg_z0.93", "desi_dr1_elg_z1.32"
    ... )
    >>> len(desi), desi.label
    (6, 'desi_dr1_lrg_z0.71+desi_dr1_lrg+elg_z0.93+desi_dr1_elg_z1.32')
    """
    if not names:
        raise ValueError("load_bao needs at least one name; see accord.bao.list_bao()")
    datasets = []
    for name in names:
        if not isinstance(name, str) or name.lower() not in _SHIPPED:
            raise ValueError(
                f"unknown BAO data set {name!r}; shipped ones are {list(_SHIPPED)}. "
                f"Load your own files with load_bao_files(mean_path, cov_path)"
            )
        entry = _SHIPPED[name.lower()]
        datasets.append(_from_text(
            _shipped_text(entry.mean), entry.mean, _shipped_text(entry.cov), entry.cov,
            name.lower(),
        ))
    return datasets[0] if len(datasets) == 1 else combine(*datasets)


def select_bao(
    release: str,
    *,
    tracers: Sequence[str] | None = None,
    z_min: float | None = None,
    z_max: float | None = None,
) -> BAOData:
    """The measurements of one release, chosen by tracer and redshift.

    Single-tracer sets are combined; the compilations (``all``, and DESI DR1
    Lyman-alpha combined with eBOSS) are left out because they repeat them.

    Parameters
    ----------
    release : str
        ``"desi_dr1"``, ``"desi_dr2"``, ``"sdss_dr12"`` or ``"sdss_dr16"``.
    tracers : sequence of str, optional
        Tracers to keep (see :func:`list_bao`); by default all.
    z_min, z_max : float, optional
        Keep measurements with ``z_min <= z <= z_max``.

    Examples
    --------
    >>> from accord.bao import select_bao
    >>> select_bao("desi_dr1", z_min=0.6, z_max=1.4).z
    array([0.706, 0.706, 0.93 , 0.93 , 1.317, 1.317])
    """
    if isinstance(tracers, str):
        tracers = [tracers]
    for tracer in tracers or []:
        list_bao(tracer=tracer)
    wanted = None if tracers is None else {t.lower() for t in tracers}

    names = [
        name for name in list_bao(release=release)
        if not _SHIPPED[name].compilation
        and (wanted is None or _SHIPPED[name].tracer in wanted)
    ]
    kept = []
    for name in names:
        data = load_bao(name)
        inside = np.ones(len(data), dtype=bool)
        if z_min is not None:
            inside &= data.z >= z_min
        if z_max is not None:
            inside &= data.z <= z_max
        if inside.any():
            kept.append(data.select(z_min=z_min, z_max=z_max))
    if not kept:
        raise ValueError(
            f"no measurement of {release} matches tracers={tracers}, "
            f"z_min={z_min}, z_max={z_max}"
        )
    return kept[0] if len(kept) == 1 else combine(*kept)


def combine(*datasets: BAOData, label: str | None = None,
            allow_overlap: bool = False) -> BAOData:
    """Join independent BAO data sets, with a block-diagonal covariance.

    Parameters
    ----------
    *datasets : BAOData
        Data sets whose measurements are independent of each other.
    label : str, optional
        By default the labels joined with ``+``.
    allow_overlap : bool
        Two sets that measure the same quantity at the same redshift usually
        come from the same volume of sky, and their cross-covariance is not
        zero; by default that is refused. Pass True to combine them anyway.

    Returns
    -------
    BAOData
    """
    if not datasets:
        raise ValueError("combine needs at least one BAOData")
    for i, data in enumerate(datasets):
        if not isinstance(data, BAOData):
            raise TypeError(
                f"combine takes BAOData objects; argument {i} is {type(data).__name__}"
            )
    seen: dict[tuple[float, str], str] = {}
    for data in datasets:
        for z, quantity in zip(data.z, data.quantities):
            key = (round(float(z), 6), quantity)
            if key in seen and not allow_overlap:
                raise ValueError(
                    f"{data.label!r} and {seen[key]!r} both measure {quantity} at "
                    f"z = {z:g}; overlapping measurements are correlated and combine "
                    f"cannot know by how much. Choose non-overlapping sets or pass "
                    f"allow_overlap=True"
                )
            seen[key] = data.label

    return BAOData(
        z=np.concatenate([d.z for d in datasets]),
        quantities=tuple(q for d in datasets for q in d.quantities),
        values=np.concatenate([d.values for d in datasets]),
        cov=linalg.block_diag(*[d.cov for d in datasets]),
        label=label if label is not None else "+".join(d.label for d in datasets),
        sources=tuple(s for d in datasets for s in d.sources),
    )


def _as_data(data: Any, argument: str) -> BAOData:
    """Accept a BAOData, a shipped name or a sequence of shipped names."""
    if isinstance(data, BAOData):
        return data
    if isinstance(data, str):
        return load_bao(data)
    names = isinstance(data, (list, tuple)) and all(isinstance(d, str) for d in data)
    if names and data:
        return load_bao(*data)
    raise TypeError(
        f"{argument} must be a BAOData, a shipped data set name or a list of names; "
        f"got {type(data).__name__}"
    )
