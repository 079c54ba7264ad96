"""Ensembles of neural estimators of log R: training, evaluation, persistence."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import platform
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, cast

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from . import _training
from ._networks import ClassifierNet, PosteriorPairNet, Standardise, build_member
from ._training import (ClassifierLoss, MemoryRows, PosteriorLoss, Stack, StoreRows,
                        Validation, _Rows, resolve_device, train_stacks)
from ._validation import check_last_axis, check_seed
from ._version import __version__
from .exceptions import AccordWarning, FormatError
from .problem import Problem
from .simulation import Simulations, simulate
from .store import SimulationStore

__all__ = ["RatioEstimator", "TrainingSettings", "train", "load"]

logger = logging.getLogger(__name__)

FORMAT_NAME = "accord-estimator"
FORMAT_VERSION = 2
# Version 1 predates mixture posteriors; its files describe single Gaussians,
# which version 2 reads unchanged (n_components defaults to 1).
_READABLE_VERSIONS = (1, 2)
_CONFIG_FILE = "estimator.json"
_WEIGHTS_FILE = "weights.safetensors"

Method = Literal["posterior", "classifier"]

# Below this many simulations a warning says the estimate is unreliable.
_FEW_SIMULATIONS = 1000


@dataclass
class TrainingSettings:
    """Options of :func:`train` that shape the networks and their optimisation.

    Attributes
    ----------
    method : {"posterior", "classifier"}
        ``"posterior"`` (default) learns a Gaussian posterior of the shared
        parameters for each experiment and integrates their product over the
        prior in closed form; it holds when the experiments are very
        informative. ``"classifier"`` is the classifier of the paper, whose
        logit estimates log R directly.
    n_members : int
        Independently seeded networks in the ensemble.
    hidden, n_blocks, activation :
        Width, number of residual blocks and activation of the networks
        (``hidden=0`` with ``"posterior"`` keeps the least-squares posterior).
    n_components : int
        Posterior only: Gaussians in each experiment's posterior mixture. One
        (default) is exact for linear-Gaussian problems; more follow curved
        or skewed posteriors (degeneracies, prior edges), at a cost growing
        as ``n_components**2`` when evaluating log R. Needs ``hidden > 0``.
    compress : int or None
        Classifier only: features of each experiment's own compression branch.
    n_negatives : int
        Classifier only: shuffled pairs per matched pair in each batch,
        weighted ``1 / n_negatives`` so that the logit still estimates log R.
    validation_fraction, batch_size, max_epochs, patience, learning_rate :
        Optimisation: Adam, the learning rate halved after ``patience // 3``
        epochs without improvement, stopping after ``patience`` epochs without
        improvement of the validation loss and restoring the best weights.
    min_improvement : float
        A validation loss (in nats per pair) must fall by more than this to
        count as an improvement; smaller gains are noise and would keep a
        converged network training.
    device : str
        Where to train: ``"auto"`` (default: a CUDA GPU when PyTorch sees one,
        else the CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``. Results agree
        between devices up to floating-point rounding; the trained members
        are always returned on the CPU.
    threads : int or None
        PyTorch threads while training (None: leave PyTorch's setting). The
        default of one is the fastest for these small networks on a busy
        machine: several threads spinning on shared cores can slow training
        tenfold.
    """

    method: Method = "posterior"
    n_members: int = 5
    hidden: int | None = None
    n_blocks: int | None = None
    activation: str = "silu"
    n_components: int = 1
    compress: int | None = None
    n_negatives: int = 1
    validation_fraction: float = 0.2
    batch_size: int = 1000
    max_epochs: int = 500
    patience: int = 10
    learning_rate: float = 1e-3
    min_improvement: float = 1e-3
    threads: int | None = 1
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.method not in ("posterior", "classifier"):
            raise ValueError(
                f"method must be 'posterior' or 'classifier'; got {self.method!r}")
        if self.hidden is None:
            self.hidden = 64 if self.method == "posterior" else 128
        if self.n_blocks is None:
            self.n_blocks = 2 if self.method == "posterior" else 3
        checks = [
            ("n_members", self.n_members, 1), ("hidden", self.hidden, 0),
            ("n_blocks", self.n_blocks, 0), ("n_negatives", self.n_negatives, 1),
            ("batch_size", self.batch_size, 2), ("max_epochs", self.max_epochs, 0),
            ("patience", self.patience, 1), ("n_components", self.n_components, 1),
        ]
        for name, value, low in checks:
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
        if self.n_components > 1 and (self.method != "posterior" or self.hidden == 0):
            raise ValueError(f"n_components={self.n_components} needs method='posterior' "
                             f"and hidden > 0; got method={self.method!r}, "
                             f"hidden={self.hidden}")
        if self.compress is not None and (not isinstance(self.compress, int)
                                          or self.compress < 1):
            raise ValueError(f"compress must be a positive integer or None; "
                             f"got {self.compress!r}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must lie in (0, 1); "
                             f"got {self.validation_fraction!r}")
        for name in ("learning_rate", "min_improvement"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
        if self.learning_rate == 0:
            raise ValueError("learning_rate must be positive; got 0")
        if self.threads is not None and (not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ValueError(f"threads must be a positive integer or None; "
                             f"got {self.threads!r}")
        if not isinstance(self.device, str) or not re.fullmatch(
                r"auto|cpu|cuda(:\d+)?", self.device):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; "
                             f"got {self.device!r}")
        if self.activation not in ("silu", "relu", "tanh", "sigmoid"):
            raise ValueError(f"activation must be one of silu, relu, tanh, sigmoid; "
                             f"got {self.activation!r}")


@dataclass
class RatioEstimator:
    """A trained ensemble whose members each estimate log R for a data pair.

    Use :func:`train` to make one and :func:`load` to read one from disk.

    Attributes
    ----------
    members : list of torch.nn.Module
    settings : TrainingSettings
    problem_info : dict
        Parameter names, shared parameters, data lengths and the prior's
        description of the problem trained on.
    history : list of dict
        Training and validation loss per epoch, for each member.
    seed : int or None
        The seed the simulations and members were drawn from.
    """

    members: list[nn.Module]
    settings: TrainingSettings
    problem_info: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    seed: int | None = None
    n_simulations: int = 0

    @property
    def n_members(self) -> int:
        return len(self.members)

    def log_ratio(self, x_A: Any, x_B: Any, *, members: bool = False,
                  batch_size: int = 20_000) -> np.ndarray:
        """Estimated log R of data pairs.

        Parameters
        ----------
        x_A : array (*, L_A)
        x_B : array (*, L_B)
            Data of the two experiments, with matching leading shapes.
        members : bool
            Return every member's estimate, shape ``(n_members, *)``, instead
            of the ensemble mean, shape ``(*,)``.

        Returns
        -------
        log_r : array (*,) or (n_members, *)
        """
        x_A = _check_pairs("x_A", x_A, self.problem_info["length_A"])
        x_B = _check_pairs("x_B", x_B, self.problem_info["length_B"])
        batch = x_A.shape[:-1]
        if x_B.shape[:-1] != batch:
            raise ValueError(f"x_A and x_B must have the same leading shape; got "
                             f"{x_A.shape} and {x_B.shape}")
        flat_A = x_A.reshape(-1, x_A.shape[-1])
        flat_B = x_B.reshape(-1, x_B.shape[-1])
        out = np.stack([_evaluate(m, flat_A, flat_B, batch_size) for m in self.members])
        out = out.reshape((self.n_members,) + batch)
        return out if members else out.mean(axis=0)

    def max_z_score(self, x_A: Any, x_B: Any) -> tuple[float, float]:
        """Largest ``|x - mean| / std`` of each data set, in training units.

        A value far above the few sigma that Gaussian-like simulations reach
        means the data lie outside what was simulated, where no estimate of
        log R can be trusted.
        """
        x_A = _check_pairs("x_A", x_A, self.problem_info["length_A"])
        x_B = _check_pairs("x_B", x_B, self.problem_info["length_B"])
        member = self.members[0]
        norms: tuple[Standardise, Standardise]
        if isinstance(member, PosteriorPairNet):
            norms = (member.post_A.norm, member.post_B.norm)
        elif isinstance(member, ClassifierNet):
            norms = (member.norm_A, member.norm_B)
        else:
            raise TypeError(f"unknown ensemble member {type(member).__name__}")
        scores = []
        for x, norm in zip((x_A, x_B), norms):
            z = (x - norm.mean.double().numpy()) / norm.std.double().numpy()
            scores.append(float(np.max(np.abs(z))))
        return scores[0], scores[1]

    def save(self, path: str | Path) -> Path:
        """Write the ensemble to the directory ``path``.

        The weights and normalisation statistics go to ``weights.safetensors``;
        everything else (architecture, settings, training history, seeds,
        versions, the weights' checksum) to ``estimator.json``. Nothing is
        pickled, so loading a file never runs code from it.
        """
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        tensors = {f"member{i}.{name}": value.detach().cpu().contiguous()
                   for i, member in enumerate(self.members)
                   for name, value in member.state_dict().items()}
        weights = path / _WEIGHTS_FILE
        save_file(tensors, str(weights))
        description = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "accord_version": __version__,
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "weights_sha256": _sha256(weights),
            "members": [member.config for member in self.members],
            "settings": self.settings.__dict__,
            "problem": self.problem_info,
            "history": self.history,
            "seed": self.seed,
            "n_simulations": self.n_simulations,
        }
        description["description_sha256"] = _description_sha256(description)
        (path / _CONFIG_FILE).write_text(json.dumps(description, indent=1))
        return path


def _description_sha256(description: dict[str, Any]) -> str:
    """Checksum of a description's content, its own checksum excluded."""
    content = {k: v for k, v in description.items() if k != "description_sha256"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(path: str | Path) -> RatioEstimator:
    """Read an ensemble written by :meth:`RatioEstimator.save`.

    Raises
    ------
    FormatError
        If the directory lacks a file, the description is not valid JSON or of
        another format version, or the weights were truncated or edited.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    config_path, weights_path = path / _CONFIG_FILE, path / _WEIGHTS_FILE
    for required in (config_path, weights_path):
        if not required.is_file():
            raise FormatError(f"{path} is not a saved accord estimator: "
                              f"{required.name} is missing")
    try:
        description = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FormatError(f"{config_path} is not valid JSON ({error}); the file is "
                          f"truncated or was edited") from None
    if not isinstance(description, dict) or description.get("format") != FORMAT_NAME:
        raise FormatError(f"{config_path} does not describe an accord estimator")
    version = description.get("format_version")
    if version not in _READABLE_VERSIONS:
        raise FormatError(
            f"{config_path} has format version {version!r}; this accord "
            f"({__version__}) reads versions {list(_READABLE_VERSIONS)}. Retrain, or load it "
            f"with the accord version that wrote it "
            f"({description.get('accord_version', 'unknown')}).")
    recorded = description.get("description_sha256")
    if recorded is not None and recorded != _description_sha256(description):
        raise FormatError(f"{config_path} was edited after it was written (its "
                          f"checksum does not match); retrain or restore the file")
    if _sha256(weights_path) != description.get("weights_sha256"):
        raise FormatError(f"{weights_path} does not match the checksum recorded in "
                          f"{config_path}: the weights were truncated or changed")
    try:
        tensors = load_file(str(weights_path))
        settings = TrainingSettings(**description["settings"])
        members = []
        for i, config in enumerate(description["members"]):
            member = build_member(config)
            prefix = f"member{i}."
            state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            member.load_state_dict(state, strict=True)
            member.eval()
            members.append(member)
        return RatioEstimator(
            members=members, settings=settings, problem_info=description["problem"],
            history=description["history"], seed=description["seed"],
            n_simulations=description.get("n_simulations", 0))
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as error:
        raise FormatError(f"{path} could not be read as an accord estimator: "
                          f"{error}") from None


def _check_pairs(label: str, x: Any, length: int) -> np.ndarray:
    try:
        x = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{label} must be an array of numbers; "
                        f"got {type(x).__name__}") from None
    x = check_last_axis(label, x, length, what="data point")
    if x.size == 0:
        raise ValueError(f"{label} is empty (shape {x.shape})")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{label} contains NaN or infinite values")
    return x


@torch.no_grad()
def _evaluate(member: nn.Module, x_A: np.ndarray, x_B: np.ndarray,
              batch_size: int) -> np.ndarray:
    member.eval()
    dtype = next(iter(member.buffers())).dtype
    out = []
    for start in range(0, len(x_A), batch_size):
        # Copies, so that read-only inputs (memory maps, views) are accepted.
        a = torch.tensor(x_A[start:start + batch_size], dtype=dtype)
        b = torch.tensor(x_B[start:start + batch_size], dtype=dtype)
        out.append(member(a, b).double().numpy())
    log_r = np.concatenate(out)
    n_bad = int(np.sum(~np.isfinite(log_r)))
    if n_bad:
        raise FloatingPointError(
            f"the network returned {n_bad} non-finite log R values of {len(log_r)}; "
            f"the member is numerically broken for these inputs")
    return log_r


# --------------------------------------------------------------------------
# Training


def _seed_int(seed: np.random.SeedSequence) -> int:
    return int(seed.generate_state(1, np.uint64)[0] % (2**63))


def _split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    order = rng.permutation(n)
    n_val = max(1, int(round(fraction * n)))
    return order[n_val:], order[:n_val]


def _derangement_shifts(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct non-zero cyclic shifts of a batch of ``n``."""
    return rng.choice(np.arange(1, n), size=min(k, n - 1), replace=False)


def _classifier_loss(member: ClassifierNet, x_A: torch.Tensor, x_B: torch.Tensor,
                     shifts: np.ndarray) -> torch.Tensor:
    """Weighted binary cross-entropy on logits: matched pairs against shuffles.

    Each shift rolls x_B within the (already shuffled) batch, so no row is
    paired with itself; the 1/len(shifts) weight of the shuffled pairs keeps
    the optimal logit at log R for any number of them.
    """
    h_A, h_B = member.features(x_A, x_B)
    positive = member.head(h_A, h_B)
    loss = F.binary_cross_entropy_with_logits(positive, torch.ones_like(positive))
    for shift in shifts:
        negative = member.head(h_A, torch.roll(h_B, int(shift), dims=0))
        loss = loss + F.binary_cross_entropy_with_logits(
            negative, torch.zeros_like(negative)) / len(shifts)
    return loss


def problem_info(problem: Problem, length_A: int, length_B: int) -> dict[str, Any]:
    """The facts about a problem that an estimator must keep."""
    to_dict = getattr(problem.prior, "to_dict", None)
    return {
        "name": problem.name,
        "names": list(problem.names),
        "shared": list(problem.shared),
        "params_A": list(problem.params_A),
        "params_B": list(problem.params_B),
        "length_A": int(length_A),
        "length_B": int(length_B),
        "prior": to_dict() if callable(to_dict) else repr(problem.prior),
        "fingerprint": problem.fingerprint(),
    }


def _normal_coordinates(problem: Problem, theta: np.ndarray) -> np.ndarray:
    """Standard-normal coordinates of the shared parameters, ``(n, d)``."""
    prior = problem.prior
    if not callable(getattr(prior, "to_normal", None)):
        raise TypeError(
            "method='posterior' needs a prior with to_normal(theta), the map to "
            "standard-normal coordinates that every prior of accord.priors has; "
            f"{type(prior).__name__} lacks it. Use a prior of accord.priors or "
            "method='classifier'.")
    shared = set(problem.shared)
    for group in getattr(prior, "groups", (problem.names,)):
        if shared & set(group) and not set(group) <= shared:
            raise ValueError(
                f"the prior couples shared and nuisance parameters {list(group)}; "
                "method='posterior' needs a prior that factorises between the "
                "shared parameters and each experiment's nuisance parameters. "
                "Use an Independent prior with separate blocks, or "
                "method='classifier'.")
    u = np.asarray(prior.to_normal(theta), dtype=float)[:, problem.indices(problem.shared)]
    if not np.all(np.isfinite(u)):
        raise ValueError("prior.to_normal returned non-finite values for simulated "
                         "parameters; the prior's sample and to_normal disagree")
    return u


def train(
    problem: Problem,
    n_simulations: int = 100_000,
    *,
    seed: int | None = None,
    settings: TrainingSettings | None = None,
    simulations: Simulations | SimulationStore | None = None,
    progress: bool = False,
    **options: Any,
) -> RatioEstimator:
    """Simulate concordant pairs and train an ensemble that estimates log R.

    Parameters
    ----------
    problem : Problem
    n_simulations : int
        Concordant pairs to simulate (ignored when ``simulations`` is given).
    seed : int, optional
        Seeds the simulations, the splits, the batches and every member.
    settings : TrainingSettings, optional
        Network and optimisation options; or pass them as keyword ``options``
        (for example ``method="classifier"``, ``n_members=3``).
    simulations : Simulations or SimulationStore, optional
        Reuse simulations made earlier with :func:`accord.simulate` or
        :func:`accord.simulate_to_store`. A store too large to copy into
        memory comfortably (over 512 MiB) is streamed a block of chunks at a
        time.
    progress : bool
        Show progress bars.

    Returns
    -------
    RatioEstimator

    Notes
    -----
    Each member draws its own train/validation split and batch order from its
    own seed, and stops early on its validation loss with the best weights
    restored. The ``"posterior"`` method needs the shared parameters to be a
    priori independent of the nuisance parameters; its Gaussian posteriors
    are exact for linear-Gaussian problems and an approximation otherwise:
    a single Gaussian underestimates the overlap of two curved (banana-shaped)
    or prior-truncated posteriors, and so log R. ``n_components > 1`` models
    each posterior as a Gaussian mixture, whose log R is still in closed form.

    References
    ----------
    Bevins, Handley & Gessey-Jones (2024), arXiv:2407.15478.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be an accord.Problem; got {type(problem).__name__}")
    if settings is None:
        settings = TrainingSettings(**options)
    elif options:
        raise TypeError("pass either settings= or keyword options, not both")
    root = np.random.SeedSequence(check_seed(seed))
    seed_sims, seed_members = root.spawn(2)

    device = resolve_device(settings.device)
    if simulations is None:
        simulations = simulate(problem, n_simulations, seed=seed_sims, progress=progress)
    rows, lengths = _training_rows(problem, simulations, settings)
    if rows.n < 10:
        raise ValueError(f"training needs at least 10 simulations; got {rows.n}")
    if rows.n < _FEW_SIMULATIONS:
        warnings.warn(
            f"training on only {rows.n} simulations; networks trained on "
            f"fewer than {_FEW_SIMULATIONS} rarely estimate log R well. Check the "
            f"result against nested sampling or use more simulations.",
            AccordWarning, stacklevel=2)

    threads = torch.get_num_threads()
    bar = tqdm(total=settings.max_epochs, desc="train", unit="epoch",
               disable=not progress)
    try:
        if settings.threads is not None:
            torch.set_num_threads(settings.threads)
        members, histories = _train_ensemble(problem, rows, lengths, settings,
                                             seed_members, device, bar)
    finally:
        torch.set_num_threads(threads)
        bar.close()
    return RatioEstimator(members=members, settings=settings,
                          problem_info=problem_info(problem, *lengths),
                          history=histories, seed=seed, n_simulations=rows.n)


# In-memory copies of a store above this size are avoided by streaming.
_STREAM_ABOVE_BYTES = 512 * 2**20


def _training_rows(problem: Problem, simulations: Any, settings: TrainingSettings
                   ) -> tuple[_Rows, tuple[int, int]]:
    """The source of training rows, and the data lengths of A and B."""
    posterior = settings.method == "posterior"
    if posterior and not problem.shared:
        raise ValueError("the experiments share no parameter, so R = 1 exactly")
    if isinstance(simulations, SimulationStore):
        if not simulations.complete or not len(simulations):
            raise ValueError(f"the simulation store {simulations.path} is not complete "
                             f"({len(simulations)} of {simulations.n} rows); finish it "
                             f"with accord.simulate_to_store before training")
        simulations.check_problem(problem)
        lengths = (int(simulations.length_A or 0), int(simulations.length_B or 0))
        n_bytes = 8 * len(simulations) * (sum(lengths) + len(problem.names))
        if n_bytes > _STREAM_ABOVE_BYTES:
            to_normal = (lambda theta: _normal_coordinates(problem, theta)) \
                if posterior else None
            return StoreRows(simulations, to_normal), lengths
        simulations = simulations.load()
    if not isinstance(simulations, Simulations):
        raise TypeError(f"simulations must be accord Simulations or a SimulationStore; "
                        f"got {type(simulations).__name__}")
    data = {"x_A": simulations.x_A, "x_B": simulations.x_B}
    if posterior:
        data["u"] = _normal_coordinates(problem, simulations.theta)
    return MemoryRows(data), (simulations.x_A.shape[1], simulations.x_B.shape[1])


def _train_ensemble(problem: Problem, rows: _Rows, lengths: tuple[int, int],
                    settings: TrainingSettings, seed_members: np.random.SeedSequence,
                    device: torch.device, bar: Any) -> tuple[list[nn.Module], list[dict]]:
    """Build every member with its own seed and split, then train them together."""
    member_seeds = seed_members.spawn(settings.n_members)
    shared_rng = np.random.default_rng(seed_members.spawn(1)[0])
    rngs = [np.random.default_rng(s) for s in member_seeds]

    # splits: each member holds out its own validation rows
    is_validation = np.zeros((settings.n_members, rows.n), dtype=bool)
    held_out = []
    for m, rng in enumerate(rngs):
        _, val_idx = _split(rows.n, settings.validation_fraction, rng)
        held_out.append(np.sort(val_idx[:_training.MAX_VALIDATION]))
        is_validation[m, val_idx] = True
    if isinstance(rows, MemoryRows):
        validation = Validation(rows.data, np.stack(held_out))
    else:
        union = np.unique(np.concatenate(held_out))
        validation = Validation(rows.gather(union),
                                np.stack([np.searchsorted(union, i) for i in held_out]))
    init = _initialisation_rows(rows, is_validation, shared_rng)

    # members: initial weights from each member's own seed
    members: list[Any] = []
    for m, member_seed in enumerate(member_seeds):
        with torch.random.fork_rng():
            torch.manual_seed(_seed_int(member_seed))
            member = _build_member(problem, lengths, settings)
        _fit_normalisation(member, init(m))
        members.append(member)

    if settings.method == "posterior":
        stacks = [Stack([PosteriorLoss(member.post_A, "x_A") for member in members],
                        settings, device),
                  Stack([PosteriorLoss(member.post_B, "x_B") for member in members],
                        settings, device)]
        hooks: tuple[Any, Any] = (None, None)
    else:
        stacks = [Stack([ClassifierLoss(member, _classifier_loss) for member in members],
                        settings, device)]
        hooks = _negative_pairings(settings, np.random.default_rng(seed_members.spawn(1)[0]))
    train_stacks(stacks, rows, is_validation, validation, rngs, shared_rng, *hooks,
                 bar=bar)
    for stack in stacks:
        stack.finish()

    labels = ("A", "B") if settings.method == "posterior" else ("AB",)
    histories = [{label: stack.histories[m].as_dict() for label, stack in zip(labels, stacks)}
                 for m in range(settings.n_members)]
    return members, histories


def _initialisation_rows(rows: _Rows, is_validation: np.ndarray,
                         rng: np.random.Generator) -> Callable[[int], dict[str, np.ndarray]]:
    """Each member's training rows for fitting its normalisation and linear start.

    In memory these are all of its training rows; from a store, those among a
    shared random subset of the rows, so that a larger-than-memory store is
    read once.
    """
    if isinstance(rows, MemoryRows):
        return lambda m: rows.gather(np.flatnonzero(~is_validation[m]))
    subset = np.sort(rng.choice(rows.n, size=min(rows.n, _training.INIT_ROWS),
                                replace=False))
    arrays = rows.gather(subset)
    return lambda m: {key: value[~is_validation[m, subset]]
                      for key, value in arrays.items()}


def _build_member(problem: Problem, lengths: tuple[int, int],
                  settings: TrainingSettings) -> nn.Module:
    length_A, length_B = lengths
    # Set by TrainingSettings.__post_init__ when left as None.
    hidden, n_blocks = cast(int, settings.hidden), cast(int, settings.n_blocks)
    if settings.method == "posterior":
        return PosteriorPairNet(length_A, length_B, len(problem.shared),
                                hidden=hidden, n_blocks=n_blocks,
                                activation=settings.activation,
                                n_components=settings.n_components)
    return ClassifierNet(length_A, length_B, hidden=hidden,
                         n_blocks=n_blocks, activation=settings.activation,
                         compress=settings.compress)


def _fit_normalisation(member: Any, data: dict[str, np.ndarray]) -> None:
    """Fit the stored input normalisation (and a posterior's linear start)."""
    if isinstance(member, PosteriorPairNet):
        for label, net in (("A", member.post_A), ("B", member.post_B)):
            net.norm.fit(data[f"x_{label}"], f"x_{label}")
            net.initialise(data[f"x_{label}"], data["u"])
    else:
        member.norm_A.fit(data["x_A"], "x_A")
        member.norm_B.fit(data["x_B"], "x_B")


def _negative_pairings(settings: TrainingSettings, rng: np.random.Generator
                       ) -> tuple[Any, Any]:
    """Hooks that give the classifier fresh shuffled pairs every batch, and fixed
    ones for validation so that successive epochs are comparable."""
    fixed: dict[int, np.ndarray] = {}

    def before_step(stacks: list[Stack], rng: np.random.Generator, batch: int) -> None:
        for stack in stacks:
            stack.base.shifts = _derangement_shifts(batch, settings.n_negatives, rng)

    def before_validation(stacks: list[Stack], piece: int) -> None:
        if piece not in fixed:
            fixed[piece] = _derangement_shifts(piece, settings.n_negatives, rng)
        for stack in stacks:
            stack.base.shifts = fixed[piece]

    return before_step, before_validation
