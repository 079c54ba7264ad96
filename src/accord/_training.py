"""Training the members of an ensemble together, vectorised across members.

All members of one kind of network are stacked into one set of weights with
a leading member axis and evaluated with :func:`torch.func.vmap`, so one
optimiser step updates every member at the cost of a few batched matrix
products instead of one Python loop per member. The members stay
independent: each has its own initial weights, train/validation split,
batch order, learning-rate schedule and early stopping, and the loss is a
sum of per-member terms, so no gradient crosses between them.

Rows come from a :class:`_Rows` source: arrays in memory, or a
:class:`~accord.store.SimulationStore` read a block of chunks at a time, so
that a simulation set larger than memory still trains.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

logger = logging.getLogger(__name__)

_BETA_1, _BETA_2, _EPSILON = 0.9, 0.999, 1e-8
# ReduceLROnPlateau's default relative threshold for a better validation loss.
_SCHEDULER_THRESHOLD = 1e-4
# Validation pairs per member are capped so that their copies, held for the
# whole training, stay small for very large simulation sets.
MAX_VALIDATION = 50_000
# Rows of a store read at once while streaming, and the memory they may take.
BLOCK_ROWS = 100_000
BLOCK_BYTES = 256 * 2**20
# Training rows used to fit the normalisation and the least-squares start
# when streaming from a store.
INIT_ROWS = 100_000


def resolve_device(device: str) -> torch.device:
    """The torch device for ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but PyTorch sees no CUDA "
                         f"device here; use device='cpu' or 'auto'")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; "
                         f"got {device!r}") from None


# --------------------------------------------------------------------------
# Sources of training rows


class _Rows:
    """Rows of training data: ``x_A``, ``x_B`` and, for posteriors, ``u``."""

    n: int

    def blocks(self, rng: np.random.Generator) -> Iterator[tuple[np.ndarray,
                                                                 dict[str, np.ndarray]]]:
        """Yield ``(rows, arrays)`` covering every row once, in a random order."""
        raise NotImplementedError

    def gather(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The arrays at the given global ``rows``, in that order."""
        raise NotImplementedError


class MemoryRows(_Rows):
    def __init__(self, data: dict[str, np.ndarray]) -> None:
        self.data = data
        self.n = len(data["x_A"])

    def blocks(self, rng):
        yield np.arange(self.n), self.data

    def gather(self, rows):
        return {key: value[rows] for key, value in self.data.items()}


class StoreRows(_Rows):
    """Rows streamed from a simulation store, a block of whole chunks at a time."""

    def __init__(self, store: Any, to_normal: Callable[[np.ndarray], np.ndarray] | None
                 ) -> None:
        self.store = store
        self.to_normal = to_normal
        self.bounds = list(store.chunk_bounds)
        self.n = len(store)

    def _arrays(self, start: int, stop: int) -> dict[str, np.ndarray]:
        sims = self.store.read(start, stop)
        arrays = {"x_A": sims.x_A, "x_B": sims.x_B}
        if self.to_normal is not None:
            arrays["u"] = self.to_normal(sims.theta)
        return arrays

    def blocks(self, rng):
        # A block holds BLOCK_ROWS rows, or fewer when rows are long, so that
        # it stays near BLOCK_BYTES; at least one chunk.
        row_bytes = 8 * (self.store.length_A + self.store.length_B + len(self.store.names))
        limit = max(1, min(BLOCK_ROWS, BLOCK_BYTES // row_bytes))
        order = rng.permutation(len(self.bounds))
        group: list[tuple[int, int]] = []
        for position, index in enumerate(order):
            group.append(self.bounds[index])
            n_rows = sum(stop - start for start, stop in group)
            if n_rows >= limit or position == len(order) - 1:
                yield self._block(group, n_rows)
                group = []

    def _block(self, group: list[tuple[int, int]], n_rows: int
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The rows of several chunks, filled into one set of arrays."""
        arrays: dict[str, np.ndarray] = {}
        at = 0
        for start, stop in group:
            part = self._arrays(start, stop)
            for key, value in part.items():
                if key not in arrays:
                    arrays[key] = np.empty((n_rows,) + value.shape[1:], value.dtype)
                arrays[key][at:at + len(value)] = value
            at += stop - start
        rows = np.concatenate([np.arange(start, stop) for start, stop in group])
        return rows, arrays

    def gather(self, rows):
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        pieces: dict[str, list[np.ndarray]] = {}
        for start, stop in self.bounds:
            lo, hi = np.searchsorted(sorted_rows, [start, stop])
            if lo == hi:
                continue
            arrays = self._arrays(start, stop)
            for key, value in arrays.items():
                pieces.setdefault(key, []).append(value[sorted_rows[lo:hi] - start])
        out = {key: np.concatenate(value) for key, value in pieces.items()}
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return {key: value[inverse] for key, value in out.items()}


# --------------------------------------------------------------------------
# Stacked members


class PosteriorLoss(nn.Module):
    """Negative mean log posterior density of ``u (B, d)`` given ``x (B, L)``."""

    def __init__(self, net: Any, key: str) -> None:
        super().__init__()
        self.net = net
        self.inputs = ("u", key)
        self.dtype = torch.float64

    def forward(self, u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return -self.net.log_prob(u, x).mean()


class ClassifierLoss(nn.Module):
    """Weighted cross-entropy of matched against shifted pairs (see estimator)."""

    def __init__(self, net: Any, loss: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.net = net
        self.loss = loss
        self.inputs = ("x_A", "x_B")
        self.dtype = net.norm_A.mean.dtype
        self.shifts: np.ndarray = np.array([1])

    def forward(self, x_A: torch.Tensor, x_B: torch.Tensor) -> torch.Tensor:
        return self.loss(self.net, x_A, x_B, self.shifts)


@dataclass
class _History:
    train: list[float] = field(default_factory=list)
    validation: list[float] = field(default_factory=list)
    best_epoch: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"train": self.train, "validation": self.validation,
                "best_epoch": self.best_epoch}


class Stack:
    """Members of one network, trained together with per-member Adam and stopping.

    Adam is written out here because its step size must differ between
    members: each halves its own learning rate on a plateau of its own
    validation loss, and a stopped member must not move at all.
    """

    def __init__(self, losses: list[Any], settings: Any,
                 device: torch.device) -> None:
        self.losses = losses
        self.inputs: tuple[str, ...] = losses[0].inputs
        self.dtype: torch.dtype = losses[0].dtype
        self.settings = settings
        self.device = device
        self.n = len(losses)
        params, buffers = stack_module_state(losses)
        self.params = {k: v.detach().to(device).requires_grad_(True)
                       for k, v in params.items()}
        self.buffers = {k: v.to(device) for k, v in buffers.items()}
        self.base: Any = copy.deepcopy(losses[0]).to("meta")
        self.moments = {k: (torch.zeros_like(v), torch.zeros_like(v))
                        for k, v in self.params.items()}
        self.n_steps = 0
        self.learning_rate = torch.full((self.n,), float(settings.learning_rate),
                                        dtype=torch.float64, device=device)
        self.active = np.ones(self.n, dtype=bool)
        self.histories = [_History() for _ in range(self.n)]
        self.best_loss = np.full(self.n, np.inf)
        self.plateau_best = np.full(self.n, np.inf)
        self.plateau_epochs = np.zeros(self.n, dtype=int)
        self.best = {k: v.detach().clone() for k, v in self.params.items()}

        def member_loss(params, buffers, *inputs):
            return functional_call(self.base, (params, buffers), inputs)

        self._loss = vmap(member_loss)

    @property
    def trainable(self) -> bool:
        return bool(self.params) and self.settings.max_epochs > 0

    def loss(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-member losses ``(M,)`` of inputs with a leading member axis."""
        return self._loss(self.params, self.buffers, *(inputs[k] for k in self.inputs))

    def step(self, inputs: dict[str, torch.Tensor]) -> np.ndarray:
        """One Adam step of every active member; returns the losses ``(M,)``."""
        loss = self.loss(inputs)
        # Non-finite losses of stopped members must not poison the sum's graph
        # for the others; their steps are masked below anyway.
        total = torch.where(torch.as_tensor(self.active, device=self.device), loss,
                            torch.zeros_like(loss)).sum()
        grads = torch.autograd.grad(total, list(self.params.values()))
        self.n_steps += 1
        correction_1 = 1.0 - _BETA_1**self.n_steps
        correction_2 = 1.0 - _BETA_2**self.n_steps
        rate = self.learning_rate * torch.as_tensor(self.active, dtype=torch.float64,
                                                    device=self.device)
        with torch.no_grad():
            for (name, param), grad in zip(self.params.items(), grads):
                mean, square = self.moments[name]
                mean.mul_(_BETA_1).add_(grad, alpha=1.0 - _BETA_1)
                square.mul_(_BETA_2).addcmul_(grad, grad, value=1.0 - _BETA_2)
                denominator = (square / correction_2).sqrt_().add_(_EPSILON)
                shape = (self.n,) + (1,) * (param.dim() - 1)
                size = (rate / correction_1).to(param.dtype).view(shape)
                param.sub_(size * mean / denominator)
        return loss.detach().double().cpu().numpy()

    def end_epoch(self, epoch: int, train: np.ndarray, validation: np.ndarray) -> None:
        """Record losses, keep copies of improved members, stop the converged."""
        settings = self.settings
        improved = np.zeros(self.n, dtype=bool)
        for m in np.flatnonzero(self.active):
            history = self.histories[m]
            history.train.append(float(train[m]))
            history.validation.append(float(validation[m]))
            if not math.isfinite(validation[m]):
                logger.warning("member %d: validation loss is not finite at epoch %d; "
                               "stopping it", m, epoch)
                self.active[m] = False
                continue
            if validation[m] < self.best_loss[m] - settings.min_improvement:
                self.best_loss[m], history.best_epoch = validation[m], epoch
                improved[m] = True
            elif epoch - history.best_epoch >= settings.patience:
                self.active[m] = False
            self._plateau(int(m), float(validation[m]))
        if improved.any():
            index = torch.as_tensor(np.flatnonzero(improved), device=self.device)
            with torch.no_grad():
                for name, value in self.params.items():
                    self.best[name][index] = value[index].detach()

    def _plateau(self, m: int, loss: float) -> None:
        if loss < self.plateau_best[m] * (1.0 - _SCHEDULER_THRESHOLD):
            self.plateau_best[m], self.plateau_epochs[m] = loss, 0
            return
        self.plateau_epochs[m] += 1
        if self.plateau_epochs[m] > max(1, self.settings.patience // 3):
            self.learning_rate[m] *= 0.5
            self.plateau_epochs[m] = 0

    def start(self, validation: np.ndarray) -> None:
        """Record the untrained members' validation losses (epoch 0)."""
        for m in range(self.n):
            self.histories[m].validation.append(float(validation[m]))
        self.best_loss[:] = validation
        self.plateau_best[:] = validation

    def finish(self) -> None:
        """Copy each member's best weights back into its own module."""
        for m, module in enumerate(self.losses):
            state = {name: value[m].detach().cpu() for name, value in self.best.items()}
            missing, _ = module.load_state_dict(state, strict=False)
            if set(missing) & set(state):
                raise RuntimeError(f"weights {sorted(set(missing) & set(state))} were "
                                   f"not restored")
            module.eval()


# --------------------------------------------------------------------------
# The loop


def _as_tensors(arrays: dict[str, np.ndarray], stack: Stack) -> dict[str, torch.Tensor]:
    """Inputs of ``stack`` as tensors on its device, in each input's dtype."""
    return {key: torch.as_tensor(arrays[key],
                                 dtype=torch.float64 if key == "u" else stack.dtype,
                                 device=stack.device)
            for key in stack.inputs}


@dataclass
class Validation:
    """Each member's held-out rows: ``arrays[key][index[m]]`` for member ``m``.

    The index (M, n_val) points into ``arrays`` (all rows in memory, or the
    rows gathered once from a store), so members' validation sets are not
    copied until a piece of them is evaluated.
    """

    arrays: dict[str, np.ndarray]
    index: np.ndarray

    def pieces(self) -> list[tuple[int, int]]:
        """Near-equal pieces of the validation rows, bounding memory."""
        n_members, n_val = self.index.shape
        n_features = sum(value[0].size for value in self.arrays.values())
        width = max(2, 20_000_000 // max(1, n_features * n_members))
        bounds = np.linspace(0, n_val, -(-n_val // width) + 1).astype(int)
        return list(zip(bounds[:-1], bounds[1:]))

    def piece(self, start: int, stop: int) -> dict[str, np.ndarray]:
        rows = self.index[:, start:stop]
        return {key: value[rows] for key, value in self.arrays.items()}


@torch.no_grad()
def _validation_losses(stacks: list[Stack], validation: Validation) -> list[np.ndarray]:
    """Mean validation loss of every member."""
    n_val = validation.index.shape[1]
    totals = [np.zeros(stack.n) for stack in stacks]
    for start, stop in validation.pieces():
        part = validation.piece(start, stop)
        for stack, total in zip(stacks, totals):
            losses = stack.loss(_as_tensors(part, stack)).double().cpu().numpy()
            total += (stop - start) / n_val * losses
    return totals


def train_stacks(
    stacks: list[Stack],
    rows: _Rows,
    is_validation: np.ndarray,
    validation: Validation,
    rngs: list[np.random.Generator],
    shared_rng: np.random.Generator,
    before_step: Callable[[list[Stack], np.random.Generator, int], None] | None,
    validation_hook: Callable[[list[Stack], int], None] | None,
    bar: Any,
) -> None:
    """Train every stack's members until each has stopped or hit ``max_epochs``.

    Parameters
    ----------
    stacks : list of Stack
        Networks trained side by side on the same batches (for example the
        posteriors of A and of B).
    rows : source of the training rows
    is_validation : bool array (M, n)
        Each member's held-out rows.
    validation : Validation
        Each member's validation inputs.
    rngs : one Generator per member, for its batch order.
    shared_rng : Generator for the block order (one read of a store serves
        every member).
    """
    settings = stacks[0].settings
    shortest = min(stop - start for start, stop in validation.pieces())
    if validation_hook is not None:
        validation_hook(stacks, shortest)
    for stack, losses in zip(stacks, _validation_losses(stacks, validation)):
        stack.start(losses)
    trainable = [stack for stack in stacks if stack.trainable]
    if not trainable:
        return
    n_members = len(rngs)
    for epoch in range(1, settings.max_epochs + 1):
        sums = [np.zeros(n_members) for _ in trainable]
        n_seen = 0
        for rows_block, arrays in rows.blocks(shared_rng):
            order = [rng.permutation(np.flatnonzero(~is_validation[m, rows_block]))
                     for m, rng in enumerate(rngs)]
            n_rows = min(len(o) for o in order)
            batch = min(settings.batch_size, n_rows)
            if batch == 0:
                continue
            for start in range(0, n_rows - batch + 1, batch):
                index = np.stack([o[start:start + batch] for o in order])
                inputs = {key: value[index] for key, value in arrays.items()}
                if before_step is not None:
                    before_step(trainable, shared_rng, batch)
                for stack, total in zip(trainable, sums):
                    if stack.active.any():
                        total += batch * stack.step(_as_tensors(inputs, stack))
                n_seen += batch
        if validation_hook is not None:
            validation_hook(trainable, shortest)
        for stack, total, losses in zip(trainable, sums,
                                        _validation_losses(trainable, validation)):
            if stack.active.any():
                stack.end_epoch(epoch, total / max(1, n_seen), losses)
        n_active = sum(int(stack.active.sum()) for stack in trainable)
        best = min(float(np.min(stack.best_loss)) for stack in trainable)
        bar.update(1)
        bar.set_postfix(active=n_active, best=f"{best:.4g}", refresh=False)
        if n_active == 0:
            break
