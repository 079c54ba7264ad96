"""Prior distributions shared by the simulations and the nested samplers.

One prior object serves every stage of a calibration: it draws the parameters
of the concordant simulations, and its unit-cube transform drives the nested
samplers. Because the evidence ratio depends on the prior, sharing one object
is what keeps the calibration and log R_obs consistent.

Every prior also maps parameters to *standard-normal coordinates* ``u``, in
which the prior is :math:`\\mathcal{N}(0, I)`. The evidence ratio is invariant
under reparameterisation, so the density-based estimator of
:mod:`accord.estimators` works in those coordinates.

Examples
--------
>>> import numpy as np
>>> from accord.priors import Independent, Uniform, Normal
>>> prior = Independent(A=Uniform(0.0, 4.0), nu0=Normal(78.0, 5.0))
>>> prior.names
('A', 'nu0')
>>> prior.sample(3, np.random.default_rng(0)).shape
(3, 2)
>>> prior.transform(np.array([0.5, 0.5]))
array([ 2., 78.])
"""

from __future__ import annotations

import abc
from typing import Any, Sequence

import numpy as np
from scipy import special

from ._validation import check_last_axis as _check_last_axis

__all__ = [
    "Prior",
    "Uniform",
    "LogUniform",
    "Normal",
    "MultivariateNormal",
    "Independent",
    "as_rng",
    "prior_from_dict",
]

_LOG_2PI = float(np.log(2.0 * np.pi))


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Return a numpy Generator from a Generator, an integer seed or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng must be a numpy.random.Generator, an integer seed or None; "
        f"got {type(rng).__name__}"
    )


class Prior(abc.ABC):
    """A prior over named parameters.

    Subclasses provide the standard-normal map (:meth:`to_normal`,
    :meth:`from_normal`) and the log-density; sampling and the unit-cube
    transform follow from them.
    """

    names: tuple[str, ...]

    @property
    def dim(self) -> int:
        """Number of parameters, P."""
        return len(self.names)

    @abc.abstractmethod
    def from_normal(self, u: np.ndarray) -> np.ndarray:
        """Map standard-normal coordinates ``u (*, P)`` to parameters ``(*, P)``."""

    @abc.abstractmethod
    def to_normal(self, theta: np.ndarray) -> np.ndarray:
        """Map parameters ``theta (*, P)`` to standard-normal coordinates."""

    @abc.abstractmethod
    def log_prob(self, theta: np.ndarray) -> np.ndarray:
        """Log prior density of ``theta (*, P)``, shape ``(*,)``; -inf outside."""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description, inverse of :func:`prior_from_dict`."""

    @property
    def groups(self) -> tuple[tuple[str, ...], ...]:
        """Groups of parameters that are a priori dependent on each other."""
        return (self.names,)

    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Draw ``n`` parameter vectors, shape ``(n, P)``."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be a non-negative integer; got {n!r}")
        u = as_rng(rng).standard_normal((int(n), self.dim))
        return self.from_normal(u)

    def transform(self, cube: np.ndarray) -> np.ndarray:
        """Map points of the unit hypercube ``(*, P)`` to parameters ``(*, P)``.

        This is the prior transform that nested samplers expect.
        """
        cube = _check_last_axis("cube", cube, self.dim)
        return self.from_normal(special.ndtri(cube))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()})"


class _Univariate(Prior):
    """A one-dimensional prior, named so that it can join an :class:`Independent`."""

    def __init__(self, name: str | None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty string or None; got {name!r}")
        self.name = name
        self.names = (name if name is not None else "theta",)

    def renamed(self, name: str) -> _Univariate:
        """A copy of this prior with another parameter name."""
        description = self.to_dict()
        description["name"] = name
        prior = prior_from_dict(description)
        assert isinstance(prior, _Univariate)
        return prior


class Uniform(_Univariate):
    """Uniform prior on ``[low, high]``."""

    def __init__(self, low: float, high: float, *, name: str | None = None) -> None:
        super().__init__(name)
        low, high = float(low), float(high)
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(
                f"Uniform needs finite low < high; got low={low}, high={high}"
            )
        self.low, self.high = low, high

    def from_normal(self, u: np.ndarray) -> np.ndarray:
        u = _check_last_axis("u", u, 1)
        return self.low + (self.high - self.low) * special.ndtr(u)

    def to_normal(self, theta: np.ndarray) -> np.ndarray:
        theta = _check_last_axis("theta", theta, 1)
        return special.ndtri((theta - self.low) / (self.high - self.low))

    def log_prob(self, theta: np.ndarray) -> np.ndarray:
        theta = _check_last_axis("theta", theta, 1)[..., 0]
        inside = (theta >= self.low) & (theta <= self.high)
        return np.where(inside, -np.log(self.high - self.low), -np.inf)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Uniform", "low": self.low, "high": self.high, "name": self.name}


class LogUniform(_Univariate):
    """Prior uniform in ``log(theta)`` on ``[low, high]``, with ``0 < low``."""

    def __init__(self, low: float, high: float, *, name: str | None = None) -> None:
        super().__init__(name)
        low, high = float(low), float(high)
        if not (np.isfinite(high) and 0.0 < low < high):
            raise ValueError(
                f"LogUniform needs 0 < low < high < inf; got low={low}, high={high}"
            )
        self.low, self.high = low, high
        self._log_low, self._log_width = np.log(low), np.log(high / low)

    def from_normal(self, u: np.ndarray) -> np.ndarray:
        u = _check_last_axis("u", u, 1)
        return np.exp(self._log_low + self._log_width * special.ndtr(u))

    def to_normal(self, theta: np.ndarray) -> np.ndarray:
        theta = _check_last_axis("theta", theta, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return special.ndtri((np.log(theta) - self._log_low) / self._log_width)

    def log_prob(self, theta: np.ndarray) -> np.ndarray:
        theta = _check_last_axis("theta", theta, 1)[..., 0]
        inside = (theta >= self.low) & (theta <= self.high)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_density = -np.log(theta) - np.log(self._log_width)
        return np.where(inside, log_density, -np.inf)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "LogUniform", "low": self.low, "high": self.high, "name": self.name
        }


class Normal(_Univariate):
    """Normal prior with mean ``loc`` and standard deviation ``scale``."""

    def __init__(self, loc: float, scale: float, *, name: str | None = None) -> None:
        super().__init__(name)
        loc, scale = float(loc), float(scale)
        if not (np.isfinite(loc) and np.isfinite(scale) and scale > 0.0):
            raise ValueError(
                f"Normal needs a finite loc and scale > 0; got loc={loc}, scale={scale}"
            )
        self.loc, self.scale = loc, scale

    def from_normal(self, u: np.ndarray) -> np.ndarray:
        return self.loc + self.scale * _check_last_axis("u", u, 1)

    def to_normal(self, theta: np.ndarray) -> np.ndarray:
        return (_check_last_axis("theta", theta, 1) - self.loc) / self.scale

    def log_prob(self, theta: np.ndarray) -> np.ndarray:
        z = self.to_normal(theta)[..., 0]
        return -0.5 * z**2 - np.log(self.scale) - 0.5 * _LOG_2PI

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Normal", "loc": self.loc, "scale": self.scale, "name": self.name}


class MultivariateNormal(Prior):
    """Correlated normal prior with ``mean (P,)`` and covariance ``cov (P, P)``.

    The standard-normal coordinates are ``u = L^{-1} (theta - mean)`` with
    ``L`` the lower Cholesky factor of ``cov``.
    """

    def __init__(
        self, mean: Any, cov: Any, *, names: Sequence[str] | None = None
    ) -> None:
        mean_ = np.asarray(mean, dtype=float)
        if mean_.ndim != 1 or mean_.size == 0 or not np.all(np.isfinite(mean_)):
            raise ValueError(
                f"mean must be a finite vector of shape (P,); got shape {mean_.shape}"
            )
        p = mean_.size
        cov = np.asarray(cov, dtype=float)
        if cov.ndim == 0:
            cov = float(cov) * np.eye(p)
        if cov.shape != (p, p) or not np.all(np.isfinite(cov)):
            raise ValueError(
                f"cov must be a finite matrix of shape ({p}, {p}) or a scalar; "
                f"got shape {cov.shape}"
            )
        if not np.allclose(cov, cov.T, rtol=1e-10, atol=0.0):
            raise ValueError("cov must be symmetric")
        try:
            self._chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise ValueError("cov must be positive definite") from None
        if names is None:
            names = [f"theta_{i}" for i in range(p)]
        names = tuple(names)
        if len(names) != p or len(set(names)) != p:
            raise ValueError(f"names must be {p} distinct strings; got {names!r}")
        self.mean, self.cov, self.names = mean_, cov, names
        self._log_det = 2.0 * np.sum(np.log(np.diag(self._chol)))

    def from_normal(self, u: np.ndarray) -> np.ndarray:
        u = _check_last_axis("u", u, self.dim)
        return self.mean + u @ self._chol.T

    def to_normal(self, theta: np.ndarray) -> np.ndarray:
        theta = _check_last_axis("theta", theta, self.dim)
        shape = theta.shape
        flat = (theta - self.mean).reshape(-1, self.dim)
        u = np.linalg.solve(self._chol, flat.T).T
        return u.reshape(shape)

    def log_prob(self, theta: np.ndarray) -> np.ndarray:
        u = self.to_normal(theta)
        return -0.5 * np.sum(u**2, axis=-1) - 0.5 * self._log_det - 0.5 * self.dim * _LOG_2PI

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "MultivariateNormal",
            "mean": self.mean.tolist(),
            "cov": self.cov.tolist(),
            "names": list(self.names),
        }


class Independent(Prior):
    """Product of independent priors over disjoint sets of named parameters.

    Parameters
    ----------
    *components : Prior
        Priors whose parameter names are already set.
    **named : Prior
        One-dimensional priors, named by their keyword.

    Examples
    --------
    >>> from accord.priors import Independent, Uniform, LogUniform
    >>> prior = Independent(A=Uniform(0, 4), sigma=LogUniform(1e-3, 0.1))
    >>> prior.names
    ('A', 'sigma')
    """

    def __init__(self, *components: Prior, **named: Prior) -> None:
        parts: list[Prior] = []
        for component in components:
            if not isinstance(component, Prior):
                raise TypeError(
                    f"components of Independent must be Prior objects; "
                    f"got {type(component).__name__}"
                )
            if isinstance(component, _Univariate) and component.name is None:
                raise ValueError(
                    "a one-dimensional component of Independent needs a name: pass "
                    "it as a keyword, Independent(A=Uniform(0, 4)), or set name='A'"
                )
            parts.append(component)
        for name, component in named.items():
            if not isinstance(component, _Univariate):
                raise TypeError(
                    f"keyword {name}= of Independent must be a one-dimensional prior "
                    f"(Uniform, LogUniform, Normal); got {type(component).__name__}"
                )
            parts.append(component.renamed(name))
        if not parts:
            raise ValueError("Independent needs at least one component prior")
        names = tuple(n for part in parts for n in part.names)
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"parameter names must be unique; repeated: {duplicates}")
        self.components = tuple(parts)
        self.names = names
        self._slices = []
        start = 0
        for part in parts:
            self._slices.append(slice(start, start + part.dim))
            start += part.dim

    @property
    def groups(self) -> tuple[tuple[str, ...], ...]:
        return tuple(group for part in self.components for group in part.groups)

    def _map(self, method: str, values: np.ndarray, label: str) -> np.ndarray:
        values = _check_last_axis(label, values, self.dim)
        out = np.empty_like(values)
        for part, cut in zip(self.components, self._slices):
            out[..., cut] = getattr(part, method)(values[..., cut])
        return out

    def from_normal(self, u: np.ndarray) -> np.ndarray:
        return self._map("from_normal", u, "u")

    def to_normal(self, theta: np.ndarray) -> np.ndarray:
        return self._map("to_normal", theta, "theta")

    def log_prob(self, theta: np.ndarray) -> np.ndarray:
        theta = _check_last_axis("theta", theta, self.dim)
        total = np.zeros(theta.shape[:-1])
        for part, cut in zip(self.components, self._slices):
            total = total + part.log_prob(theta[..., cut])
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "Independent",
            "components": [part.to_dict() for part in self.components],
        }


_TYPES: dict[str, Any] = {
    "Uniform": lambda d: Uniform(d["low"], d["high"], name=d.get("name")),
    "LogUniform": lambda d: LogUniform(d["low"], d["high"], name=d.get("name")),
    "Normal": lambda d: Normal(d["loc"], d["scale"], name=d.get("name")),
    "MultivariateNormal": lambda d: MultivariateNormal(
        d["mean"], d["cov"], names=d["names"]
    ),
    "Independent": lambda d: Independent(
        *[prior_from_dict(c) for c in d["components"]]
    ),
}


def prior_from_dict(description: dict[str, Any]) -> Prior:
    """Rebuild a prior from the output of :meth:`Prior.to_dict`."""
    kind = description.get("type") if isinstance(description, dict) else None
    if kind not in _TYPES:
        raise ValueError(
            f"unknown prior description {description!r}; expected a dict whose "
            f"'type' is one of {sorted(_TYPES)}"
        )
    return _TYPES[kind](description)
