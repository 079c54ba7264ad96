"""Run configuration of the BAO job, read from a TOML file.

A configuration file selects the two experiments, the model and its prior,
the simulation and training budget, and where the observed log R comes
from. Every key is optional; a missing one takes the default of the paper's
split (SDSS DR12 LRG against DESI DR1, as in arXiv:2407.15478). Unknown keys are
errors, so that a misspelt option never passes silently.

.. code-block:: toml

    seed = 0
    n_simulations = 50000
    n_calibration = 50000

    [data]
    A = ["sdss_dr12_lrg"]
    B = ["desi_dr1_lrg_z0.71", "desi_dr1_lrg+elg_z0.93", "desi_dr1_elg_z1.32"]

    [model]
    parameterisation = "Om_H0rd"          # or "physical"

    [model.prior]                         # any subset of the parameters
    Om = { type = "uniform", low = 0.01, high = 0.99 }

    [training]
    method = "posterior"
    members = 5

    [observed]
    source = "sampler"                    # "sampler", "numbers", "chains", "network"
    sampler = "nautilus"
    n_live = 500

Examples
--------
>>> from accord.config import parse_config
>>> config = parse_config({"seed": 3, "training": {"members": 2}})
>>> config.seed, config.training.n_members, config.data_B[0]
(3, 2, 'desi_dr1_lrg_z0.71')
>>> parse_config({"sead": 3})
Traceback (most recent call last):
...
accord.config.ConfigError: unknown key 'sead' in the configuration; accepted: data, model, n_calibration, n_simulations, name, observed, seed, training
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .estimator import TrainingSettings
from .evidence import NestedSampling
from .exceptions import AccordError

__all__ = [
    "ConfigError",
    "BAOConfig",
    "ObservedSettings",
    "load_config",
    "parse_config",
    "DEFAULT_CONFIG",
]

_TOP = ("seed", "n_simulations", "n_calibration", "name", "data", "model",
        "training", "observed")
_DATA = ("A", "B", "label_A", "label_B")
_MODEL = ("parameterisation", "prior")
_PRIOR_TYPES = {"uniform": ("low", "high"), "loguniform": ("low", "high"),
                "normal": ("loc", "scale")}
_SOURCES = ("sampler", "numbers", "chains", "network")
_OBSERVED = {
    "sampler": ("source", "sampler", "n_live", "n_repeats", "seed", "n_eff",
                "n_networks"),
    "numbers": ("source", "logR", "logR_err", "logZ_A", "logZ_A_err", "logZ_B",
                "logZ_B_err", "logZ_AB", "logZ_AB_err"),
    "chains": ("source", "root_A", "root_B", "root_AB", "n_samples"),
    "network": ("source",),
}
_TRAINING_ALIASES = {"members": "n_members"}

# Training defaults of the BAO job, chosen so that `accord run` fits in a few
# minutes on two cores: larger batches and a higher learning rate than the
# library's defaults converge in a few dozen epochs on 50 000 simulations.
# The posteriors in Om, H0rd are curved and meet the prior's edges; mixtures
# of three Gaussians cut the RMS error of log R against nested sampling on 30
# simulated pairs from 0.72 to 0.50 (bias -0.22 to 0.00 without the two pairs
# whose posteriors sit on a prior edge); more epochs alone did not help.
BAO_TRAINING = {"method": "posterior", "n_members": 5, "hidden": 64, "n_blocks": 2,
                "n_components": 3, "batch_size": 2000, "learning_rate": 3e-3,
                "max_epochs": 60, "patience": 8}


def _bao_training() -> TrainingSettings:
    return TrainingSettings(**BAO_TRAINING)

DEFAULT_CONFIG = """\
# accord run bao: SDSS DR12 LRG against DESI DR1 (the defaults, spelled out)
seed = 0
n_simulations = 50000       # concordant pairs for training
n_calibration = 50000       # fresh concordant pairs for the concordance sample

[data]
# Shipped data sets by name (python -c "import accord; print(accord.bao.list_bao())"),
# or your own files as tables { mean = "file_mean.txt", cov = "file_cov.txt" },
# paths relative to this file.
A = ["sdss_dr12_lrg"]
B = ["desi_dr1_lrg_z0.71", "desi_dr1_lrg+elg_z0.93", "desi_dr1_elg_z1.32"]

[model]
parameterisation = "Om_H0rd"   # or "physical" (omega_b, omega_c, h)

# [model.prior]                # override the default prior of any parameter
# Om = { type = "uniform", low = 0.01, high = 0.99 }
# H0rd = { type = "uniform", low = 3650.0, high = 18250.0 }

[training]                     # any field of accord.TrainingSettings
method = "posterior"           # or "classifier"
members = 5
hidden = 64
n_blocks = 2
n_components = 3               # Gaussians in each posterior mixture
batch_size = 2000
learning_rate = 3e-3
max_epochs = 60
patience = 8

[observed]
source = "sampler"             # "sampler", "numbers", "chains" or "network"
sampler = "nautilus"
n_live = 500
n_repeats = 1
# n_eff = 10000                # nautilus: stop at this effective sample size
# n_networks = 4               # nautilus: networks of its bounds
"""


class ConfigError(AccordError, ValueError):
    """A configuration file or table is malformed; the message names the key."""


@dataclass(frozen=True)
class ObservedSettings:
    """Where log R_obs comes from.

    Attributes
    ----------
    source : {"sampler", "numbers", "chains", "network"}
        ``"sampler"``: nested sampling of the problem's own likelihoods and
        prior (default). ``"numbers"``: ``logR`` and ``logR_err``, or the
        three evidences, in ``options``. ``"chains"``: nested-sampling chains
        ``root_A``, ``root_B``, ``root_AB`` read with
        :func:`accord.evidence_from_chains`. ``"network"``: the ensemble's own
        estimate for the observed data.
    sampling : NestedSampling
        The sampler and its settings, for ``source = "sampler"``.
    options : dict
        The numbers, or the chain roots and ``n_samples``.
    """

    source: str = "sampler"
    sampling: NestedSampling = field(default_factory=NestedSampling)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BAOConfig:
    """Everything that defines one ``accord run bao``.

    Attributes
    ----------
    data_A, data_B : tuple
        Shipped data-set names, or ``{"mean": path, "cov": path}`` tables.
    label_A, label_B, name : str or None
        Labels for reports; by default made from the data.
    parameterisation : str
        ``"Om_H0rd"`` or ``"physical"``.
    prior : dict
        ``{parameter: {"type": ..., ...}}`` overriding the default prior.
    seed, n_simulations, n_calibration : int
    training : TrainingSettings
    observed : ObservedSettings
    """

    data_A: tuple[Any, ...] = ("sdss_dr12_lrg",)
    data_B: tuple[Any, ...] = ("desi_dr1_lrg_z0.71", "desi_dr1_lrg+elg_z0.93",
                               "desi_dr1_elg_z1.32")
    label_A: str | None = None
    label_B: str | None = None
    name: str | None = None
    parameterisation: str = "Om_H0rd"
    prior: dict[str, dict[str, Any]] = field(default_factory=dict)
    seed: int = 0
    n_simulations: int = 50_000
    n_calibration: int = 50_000
    training: TrainingSettings = field(default_factory=_bao_training)
    observed: ObservedSettings = field(default_factory=ObservedSettings)

    def replace(self, **changes: Any) -> BAOConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description, for manifests and reports."""
        out = dataclasses.asdict(self)
        out["data_A"], out["data_B"] = list(self.data_A), list(self.data_B)
        return out


def _check_keys(table: Any, accepted: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table; got {type(table).__name__}")
    for key in table:
        if key not in accepted:
            place = f" in [{where}]" if where != "the configuration" else \
                " in the configuration"
            raise ConfigError(f"unknown key {key!r}{place}; accepted: "
                              f"{', '.join(sorted(accepted))}")
    return dict(table)


def _integer(value: Any, key: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{key} must be an integer >= {minimum}; got {value!r}")
    return value


def _datasets(value: Any, key: str, base: Path | None) -> tuple[Any, ...]:
    items = [value] if isinstance(value, (str, Mapping)) else value
    if not isinstance(items, list) or not items:
        raise ConfigError(f"data.{key} must be a data-set name or a non-empty list of "
                          f"names and {{mean, cov}} tables; got {value!r}")
    out: list[Any] = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
            continue
        table = _check_keys(item, ("mean", "cov", "label"), f"data.{key}")
        if "mean" not in table:
            raise ConfigError(f"a file entry of data.{key} needs 'mean' (the path of "
                              f"the measurements); got {dict(item)!r}")
        for path_key in ("mean", "cov"):
            if path_key in table:
                path = Path(os.path.expanduser(str(table[path_key])))
                if base is not None and not path.is_absolute():
                    path = base / path
                table[path_key] = str(path)
        out.append(table)
    return tuple(out)


def _prior(value: Any) -> dict[str, dict[str, Any]]:
    table = _check_keys(value, tuple(value) if isinstance(value, Mapping) else (),
                        "model.prior")
    out = {}
    for name, spec in table.items():
        where = f"model.prior.{name}"
        if not isinstance(spec, Mapping) or spec.get("type") not in _PRIOR_TYPES:
            raise ConfigError(
                f"{where} must be a table with type one of {sorted(_PRIOR_TYPES)}; "
                f"got {spec!r}")
        needed = _PRIOR_TYPES[spec["type"]]
        spec = _check_keys(spec, ("type",) + needed, where)
        missing = [k for k in needed if k not in spec]
        if missing:
            raise ConfigError(f"{where} of type {spec['type']!r} needs {missing}")
        for k in needed:
            if isinstance(spec[k], bool) or not isinstance(spec[k], (int, float)):
                raise ConfigError(f"{where}.{k} must be a number; got {spec[k]!r}")
        out[str(name)] = dict(spec)
    return out


def _training(value: Any) -> TrainingSettings:
    fields = tuple(f.name for f in dataclasses.fields(TrainingSettings))
    table = _check_keys(value, fields + tuple(_TRAINING_ALIASES), "training")
    options = {_TRAINING_ALIASES.get(k, k): v for k, v in table.items()}
    if options.get("method", "posterior") != "posterior":
        # The BAO sizes suit the posterior networks; a classifier starts from
        # the library's own defaults.
        base = {"n_members": BAO_TRAINING["n_members"]}
    else:
        base = dict(BAO_TRAINING)
    try:
        return TrainingSettings(**{**base, **options})
    except (TypeError, ValueError) as error:
        raise ConfigError(f"[training]: {error}") from None


def _observed(value: Any, base: Path | None) -> ObservedSettings:
    if not isinstance(value, Mapping):
        raise ConfigError(f"observed must be a table; got {type(value).__name__}")
    source = value.get("source", "sampler")
    if source not in _SOURCES:
        raise ConfigError(f"observed.source must be one of {list(_SOURCES)}; "
                          f"got {source!r}")
    table = _check_keys(value, _OBSERVED[source], f"observed (source {source!r})")
    table.pop("source", None)
    if source == "sampler":
        from ._sampler import SAMPLERS

        sampler = table.get("sampler", "nautilus")
        if sampler not in SAMPLERS:
            raise ConfigError(f"observed.sampler must be one of {list(SAMPLERS)}; "
                              f"got {sampler!r}")
        optional = {}
        for key, minimum in [("seed", 0), ("n_eff", 1), ("n_networks", 1)]:
            if key in table:
                optional[key] = _integer(table[key], f"observed.{key}", minimum)
        if sampler != "nautilus" and ("n_eff" in optional or "n_networks" in optional):
            raise ConfigError("observed.n_eff and observed.n_networks are options of "
                              "the nautilus sampler only")
        return ObservedSettings(source=source, sampling=NestedSampling(
            sampler=sampler,
            n_live=_integer(table.get("n_live", 500), "observed.n_live", 10),
            n_repeats=_integer(table.get("n_repeats", 1), "observed.n_repeats", 1),
            **optional))
    if source == "numbers":
        for key, number in table.items():
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise ConfigError(f"observed.{key} must be a number; got {number!r}")
    if source == "chains":
        for key in ("root_A", "root_B", "root_AB"):
            if key not in table:
                raise ConfigError(f"observed.source = 'chains' needs {key}, the file "
                                  f"root of that run's chains")
            path = Path(os.path.expanduser(str(table[key])))
            if base is not None and not path.is_absolute():
                path = base / path
            table[key] = str(path)
        if "n_samples" in table:
            _integer(table["n_samples"], "observed.n_samples", 2)
    return ObservedSettings(source=source, options=table)


def parse_config(table: Mapping[str, Any], *, base: str | os.PathLike[str] | None = None
                 ) -> BAOConfig:
    """Validate a configuration table (the parsed TOML) into a :class:`BAOConfig`.

    Parameters
    ----------
    table : mapping
        As :func:`tomllib.load` returns it.
    base : path, optional
        Directory against which relative file paths are resolved (the
        configuration file's own directory).

    Raises
    ------
    ConfigError
        An unknown key (the message lists the accepted ones) or a bad value.
    """
    base_path = None if base is None else Path(base)
    table = _check_keys(table, _TOP, "the configuration")
    config = BAOConfig()
    changes: dict[str, Any] = {}
    for key in ("seed", "n_simulations", "n_calibration"):
        if key in table:
            minimum = {"seed": 0, "n_simulations": 10, "n_calibration": 100}[key]
            changes[key] = _integer(table[key], key, minimum)
    if "name" in table:
        changes["name"] = str(table["name"])

    data = _check_keys(table.get("data", {}), _DATA, "data")
    for key in ("A", "B"):
        if key in data:
            changes[f"data_{key}"] = _datasets(data[key], key, base_path)
    for key in ("label_A", "label_B"):
        if key in data:
            changes[key] = str(data[key])

    model = _check_keys(table.get("model", {}), _MODEL, "model")
    if "parameterisation" in model:
        from .bao.cosmology import PARAMETERISATIONS

        if model["parameterisation"] not in PARAMETERISATIONS:
            raise ConfigError(f"model.parameterisation must be one of "
                              f"{list(PARAMETERISATIONS)}; got "
                              f"{model['parameterisation']!r}")
        changes["parameterisation"] = model["parameterisation"]
    if "prior" in model:
        changes["prior"] = _prior(model["prior"])

    if "training" in table:
        changes["training"] = _training(table["training"])
    if "observed" in table:
        changes["observed"] = _observed(table["observed"], base_path)
    return config.replace(**changes)


def load_config(path: str | os.PathLike[str]) -> BAOConfig:
    """Read and validate a TOML configuration file.

    Raises
    ------
    ConfigError
        The file is missing, is not valid TOML, or has a bad key or value; the
        message names the file.
    """
    path = Path(path)
    try:
        with path.open("rb") as stream:
            table = tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    try:
        return parse_config(table, base=path.resolve().parent)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
