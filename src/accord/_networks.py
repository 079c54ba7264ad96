"""PyTorch modules behind the two estimators of log R.

Every module takes *raw* data and normalises it with statistics stored as
buffers, so the transform saved with the weights is the one applied at
evaluation time.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["Standardise", "ResidualMLP", "ClassifierNet", "GaussianPosteriorNet",
           "PosteriorPairNet", "build_member", "log_overlap"]

_ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def log_det_spd(matrix: torch.Tensor) -> torch.Tensor:
    """log-determinant of symmetric positive-definite ``matrix (*, d, d)``."""
    diagonal = torch.diagonal(torch.linalg.cholesky(matrix), dim1=-2, dim2=-1)
    return 2.0 * torch.log(diagonal).sum(-1)


class Standardise(nn.Module):
    """``(x - mean) / std`` with statistics held as buffers."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, dim: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim, dtype=dtype))
        self.register_buffer("std", torch.ones(dim, dtype=dtype))

    def fit(self, x: np.ndarray, label: str) -> None:
        mean, std = x.mean(axis=0), x.std(axis=0)
        constant = np.flatnonzero(~(std > 1e-12 * np.maximum(1.0, np.abs(mean))))
        if constant.size:
            raise ValueError(
                f"{label} has columns with zero variance over the training "
                f"simulations (indices {constant[:10].tolist()}"
                f"{' ...' if constant.size > 10 else ''}); they carry no information. "
                f"Remove them from the simulator output, or make them vary."
            )
        self.mean.copy_(torch.as_tensor(mean, dtype=self.mean.dtype))
        self.std.copy_(torch.as_tensor(std, dtype=self.std.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ResidualMLP(nn.Module):
    """A dense network with residual blocks: ``(*, n_in) -> (*, n_out)``."""

    def __init__(self, n_in: int, n_out: int, *, hidden: int, n_blocks: int,
                 activation: str, zero_last: bool = False) -> None:
        super().__init__()
        act = _ACTIVATIONS[activation]
        self.inp = nn.Linear(n_in, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(act(), nn.Linear(hidden, hidden), act(), nn.Linear(hidden, hidden))
            for _ in range(n_blocks)
        )
        self.act = act()
        self.out = nn.Linear(hidden, n_out)
        if zero_last:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(self.act(h))


class ClassifierNet(nn.Module):
    """Binary classifier of (x_A, x_B) pairs whose logit estimates log R.

    With ``compress`` set, each experiment's data first passes through its own
    branch that reduces it to ``compress`` features; the shared trunk sees the
    two feature vectors. This keeps long data vectors tractable.
    """

    branch_A: ResidualMLP | None
    branch_B: ResidualMLP | None

    def __init__(self, length_A: int, length_B: int, *, hidden: int = 128,
                 n_blocks: int = 3, activation: str = "silu",
                 compress: int | None = None, dtype: str = "float32") -> None:
        super().__init__()
        torch_dtype = getattr(torch, dtype)
        self.config: dict[str, Any] = dict(
            kind="classifier", length_A=length_A, length_B=length_B, hidden=hidden,
            n_blocks=n_blocks, activation=activation, compress=compress, dtype=dtype)
        self.norm_A = Standardise(length_A, torch_dtype)
        self.norm_B = Standardise(length_B, torch_dtype)
        if compress:
            self.branch_A = ResidualMLP(length_A, compress, hidden=hidden, n_blocks=1,
                                        activation=activation)
            self.branch_B = ResidualMLP(length_B, compress, hidden=hidden, n_blocks=1,
                                        activation=activation)
            n_in = 2 * compress
        else:
            self.branch_A = None
            self.branch_B = None
            n_in = length_A + length_B
        self.trunk = ResidualMLP(n_in, 1, hidden=hidden, n_blocks=n_blocks,
                                 activation=activation)
        self.to(torch_dtype)

    def features(self, x_A: torch.Tensor, x_B: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h_A, h_B = self.norm_A(x_A), self.norm_B(x_B)
        if self.branch_A is not None and self.branch_B is not None:
            h_A, h_B = self.branch_A(h_A), self.branch_B(h_B)
        return h_A, h_B

    def head(self, h_A: torch.Tensor, h_B: torch.Tensor) -> torch.Tensor:
        return self.trunk(torch.cat([h_A, h_B], dim=-1))[..., 0]

    def forward(self, x_A: torch.Tensor, x_B: torch.Tensor) -> torch.Tensor:
        return self.head(*self.features(x_A, x_B))


class GaussianPosteriorNet(nn.Module):
    r"""Amortised Gaussian (mixture) posterior of the shared parameters given one data set.

    In the prior's standard-normal coordinates ``u`` the posterior is modelled
    as :math:`\mathcal{N}(\mu(x), J(x)^{-1})` with precision
    :math:`J = I + \Lambda(x)`, :math:`\Lambda = L L^\top`. Writing the
    precision as the prior's (the identity) plus a positive semi-definite
    likelihood term keeps the product of two posteriors over the prior
    normalisable.

    The linear part is a least-squares regression of ``u`` on the normalised
    data, with the residual covariance as the first guess of the posterior
    covariance; for a linear-Gaussian problem that *is* the exact posterior.
    A residual network, initialised at zero, learns departures from it. Its
    corrections are expressed in units of the posterior width (mean) and
    relative to the first-guess factor (precision): when the data are very
    informative the posterior is orders of magnitude narrower than the prior,
    and an optimiser's step of fixed size in prior units would swamp it.

    With ``n_components = K > 1`` the posterior is a mixture
    :math:`\sum_k w_k(x) \, \mathcal{N}(\mu_k(x), J_k(x)^{-1})`, each
    component parameterised as above (so each precision is again the
    identity plus a positive semi-definite term) and the weights a softmax of
    the network's logits. Training starts from the least-squares Gaussian:
    equal weights, the same precision, and means shifted by small seeded
    offsets (in units of the posterior width) that break the symmetry
    between the components.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    width: torch.Tensor
    chol0: torch.Tensor
    lower: torch.Tensor
    offset: torch.Tensor
    mlp: ResidualMLP | None

    def __init__(self, length: int, n_params: int, *, hidden: int = 64,
                 n_blocks: int = 2, activation: str = "silu",
                 n_components: int = 1) -> None:
        super().__init__()
        if n_components > 1 and hidden <= 0:
            raise ValueError(f"a mixture of n_components={n_components} needs a network "
                             f"(hidden > 0) to learn its components; got hidden={hidden}")
        self.config: dict[str, Any] = dict(
            length=length, n_params=n_params, hidden=hidden, n_blocks=n_blocks,
            activation=activation, n_components=n_components)
        d, k = n_params, n_components
        self.n_components = k
        self.norm = Standardise(length, torch.float64)
        self.register_buffer("weight", torch.zeros(d, length, dtype=torch.float64))
        self.register_buffer("bias", torch.zeros(d, dtype=torch.float64))
        self.register_buffer("width", torch.eye(d, dtype=torch.float64))
        self.register_buffer("chol0", torch.zeros(d, d, dtype=torch.float64))
        # Maps the d(d+1)/2 free entries to a lower-triangular (d, d) matrix by
        # a product, which (unlike indexed assignment) works inside vmap.
        rows, cols = torch.tril_indices(d, d)
        lower = torch.zeros(len(rows), d * d, dtype=torch.float64)
        lower[torch.arange(len(rows)), rows * d + cols] = 1.0
        self.register_buffer("lower", lower, persistent=False)
        n_out = d + d * (d + 1) // 2
        if k > 1:
            n_out = k * (n_out + 1)
        self.mlp = (ResidualMLP(length, n_out, hidden=hidden, n_blocks=n_blocks,
                                activation=activation, zero_last=True)
                    if hidden > 0 else None)
        if k > 1:
            # Drawn after the network, so that the network's initial weights
            # do not depend on the number of components.
            self.register_buffer("offset", _OFFSET_SCALE * torch.randn(k, d))
        self.to(torch.float64)
        if self.mlp is not None:
            # Its corrections are in units of the posterior width, so single
            # precision suffices there, and halves the cost of training.
            self.mlp.to(torch.float32)

    def initialise(self, x: np.ndarray, u: np.ndarray) -> None:
        """Fit the linear part by least squares on ``x (n, L)``, ``u (n, d)``."""
        z = (x - self.norm.mean.numpy()) / self.norm.std.numpy()
        design = np.hstack([z, np.ones((len(z), 1))])
        gram = design.T @ design
        # A tiny ridge keeps the solve stable when data columns are collinear.
        gram[np.diag_indices_from(gram)] += 1e-10 * np.trace(gram) / len(gram)
        coef = np.linalg.solve(gram, design.T @ u)
        residual = u - design @ coef
        cov = np.atleast_2d(np.cov(residual, rowvar=False))
        values, vectors = np.linalg.eigh(cov)
        values = np.maximum(values, 1e-300)
        # Posterior precision minus the prior's, clipped at zero in directions
        # where the fit is no tighter than the prior.
        lam = np.clip(1.0 / values - 1.0, 0.0, None)
        d = len(values)
        chol = np.linalg.cholesky((vectors * lam) @ vectors.T
                                  + 1e-12 * (1.0 + lam.max()) * np.eye(d))
        with torch.no_grad():
            self.weight.copy_(torch.as_tensor(coef[:-1].T))
            self.bias.copy_(torch.as_tensor(coef[-1]))
            self.width.copy_(torch.as_tensor(np.linalg.cholesky(
                (vectors * values) @ vectors.T)))
            self.chol0.copy_(torch.as_tensor(chol))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-weights ``(*, K)``, means ``(*, K, d)`` and Cholesky factors
        ``L (*, K, d, d)`` of the components' Lambda."""
        z = self.norm(x)
        mean = z @ self.weight.T + self.bias
        d, k = mean.shape[-1], self.n_components
        chol = self.chol0.expand(*z.shape[:-1], -1, -1)
        if self.mlp is None:
            return torch.zeros_like(mean[..., :1]), mean[..., None, :], chol[..., None, :, :]
        out = self.mlp(z.float()).double()
        if k == 1:
            mean = mean + out[..., :d] @ self.width.T
            delta = (out[..., d:] @ self.lower).unflatten(-1, (d, d))
            chol = chol + chol @ delta
            return torch.zeros_like(mean[..., :1]), mean[..., None, :], chol[..., None, :, :]

        log_weight = torch.log_softmax(out[..., :k], dim=-1)
        out = out[..., k:].unflatten(-1, (k, -1))
        mean = mean[..., None, :] + (self.offset + out[..., :d]) @ self.width.T
        chol = chol[..., None, :, :]
        delta = (out[..., d:] @ self.lower).unflatten(-1, (d, d))
        return log_weight, mean, chol + chol @ delta

    @staticmethod
    def precision(chol: torch.Tensor) -> torch.Tensor:
        eye = torch.eye(chol.shape[-1], dtype=chol.dtype, device=chol.device)
        return eye + chol @ chol.transpose(-1, -2)

    def log_prob(self, u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Log posterior density of ``u (*, d)`` given ``x (*, L)``, shape ``(*,)``."""
        log_weight, mean, chol = self(x)
        if self.n_components == 1:
            return _gaussian_log_prob(u, mean[..., 0, :], chol[..., 0, :, :])
        return torch.logsumexp(log_weight + _gaussian_log_prob(u[..., None, :], mean, chol),
                               dim=-1)


# Initial spread of the mixture components' means, in posterior widths: enough
# to break their symmetry, small enough to start near the least-squares fit.
_OFFSET_SCALE = 0.3


def _gaussian_log_prob(u: torch.Tensor, mean: torch.Tensor, chol: torch.Tensor
                       ) -> torch.Tensor:
    """log N(u; mean, (I + L L')^-1) for ``u, mean (*, d)``, ``chol (*, d, d)``."""
    r = u - mean
    quad = (r**2).sum(-1) + ((chol.transpose(-1, -2) @ r[..., None])[..., 0] ** 2).sum(-1)
    log_det = log_det_spd(GaussianPosteriorNet.precision(chol))
    d = u.shape[-1]
    return -0.5 * quad + 0.5 * log_det - 0.5 * d * math.log(2.0 * math.pi)


def log_overlap(mean_A: torch.Tensor, chol_A: torch.Tensor, mean_B: torch.Tensor,
                chol_B: torch.Tensor) -> torch.Tensor:
    r"""log of :math:`\int N_A(u) N_B(u) / N(u; 0, I) \, du` for two Gaussians.

    Each Gaussian is given by its mean ``(*, d)`` and the Cholesky factor
    ``L (*, d, d)`` of its precision minus the identity; leading shapes
    broadcast. Returns ``(*,)``.
    """
    J_A = GaussianPosteriorNet.precision(chol_A)
    J_B = GaussianPosteriorNet.precision(chol_B)
    eye = torch.eye(J_A.shape[-1], dtype=J_A.dtype, device=J_A.device)
    J = J_A + J_B - eye
    h = (J_A @ mean_A[..., None] + J_B @ mean_B[..., None])[..., 0]

    # Gaussian integral of exp(-u'Ju/2 + h'u) against the two normalisers.
    factor = torch.linalg.cholesky(J)
    w = torch.linalg.solve_triangular(factor, h[..., None], upper=False)[..., 0]
    quad_A = (mean_A[..., None, :] @ J_A @ mean_A[..., None])[..., 0, 0]
    quad_B = (mean_B[..., None, :] @ J_B @ mean_B[..., None])[..., 0, 0]
    log_det_J = 2.0 * torch.log(torch.diagonal(factor, dim1=-2, dim2=-1)).sum(-1)
    return 0.5 * (log_det_spd(J_A) + log_det_spd(J_B) - log_det_J
                  + (w**2).sum(-1) - quad_A - quad_B)


class PosteriorPairNet(nn.Module):
    r"""log R from two amortised posteriors over the shared parameters.

    .. math::

        R = \int \frac{P_A(u \mid x_A) \, P_B(u \mid x_B)}{\pi(u)} \, du
          = \sum_{i, j} w_{A,i} \, w_{B,j} \, R_{ij} ,

    with :math:`\pi = \mathcal{N}(0, I)` in the prior's standard-normal
    coordinates, evaluated in closed form for Gaussian posteriors, or for
    mixtures of ``n_components`` Gaussians as the weighted sum of the closed
    forms :math:`R_{ij}` of every pair of components.
    """

    def __init__(self, length_A: int, length_B: int, n_params: int, *,
                 hidden: int = 64, n_blocks: int = 2, activation: str = "silu",
                 n_components: int = 1) -> None:
        super().__init__()
        self.config: dict[str, Any] = dict(
            kind="posterior", length_A=length_A, length_B=length_B, n_params=n_params,
            hidden=hidden, n_blocks=n_blocks, activation=activation,
            n_components=n_components)
        self.post_A = GaussianPosteriorNet(length_A, n_params, hidden=hidden,
                                           n_blocks=n_blocks, activation=activation,
                                           n_components=n_components)
        self.post_B = GaussianPosteriorNet(length_B, n_params, hidden=hidden,
                                           n_blocks=n_blocks, activation=activation,
                                           n_components=n_components)

    def forward(self, x_A: torch.Tensor, x_B: torch.Tensor) -> torch.Tensor:
        log_w_A, mean_A, chol_A = self.post_A(x_A)
        log_w_B, mean_B, chol_B = self.post_B(x_B)
        if mean_A.shape[-2] == mean_B.shape[-2] == 1:
            return log_overlap(mean_A[..., 0, :], chol_A[..., 0, :, :],
                               mean_B[..., 0, :], chol_B[..., 0, :, :])

        # Every pair (i, j) of components: A's along -2, B's along -1.
        log_r = log_overlap(mean_A[..., :, None, :], chol_A[..., :, None, :, :],
                            mean_B[..., None, :, :], chol_B[..., None, :, :, :])
        log_r = log_r + log_w_A[..., :, None] + log_w_B[..., None, :]
        return torch.logsumexp(log_r.flatten(-2), dim=-1)


def build_member(config: dict[str, Any]) -> nn.Module:
    """Rebuild an untrained member from its stored configuration."""
    options = {k: v for k, v in config.items() if k != "kind"}
    if config.get("kind") == "classifier":
        return ClassifierNet(**options)
    if config.get("kind") == "posterior":
        return PosteriorPairNet(**options)
    raise ValueError(f"unknown network kind {config.get('kind')!r}")
