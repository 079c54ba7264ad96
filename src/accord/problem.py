"""The definition of a two-experiment problem: a prior and two simulators."""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

import numpy as np

from .priors import Prior, as_rng

__all__ = ["Problem", "Simulator", "LogLikelihood"]

logger = logging.getLogger(__name__)

Simulator = Callable[[np.ndarray, np.random.Generator], np.ndarray]
LogLikelihood = Callable[[np.ndarray, np.ndarray], np.ndarray]

_N_TRIAL = 4


def _check_data(name: str, x: Any, length: int | None = None) -> np.ndarray:
    """Validate one observed data vector."""
    try:
        x = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers; got {type(x).__name__}")
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"{name} must be a non-empty vector (L,); got shape {x.shape}")
    if length is not None and x.size != length:
        raise ValueError(
            f"{name} has {x.size} values but the simulator returns {length} per row"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


class Problem:
    """Two experiments that constrain parameters of one model.

    Parameters
    ----------
    prior : Prior-like
        Any object with ``names`` (a sequence of P strings) and
        ``sample(n, rng) -> (n, P)``. The priors of :mod:`accord.priors` also
        provide the log-density and the transforms that the density-based
        estimator and the nested samplers need.
    simulate_A, simulate_B : callable
        Vectorised simulators, ``simulate_A(theta (n, P), rng) -> x_A (n, L_A)``,
        given every parameter (each picks the columns it needs).
    params_A, params_B : sequence of str, optional
        The parameters each experiment depends on; by default all of them.
        Parameters of both are *shared*; the others are nuisance parameters
        of one experiment.
    x_A_obs, x_B_obs : array (L_A,), (L_B,), optional
        The observed data.
    log_likelihood_A, log_likelihood_B : callable, optional
        ``log_likelihood_A(theta (n, P), x_A (L_A,)) -> (n,)``, for nested
        sampling. They must describe the same model as the simulators.
    exchangeable : sequence of groups, optional
        Symmetries of the model that nested sampling can use. Each group is a
        sequence of k >= 2 *components*, tuples of parameter names of equal
        length, that the prior and both likelihoods treat alike: permuting
        the components (for example the terms of a sum of exponentials,
        ``[("a1", "b1"), ("a2", "b2"), ("a3", "b3")]``) changes neither. Such
        a posterior has k! copies of each mode, which a sampler must all
        find; declared, the nested samplers sample only the ordering where
        the components' first parameters decrease, with the prior density
        multiplied by k!, which leaves every evidence unchanged. The
        simulations and estimators do not use it.
    name : str
        A label used in reports.
    check : bool
        Run the simulators on a small trial batch and check shapes, dtypes and
        finiteness (default).

    Examples
    --------
    >>> import numpy as np
    >>> from accord import Problem
    >>> from accord.priors import Independent, Uniform
    >>> prior = Independent(a=Uniform(-1, 1), b=Uniform(-1, 1))
    >>> def sim_A(theta, rng):
    ...     return theta[:, :1] + 0.1 * rng.standard_normal((len(theta), 5))
    >>> def sim_B(theta, rng):
    ...     return theta.sum(1, keepdims=True) + 0.1 * rng.standard_normal((len(theta), 4))
    >>> problem = Problem(prior, sim_A, sim_B, params_A=["a"])
    >>> problem.shared, problem.nuisance_B
    (('a',), ('b',))
    """

    def __init__(
        self,
        prior: Prior,
        simulate_A: Simulator,
        simulate_B: Simulator,
        *,
        params_A: Sequence[str] | None = None,
        params_B: Sequence[str] | None = None,
        x_A_obs: Any = None,
        x_B_obs: Any = None,
        log_likelihood_A: LogLikelihood | None = None,
        log_likelihood_B: LogLikelihood | None = None,
        exchangeable: Sequence[Sequence[Sequence[str]]] | None = None,
        name: str = "problem",
        check: bool = True,
    ) -> None:
        self.prior = prior
        self.names = self._check_prior(prior)
        self.simulate_A = self._check_callable("simulate_A", simulate_A)
        self.simulate_B = self._check_callable("simulate_B", simulate_B)
        self.params_A = self._check_params("params_A", params_A)
        self.params_B = self._check_params("params_B", params_B)
        unused = [n for n in self.names if n not in self.params_A + self.params_B]
        if unused:
            raise ValueError(
                f"parameters {unused} are in neither params_A nor params_B; "
                f"every prior parameter must belong to at least one experiment"
            )
        self.log_likelihood_A = log_likelihood_A
        self.log_likelihood_B = log_likelihood_B
        for label, fn in [("log_likelihood_A", log_likelihood_A),
                          ("log_likelihood_B", log_likelihood_B)]:
            if fn is not None:
                self._check_callable(label, fn)
        self.name = str(name)
        self.exchangeable = self._check_exchangeable(exchangeable)
        self._fingerprint: dict[str, Any] | None = None
        self.length_A: int | None = None
        self.length_B: int | None = None
        if check:
            self.length_A, self.length_B = self._trial()
        if (x_A_obs is None) != (x_B_obs is None):
            raise ValueError("give both x_A_obs and x_B_obs, or neither; an "
                             "observation is a pair of data sets")
        self.x_A_obs = None if x_A_obs is None else _check_data(
            "x_A_obs", x_A_obs, self.length_A)
        self.x_B_obs = None if x_B_obs is None else _check_data(
            "x_B_obs", x_B_obs, self.length_B)

    @staticmethod
    def _check_prior(prior: Any) -> tuple[str, ...]:
        if not callable(getattr(prior, "sample", None)):
            raise TypeError(
                f"prior must have a method sample(n, rng) -> array (n, P); "
                f"got {type(prior).__name__} without one. Use a prior of "
                f"accord.priors or add the method."
            )
        names = getattr(prior, "names", None)
        if names is None or isinstance(names, str):
            raise TypeError(
                "prior must have an attribute names: a sequence of parameter names"
            )
        names = tuple(str(n) for n in names)
        if not names or len(set(names)) != len(names):
            raise ValueError(f"prior.names must be distinct and non-empty; got {names}")
        return names

    @staticmethod
    def _check_callable(label: str, fn: Any) -> Any:
        if not callable(fn):
            raise TypeError(f"{label} must be callable; got {type(fn).__name__}")
        return fn

    def _check_params(self, label: str, params: Sequence[str] | None) -> tuple[str, ...]:
        if params is None:
            return self.names
        if isinstance(params, str):
            raise TypeError(f"{label} must be a sequence of names, not a string")
        params = tuple(params)
        unknown = [p for p in params if p not in self.names]
        if unknown or not params:
            raise ValueError(
                f"{label} must be a non-empty subset of the prior's names "
                f"{list(self.names)}; unknown: {unknown}"
            )
        return tuple(n for n in self.names if n in params)

    def _check_exchangeable(self, groups: Any
                            ) -> tuple[tuple[tuple[str, ...], ...], ...]:
        """Validate the declared symmetries (see ``exchangeable``)."""
        if groups is None:
            return ()
        accepted = ("a sequence of groups, each a sequence of at least two "
                    "components, each a tuple of parameter names of equal length, "
                    "e.g. [[('a1', 'b1'), ('a2', 'b2')]]")
        if isinstance(groups, (str, bytes)):
            raise TypeError(f"exchangeable must be {accepted}; got a string")
        try:
            if any(isinstance(group, (str, bytes)) for group in groups):
                raise TypeError
            groups = [[(component,) if isinstance(component, str) else tuple(component)
                       for component in group] for group in groups]
        except TypeError:
            raise TypeError(f"exchangeable must be {accepted}; got "
                            f"{groups!r}") from None
        checked = []
        seen: set[str] = set()
        for components in groups:
            names = [n for c in components for n in c]
            if len(components) < 2 or not all(isinstance(n, str) for n in names):
                raise ValueError(f"exchangeable must be {accepted}; got the group "
                                 f"{components!r}")
            sizes = {len(c) for c in components}
            if len(sizes) != 1 or 0 in sizes:
                raise ValueError(f"exchangeable must be {accepted}; the components of "
                                 f"{components} differ in length or are empty")
            unknown = [n for n in names if n not in self.names]
            if unknown:
                raise ValueError(f"exchangeable names parameters {unknown} that the "
                                 f"prior does not have; its names are "
                                 f"{list(self.names)}")
            repeated = sorted({n for n in names if names.count(n) > 1}
                              | (seen & set(names)))
            if repeated:
                raise ValueError(f"exchangeable uses parameters {repeated} more than "
                                 f"once; each may belong to one component of one group")
            seen.update(names)
            for position in zip(*components):
                roles = {(n in self.params_A, n in self.params_B) for n in position}
                if len(roles) != 1:
                    raise ValueError(
                        f"exchangeable parameters {list(position)} in the same place "
                        f"of their components belong to different experiments; "
                        f"permuting them would change the model")
            blocks = getattr(self.prior, "groups", None)
            if blocks is not None:
                coupled = [b for b in blocks if len(b) > 1 and set(b) & set(names)]
                if coupled:
                    raise ValueError(
                        f"exchangeable parameters must have independent "
                        f"one-dimensional priors; {list(coupled[0])} is a correlated "
                        f"block")
            self._check_same_priors(components)
            checked.append(tuple(components))
        return tuple(checked)

    def _check_same_priors(self, components: list[tuple[str, ...]]) -> None:
        """Each position of exchangeable components must have the same prior."""
        transform = getattr(self.prior, "transform", None)
        if not callable(transform):
            return
        levels = np.linspace(0.01, 0.99, 7)
        for position in range(len(components[0])):
            cube = np.full((len(levels), len(self.names)), 0.5)
            columns = self.indices([c[position] for c in components])
            cube[:, columns] = levels[:, None]
            values = np.asarray(transform(cube))[:, columns]
            if not np.allclose(values, values[:, :1], rtol=1e-12, atol=0.0):
                raise ValueError(
                    f"exchangeable parameters {[c[position] for c in components]} "
                    f"have different priors; components can be interchangeable only "
                    f"if their priors are the same")

    def _trial(self) -> tuple[int, int]:
        """Run both simulators on a few prior draws and check what they return."""
        rng = np.random.default_rng(0)
        theta = np.asarray(self.prior.sample(_N_TRIAL, rng))
        if theta.shape != (_N_TRIAL, len(self.names)):
            raise ValueError(
                f"prior.sample({_N_TRIAL}, rng) returned shape {theta.shape}; "
                f"expected ({_N_TRIAL}, {len(self.names)})"
            )
        lengths = []
        for label, fn in [("simulate_A", self.simulate_A), ("simulate_B", self.simulate_B)]:
            x = check_simulation(label, _call(label, fn, theta, rng), _N_TRIAL)
            n_bad = int(np.sum(~np.all(np.isfinite(x), axis=1)))
            if n_bad == _N_TRIAL:
                raise ValueError(
                    f"{label} returned NaN or infinite values for all {_N_TRIAL} "
                    f"trial draws from the prior; check the simulator and the prior")
            if n_bad:
                logger.warning("%s returned non-finite values for %d of %d trial "
                               "draws", label, n_bad, _N_TRIAL)
            lengths.append(x.shape[1])
        return lengths[0], lengths[1]

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the simulation model, for checks of reuse.

        The parameter names and roles, the prior's description and a probe of
        both simulators at fixed parameters and seed. Two problems with the
        same fingerprint simulate the same data; the observed data are not part
        of it, so one trained estimator serves several observations. It is
        computed once per problem: the problem is not meant to change after
        it is built.
        """
        if self._fingerprint is None:
            self._fingerprint = self._compute_fingerprint()
        return self._fingerprint

    def _compute_fingerprint(self) -> dict[str, Any]:
        to_dict = getattr(self.prior, "to_dict", None)
        rng = np.random.default_rng(12345)
        theta = np.asarray(self.prior.sample(_N_TRIAL, rng), dtype=float)
        probe = []
        for label, fn in [("simulate_A", self.simulate_A), ("simulate_B", self.simulate_B)]:
            x = check_simulation(label, _call(label, fn, theta, rng), _N_TRIAL)
            probe.append([float(np.nansum(x)), float(np.nansum(x**2))])
        return {
            "names": list(self.names),
            "params_A": list(self.params_A),
            "params_B": list(self.params_B),
            "prior": to_dict() if callable(to_dict) else repr(self.prior),
            "probe": probe,
        }

    @property
    def shared(self) -> tuple[str, ...]:
        """Parameters both experiments depend on."""
        return tuple(n for n in self.params_A if n in self.params_B)

    @property
    def nuisance_A(self) -> tuple[str, ...]:
        """Parameters only experiment A depends on."""
        return tuple(n for n in self.params_A if n not in self.params_B)

    @property
    def nuisance_B(self) -> tuple[str, ...]:
        """Parameters only experiment B depends on."""
        return tuple(n for n in self.params_B if n not in self.params_A)

    def indices(self, names: Sequence[str]) -> np.ndarray:
        """Column indices of ``names`` in ``theta``."""
        return np.array([self.names.index(n) for n in names], dtype=int)

    @property
    def has_observation(self) -> bool:
        return self.x_A_obs is not None and self.x_B_obs is not None

    def simulate_pairs(self, theta: np.ndarray, rng: np.random.Generator | int | None):
        """Simulate ``(x_A, x_B)`` for parameters ``theta (n, P)``, unchecked."""
        rng = as_rng(rng)
        rng_A, rng_B = rng.spawn(2)
        return self.simulate_A(theta, rng_A), self.simulate_B(theta, rng_B)

    def __repr__(self) -> str:
        return (
            f"Problem(name={self.name!r}, parameters={list(self.names)}, "
            f"shared={list(self.shared)}, L_A={self.length_A}, L_B={self.length_B})"
        )


def _call(label: str, fn: Callable[..., Any], theta: np.ndarray,
          rng: np.random.Generator) -> Any:
    """Call a simulator on trial parameters; name it if it fails."""
    try:
        return fn(theta, rng)
    except Exception as error:
        raise ValueError(
            f"{label} failed on a trial batch theta of shape {theta.shape} drawn from "
            f"the prior, called as {label}(theta, rng): {type(error).__name__}: "
            f"{error}") from error


def check_simulation(label: str, x: Any, n: int) -> np.ndarray:
    """Check a simulator's output for ``n`` rows and return it as float64."""
    x = np.asarray(x)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TypeError(f"{label} must return a numeric array; got dtype {x.dtype}")
    if x.ndim == 1 and n == x.shape[0]:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] != n or x.shape[1] == 0:
        raise ValueError(
            f"{label} must return an array of shape (n, L) with n = {n} rows for "
            f"theta of shape ({n}, P); got shape {x.shape}"
        )
    return x.astype(float)
