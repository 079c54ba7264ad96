"""The network's log R against nested sampling on simulated concordant pairs.

Covers both examples of the paper, chosen with ``--example``: the
two-radiometer 21-cm problem (``accord.examples.cm21_problem``, the default)
and the bump hunt (``accord.examples.bump_problem``). On the 21-cm problem
the estimator is known to be far off on the three observed pairs. T depends
on the estimator through its concordance distribution, i.e. through its
log R on pairs drawn from the prior, so that is where it has to be accurate.
This benchmark measures it there:

1. draw ``--n-pairs`` concordant pairs (theta from the prior, both data sets
   from the same theta), each from its own seed, disjoint from the training
   and calibration streams of ``--seed``;
2. compute their log R by nested sampling (nautilus) on the same prior and
   likelihoods, cached pair by pair in ``--cache`` so that reruns and
   estimator variants reuse them;
3. train the ensemble (or load it from the cache) and compare its log R with
   the nested-sampling values: bias, RMS, fractions within 0.5 and 1 nat,
   correlation of the error with log R, the worst pairs with their
   parameters, ensemble spread, sampler error;
4. 21 cm: do the same for the three observed pairs against the published
   PolyChord runs, and calibrate both log R_obs (PolyChord's and the
   network's) on the network's concordance distribution, next to the
   paper's T; bump: compare the network's log R for the shipped observed
   pair with nautilus's, run with the job's settings and cached too;
5. 21 cm, posterior method: check each experiment's learned Gaussian
   posterior on fresh simulations (its standardised residual should follow
   chi-squared with one degree of freedom per shared parameter) and on the
   observed spectra, and say where the observations sit in the prior.

The defaults follow each example: 21 cm trains on 50 000 simulations and
samples with n_live 500, n_eff 3000; the bump hunt uses the settings of
``accord run bump`` (:func:`accord.examples.job.run_bump`: two members,
20 000 simulations, nautilus as :data:`~accord.examples.job.BUMP_SAMPLING`).
Both sample with one network per nautilus bound. Give each example its own
``--cache``; the cached settings name the example, so a cache of the other
one is refused rather than mixed in.

    python benchmarks/cm21_accuracy.py --cache cm21_cache --n-pairs 24
    python benchmarks/cm21_accuracy.py --cache cm21_cache --sampling-only
    python benchmarks/cm21_accuracy.py --cache cm21_cache \
        --training '{"hidden": 128, "max_epochs": 1000}'
    python benchmarks/cm21_accuracy.py --example bump --cache bump_cache --n-pairs 8

Nested sampling takes about 40 s per 21-cm pair (n_live 500, n_eff 3000) on
one core and 90-150 s per bump pair on two, but several times longer for a
bump pair whose excess is narrower than a mass bin (s about 0.2 GeV); training
50 000 21-cm simulations with two members takes a few minutes, 20 000 bump
simulations under one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

import accord
from accord import Problem
from accord._networks import GaussianPosteriorNet, PosteriorPairNet
from accord.evidence import evidence_from_chains, run_nested_sampling
from accord.examples import bump_problem, cm21_problem
from accord.examples.bump import MASSES, Collider
from accord.examples.bump import TRUTH as TRUTH_BUMP
from accord.examples.cm21 import AMPLITUDES_B, FREQUENCIES_A, FREQUENCIES_B, TRUTH
from accord.examples.job import BUMP_SAMPLING

CHAINS = Path(accord.__file__).parent / "data" / "cm21" / "polychord"
PAPER_T = {0.15: 2.15, 0.2: 0.51, 0.25: 2.99}
SHARED = ("A", "nu0", "w")

EXAMPLES = ("21cm", "bump")
# Defaults of each example where the command line gives none: the 21-cm
# benchmark's own, and for the bump hunt those of ``accord run bump``.
DEFAULTS: dict[str, dict[str, Any]] = {
    "21cm": {"n_simulations": 50_000, "n_live": 500, "n_eff": 3000, "n_networks": 1},
    "bump": {"n_simulations": 20_000, "n_live": BUMP_SAMPLING.n_live,
             "n_eff": BUMP_SAMPLING.n_eff, "n_networks": BUMP_SAMPLING.n_networks},
}
# The bump hunt's observed pair by the job (``accord run bump``, seed 0), for
# reference in the printout.
JOB_BUMP = {"logR_nautilus": 4.24, "logR_nautilus_err": 0.05, "logR_network": 2.03}
# Parameters shown per pair for the bump hunt (of 17): the shared mass and
# each experiment's excess.
BUMP_SHOWN = ("mu", "amp_A", "s_A", "amp_B", "s_B")

# Spawn key of the benchmark pairs: training uses keys 0 and 1 of the seed and
# calibration key 7, so no benchmark pair is ever a training simulation.
_PAIR_KEY = 99


# --------------------------------------------------------------------------
# Nested-sampling references, cached


def example_problem(example: str) -> Problem:
    """The problem of ``example``: 21 cm with B at 0.2 K, or the bump hunt."""
    return cm21_problem(0.2) if example == "21cm" else bump_problem()


def with_example(settings: dict[str, Any], example: str) -> dict[str, Any]:
    """``settings`` naming the example, so that no cache serves both.

    The 21-cm settings carry no name, as before the bump hunt was added, so
    that its existing caches stay valid; every other example's do.
    """
    return settings if example == "21cm" else {"example": example, **settings}


def pair_problem(problem: Problem, x_A: np.ndarray, x_B: np.ndarray, name: str) -> Problem:
    """The same model, prior and symmetries, with simulated data as the observation.

    The declared exchangeable components (the bump hunt's background terms)
    carry over, so that nautilus samples one ordering of them, as for the
    observed pair.
    """
    return Problem(problem.prior, problem.simulate_A, problem.simulate_B,
                   params_A=problem.params_A, params_B=problem.params_B,
                   x_A_obs=x_A, x_B_obs=x_B, log_likelihood_A=problem.log_likelihood_A,
                   log_likelihood_B=problem.log_likelihood_B,
                   exchangeable=problem.exchangeable, name=name, check=False)


def draw_pair(problem: Problem, seed: int, index: int) -> accord.Simulations:
    """Pair ``index`` from its own seed, so it does not depend on ``--n-pairs``."""
    sequence = np.random.SeedSequence(seed, spawn_key=(_PAIR_KEY, index))
    return accord.simulate(problem, 1, seed=sequence, executor="serial")


def read_cache(path: Path, settings: dict[str, Any]) -> dict[int, dict[str, Any]]:
    if not path.is_file():
        return {}
    stored = json.loads(path.read_text())
    if stored.get("settings") != settings:
        raise SystemExit(f"{path} was made with {stored.get('settings')}, not "
                         f"{settings}; use another --cache")
    return {int(row["index"]): row for row in stored["pairs"]}


def write_cache(path: Path, settings: dict[str, Any], rows: dict[int, dict[str, Any]]
                ) -> None:
    """Atomic replace: an interrupted run never leaves a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"settings": settings,
                               "pairs": [rows[i] for i in sorted(rows)]}, indent=1))
    os.replace(tmp, path)


def sampling_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The nested-sampling settings a cached result must have been made with."""
    return with_example({"seed": args.seed, "n_live": args.n_live, "n_eff": args.n_eff,
                         "sampler": "nautilus", "n_networks": args.n_networks},
                        args.example)


def nested_sampling(problem: Problem, args: argparse.Namespace, seed: int
                    ) -> dict[str, Any]:
    """nautilus's log R of the problem's observed pair, as a cache row."""
    start = time.perf_counter()
    evidence = run_nested_sampling(
        problem, n_live=args.n_live, seed=seed, run_kwargs={"n_eff": args.n_eff},
        sampler_kwargs={"n_networks": args.n_networks})
    return {"logR_ns": evidence.logR, "logR_ns_err": evidence.logR_err,
            "logZ": [evidence.logZ_A, evidence.logZ_B, evidence.logZ_AB],
            "wall_s": time.perf_counter() - start}


def sample_pairs(problem: Problem, args: argparse.Namespace) -> list[dict[str, Any]]:
    settings = sampling_settings(args)
    path = args.cache / "pairs.json"
    rows = read_cache(path, settings)
    for i in range(args.n_pairs):
        if i in rows:
            continue
        pair = draw_pair(problem, args.seed, i)
        result = nested_sampling(pair_problem(problem, pair.x_A[0], pair.x_B[0],
                                              f"pair{i}"), args, args.seed + i)
        rows[i] = {"index": i, "theta": dict(zip(problem.names, pair.theta[0].tolist())),
                   "x_A": pair.x_A[0].tolist(), "x_B": pair.x_B[0].tolist(), **result}
        write_cache(path, settings, rows)
        print(f"pair {i:3d}: nested sampling {result['logR_ns']:8.3f} +/- "
              f"{result['logR_ns_err']:.3f}  ({result['wall_s']:.0f} s)", flush=True)
    return [rows[i] for i in range(args.n_pairs)]


def sample_observed(problem: Problem, args: argparse.Namespace) -> dict[str, Any]:
    """nautilus on the shipped observed pair, seeded with ``--seed`` as the job
    seeds it, and cached in ``observed.json`` beside the simulated pairs."""
    settings = sampling_settings(args)
    path = args.cache / "observed.json"
    rows = read_cache(path, settings)
    if 0 not in rows:
        rows[0] = {"index": 0, **nested_sampling(problem, args, args.seed)}
        write_cache(path, settings, rows)
        print(f"observed pair: nested sampling {rows[0]['logR_ns']:8.3f} +/- "
              f"{rows[0]['logR_ns_err']:.3f}  ({rows[0]['wall_s']:.0f} s)", flush=True)
    return rows[0]


def polychord(amplitude: float) -> accord.EvidenceResult:
    roots = [CHAINS / "exp1" / "test", CHAINS / f"exp2_{amplitude:g}" / "test",
             CHAINS / f"joint_{amplitude:g}" / "test"]
    return evidence_from_chains(*roots, n_samples=500, seed=0,
                                prior=cm21_problem(amplitude))


# --------------------------------------------------------------------------
# Estimator, cached by its settings


def _lower_map(d: int) -> torch.Tensor:
    """``(d(d+1)/2, d*d)`` matrix placing free entries in a lower triangle; a
    product rather than indexed assignment, so that it works under vmap."""
    rows, cols = torch.tril_indices(d, d)
    lower = torch.zeros(len(rows), d * d, dtype=torch.float64)
    lower[torch.arange(len(rows)), rows * d + cols] = 1.0
    return lower


def log_scale_forward(self: GaussianPosteriorNet, x: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GaussianPosteriorNet.forward with the diagonal of the precision's
    correction on a log scale: ``L = L0 (I + D)``, ``D_ii = exp(o_i) - 1``.

    The package's correction is linear, ``D_ii = o_i``, so a posterior a
    hundred times narrower than the least-squares first guess needs outputs
    of order a hundred from a last layer initialised at zero; on a log scale
    it needs outputs of about five. Experimental: an estimator trained with
    this patch must be evaluated with it.
    """
    z = self.norm(x)
    mean = z @ self.weight.T + self.bias
    d, k = mean.shape[-1], self.n_components
    chol = self.chol0.expand(*z.shape[:-1], -1, -1)
    out = self.mlp(z.float()).double()
    if k > 1:
        log_weight = torch.log_softmax(out[..., :k], dim=-1)
        out = out[..., k:].unflatten(-1, (k, -1))
        mean = mean[..., None, :] + (self.offset + out[..., :d]) @ self.width.T
        chol = chol[..., None, :, :]
    else:
        log_weight = torch.zeros_like(mean[..., :1])
        mean = (mean + out[..., :d] @ self.width.T)[..., None, :]
        out, chol = out[..., None, :], chol[..., None, :, :]
    delta = (out[..., d:] @ _lower_map(d)).unflatten(-1, (d, d))
    diagonal = torch.diagonal(delta, dim1=-2, dim2=-1)
    delta = delta + torch.diag_embed(torch.expm1(diagonal) - diagonal)
    return log_weight, mean, chol + chol @ delta


def get_estimator(problem: Problem, args: argparse.Namespace
                  ) -> tuple[accord.RatioEstimator, float]:
    settings = accord.TrainingSettings(method=args.method, n_members=args.members,
                                       n_components=args.n_components, **args.training)
    key = json.dumps(with_example({"n_simulations": args.n_simulations, "seed": args.seed,
                                   "log_precision": args.log_precision,
                                   **settings.__dict__}, args.example),
                     sort_keys=True)
    folder = args.cache / "estimators" / hashlib.sha256(key.encode()).hexdigest()[:12]
    if (folder / "estimator.json").is_file():
        print(f"loaded the estimator from {folder}")
        return accord.load(folder), float("nan")
    start = time.perf_counter()
    estimator = accord.train(problem, args.n_simulations, seed=args.seed,
                             settings=settings)
    train_s = time.perf_counter() - start
    estimator.save(folder)
    (folder / "key.json").write_text(key)
    return estimator, train_s


# --------------------------------------------------------------------------
# Comparison


def compare(label: str, reference: np.ndarray, reference_err: np.ndarray,
            members: np.ndarray) -> dict[str, float]:
    """Figures of the network's log R ``members (M, N)`` against a reference ``(N,)``."""
    log_r = members.mean(axis=0)
    spread = members.std(axis=0, ddof=1) if len(members) > 1 else np.zeros_like(log_r)
    diff = log_r - reference
    table = {
        "reference log R, mean": reference.mean(),
        "reference log R, std over pairs": reference.std(ddof=1) if diff.size > 1 else 0,
        "network log R, mean": log_r.mean(),
        "network log R, std over pairs": log_r.std(ddof=1) if diff.size > 1 else 0,
        "bias: mean(network - reference)": diff.mean(),
        "standard error of the bias": diff.std(ddof=1) / np.sqrt(diff.size)
        if diff.size > 1 else np.nan,
        "RMS(network - reference)": np.sqrt(np.mean(diff**2)),
        "median |network - reference|": np.median(np.abs(diff)),
        "fraction with |difference| < 0.5": np.mean(np.abs(diff) < 0.5),
        "fraction with |difference| < 1.0": np.mean(np.abs(diff) < 1.0),
        "largest |difference|": np.abs(diff).max(),
        "slope of network on reference": np.polyfit(reference, log_r, 1)[0]
        if diff.size > 2 else np.nan,
        "correlation of difference with reference": np.corrcoef(reference, diff)[0, 1]
        if diff.size > 2 else np.nan,
        "reference error, RMS of quoted": np.sqrt(np.mean(reference_err**2)),
        "ensemble spread, RMS": np.sqrt(np.mean(spread**2)),
    }
    print(f"\n{label}")
    for name, value in table.items():
        print(f"  {name:42s}{value:10.3f}")
    return {k: float(v) for k, v in table.items()}


def snr(theta: dict[str, float]) -> tuple[float, float]:
    """Signal-to-noise of the trough in each band, sqrt(sum signal^2) / sigma."""
    row = np.array([[theta[n] for n in ("A", "nu0", "w", "sigma_A", "sigma_B")]])
    return float(_snr_vector(row, "A")[0]), float(_snr_vector(row, "B")[0])


def bump_snr(theta: dict[str, float]) -> tuple[float, float]:
    """Signal-to-noise of the excess in each experiment of the bump hunt,
    sqrt(sum signal^2 / expected counts), the expected counts being the
    Poisson variance."""
    names = tuple(theta)
    row = np.array([list(theta.values())])
    values = []
    for label in ("A", "B"):
        columns = [names.index(f"{p}_{label}") for p in
                   ("a1", "a2", "a3", "b1", "b2", "b3", "amp", "s")] + [names.index("mu")]
        collider = Collider(MASSES, columns)
        values.append(float(np.sqrt(np.sum(collider.excess(row) ** 2
                                           / collider.expected(row)))))
    return values[0], values[1]


# --------------------------------------------------------------------------
# Posterior diagnostics (posterior method only)


@torch.no_grad()
def gaussian_moments(member: PosteriorPairNet, x: np.ndarray, label: str
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(N, d)`` and covariance ``(N, d, d)`` in the prior's normal coordinates."""
    net = member.post_A if label == "A" else member.post_B
    log_w, mean, chol = net(torch.as_tensor(x, dtype=torch.float64))
    weight = log_w.exp()[..., None]
    precision = net.precision(chol)
    cov_k = torch.linalg.inv(precision)
    mu = (weight * mean).sum(-2)
    centred = mean - mu[..., None, :]
    cov = (weight[..., None] * (cov_k + centred[..., :, None] * centred[..., None, :])
           ).sum(-3)
    return mu.numpy(), cov.numpy()


def posterior_checks(estimator: accord.RatioEstimator, problem: Problem,
                     seed: int, n: int = 5000) -> dict[str, Any]:
    """Coverage of the learned posteriors on fresh simulations, per experiment."""
    member = estimator.members[0]
    if not isinstance(member, PosteriorPairNet):
        return {}
    sims = accord.simulate(problem, n, seed=np.random.SeedSequence(seed, spawn_key=(98,)),
                           executor="serial")
    u = np.asarray(problem.prior.to_normal(sims.theta))[:, problem.indices(SHARED)]
    out: dict[str, Any] = {}
    print("\nlearned posteriors on 5000 fresh simulations (member 0; normal coordinates)")
    print("  chi2 = (u - mean)' cov^-1 (u - mean) should follow chi2(3): mean 3, "
          "95th percentile 7.8")
    for label in ("A", "B"):
        mu, cov = gaussian_moments(member, getattr(sims, f"x_{label}"), label)
        r = u - mu
        chi2 = np.einsum("ni,nij,nj->n", r, np.linalg.inv(cov), r)
        z = r / np.sqrt(np.einsum("nii->ni", cov))
        width = np.sqrt(np.einsum("nii->ni", cov))
        # The Fisher information of the trough at the true theta, in the same
        # coordinates, gives the width the posterior should have: half the
        # log-determinant ratio is the nats of log R lost or gained by the
        # learned width alone.
        fisher = fisher_precision(sims.theta, label, problem.prior)
        excess = 0.5 * (np.linalg.slogdet(fisher)[1] + np.linalg.slogdet(cov)[1])
        fisher_width = np.sqrt(np.einsum("nii->ni", np.linalg.inv(fisher)))
        out[label] = {
            "chi2_mean": float(chi2.mean()), "chi2_median": float(np.median(chi2)),
            "chi2_p95": float(np.quantile(chi2, 0.95)),
            "fraction chi2 > 7.8": float(np.mean(chi2 > stats.chi2.ppf(0.95, 3))),
            "log_volume_excess_quantiles": np.quantile(excess, [0.1, 0.5, 0.9]).tolist(),
            "z_std": z.std(axis=0).tolist(),
            "width_median": np.median(width, axis=0).tolist(),
            "fisher_width_median": np.median(fisher_width, axis=0).tolist()}
        print(f"  {label}: chi2 mean {chi2.mean():8.2f}, median {np.median(chi2):7.2f} "
              f"(chi2(3): 2.37), 95% {np.quantile(chi2, 0.95):8.2f}, "
              f"fraction above 7.8 {np.mean(chi2 > 7.8):.3f}")
        print(f"     std of standardised residual per parameter {np.round(z.std(0), 2)}; "
              f"median width {np.round(np.median(width, 0), 4)}")
        print(f"     log(learned / Fisher posterior volume), nats, 10/50/90%: "
              f"{np.round(np.quantile(excess, [0.1, 0.5, 0.9]), 2)}; Fisher median "
              f"width {np.round(np.median(fisher_width, 0), 4)}")
    return out


def fisher_precision(theta: np.ndarray, label: str, prior: Any) -> np.ndarray:
    """Prior plus Fisher precision ``(N, 3, 3)`` of the shared parameters in the
    prior's normal coordinates, for the trough of experiment ``label``.

    The noise level is orthogonal to the trough's parameters in the Fisher
    matrix of white Gaussian noise, so marginalising it changes nothing.
    """
    freq = FREQUENCIES_A if label == "A" else FREQUENCIES_B
    sigma = theta[:, 3] if label == "A" else theta[:, 4]
    amplitude, centre, width = theta[:, :1], theta[:, 1:2], theta[:, 2:3]
    offset = freq - centre
    g = np.exp(-0.5 * (offset / width) ** 2)
    jac = np.stack([-g, -amplitude * g * offset / width**2,
                    -amplitude * g * offset**2 / width**3], axis=-1)
    fisher = np.einsum("nli,nlj->nij", jac, jac) / sigma[:, None, None] ** 2
    # d theta / d u for a uniform prior mapped to a standard normal.
    u = np.asarray(prior.to_normal(theta))[:, :3]
    ranges = np.array([4.0, 30.0, 35.0])  # widths of the uniform priors of A, nu0, w
    scale = ranges * stats.norm.pdf(u)
    return np.eye(3) + scale[:, :, None] * fisher * scale[:, None, :]


def observed_posteriors(estimator: accord.RatioEstimator) -> None:
    """The learned posteriors of the observed spectra, in physical units."""
    member = estimator.members[0]
    if not isinstance(member, PosteriorPairNet):
        return
    prior = cm21_problem(0.2).prior
    print("\nlearned posteriors of the observed spectra (member 0), mean +/- std in "
          "physical units via the prior's map")
    print(f"  truth: A {TRUTH['A']} K (B: 0.15/0.2/0.25), nu0 {TRUTH['nu0']} MHz, "
          f"w {TRUTH['w']} MHz")
    for amplitude in AMPLITUDES_B:
        problem = cm21_problem(amplitude)
        for label in ("A", "B"):
            if label == "A" and amplitude != AMPLITUDES_B[0]:
                continue
            x = getattr(problem, f"x_{label}_obs")[None]
            mu, cov = gaussian_moments(member, x, label)
            draws = np.random.default_rng(0).multivariate_normal(mu[0], cov[0], 4000)
            full = np.zeros((len(draws), len(prior.names)))
            full[:, :3] = draws
            theta = np.asarray(prior.from_normal(full))[:, :3]
            text = ", ".join(f"{n} {m:.4g} +/- {s:.2g}" for n, m, s in
                             zip(SHARED, theta.mean(0), theta.std(0)))
            name = "x_A_obs" if label == "A" else f"x_B_obs (B amplitude {amplitude:g})"
            print(f"  {name:32s}{text}")


def where_observed(estimator: accord.RatioEstimator) -> None:
    """The observations' place in the prior and in the training data."""
    prior = cm21_problem(0.2).prior
    truth = np.array([[TRUTH[n] for n in prior.names]])
    cdf = stats.norm.cdf(np.asarray(prior.to_normal(truth)))[0]
    print("\nthe observations in the prior (prior CDF of the truth)")
    print("  " + ", ".join(f"{n} {v:g}: {c:.3f}" for n, v, c in
                           zip(prior.names, truth[0], cdf)))
    a_snr, b_snr = snr(TRUTH)
    draws = prior.sample(200_000, np.random.default_rng(1))
    snrs = np.array([_snr_vector(draws, band) for band in ("A", "B")])
    print(f"  signal-to-noise of the observed trough: A {a_snr:.1f}, B {b_snr:.1f} "
          f"(B at 0.2 K); prior fraction with a lower SNR: "
          f"A {np.mean(snrs[0] < a_snr):.3f}, B {np.mean(snrs[1] < b_snr):.3f}")
    near = (draws[:, 0] < 0.4) & (np.abs(draws[:, 1] - 78) < 3) & \
        (np.abs(draws[:, 2] - 10) < 3) & (draws[:, 3] < 0.04) & (draws[:, 4] < 0.04)
    print(f"  prior mass within A < 0.4 K, |nu0 - 78| < 3, |w - 10| < 3, "
          f"sigma_A, sigma_B < 0.04: {near.mean():.2e} "
          f"(about {near.mean() * estimator.n_simulations:.0f} of "
          f"{estimator.n_simulations} training simulations)")
    for amplitude in AMPLITUDES_B:
        problem = cm21_problem(amplitude)
        z_A, z_B = estimator.max_z_score(problem.x_A_obs, problem.x_B_obs)
        print(f"  B = {amplitude:g}: largest |z| of the observed spectra in training "
              f"units: A {z_A:.2f}, B {z_B:.2f}")


def _snr_vector(theta: np.ndarray, band: str) -> np.ndarray:
    freq = FREQUENCIES_A if band == "A" else FREQUENCIES_B
    sigma = theta[:, 3] if band == "A" else theta[:, 4]
    signal = theta[:, :1] * np.exp(-0.5 * ((freq - theta[:, 1:2]) / theta[:, 2:3]) ** 2)
    return np.sqrt(np.sum(signal**2, axis=1)) / sigma


# --------------------------------------------------------------------------


def observed_21cm(estimator: accord.RatioEstimator, args: argparse.Namespace,
                  reference: np.ndarray, log_r: np.ndarray
                  ) -> tuple[dict[str, float], dict[float, dict[str, Any]]]:
    """The three observed 21-cm pairs against PolyChord, and their calibrated T.

    Parameters
    ----------
    estimator : RatioEstimator
    args : argparse.Namespace
    reference, log_r : array (N,)
        Nested sampling's and the network's log R of the simulated pairs.

    Returns
    -------
    summary : dict
        The figures of :func:`compare` for the three pairs.
    calibrations : dict
        T and P from PolyChord's and from the network's log R, by amplitude.
    """
    observed = {b: polychord(b) for b in AMPLITUDES_B}
    obs_members = np.stack([estimator.log_ratio(cm21_problem(b).x_A_obs,
                                                cm21_problem(b).x_B_obs, members=True)
                            for b in AMPLITUDES_B], axis=1)
    obs_summary = compare("the three observed pairs: network against PolyChord",
                          np.array([observed[b].logR for b in AMPLITUDES_B]),
                          np.array([observed[b].logR_err for b in AMPLITUDES_B]),
                          obs_members)
    print(f"\n{'B':>5s} {'PolyChord log R':>16s} {'network log R':>14s} "
          f"{'T(PolyChord)':>13s} {'T(network)':>11s} {'paper T':>8s}  concordance "
          f"quantiles 2.3/50/97.7%")
    calibrations = {}
    for j, b in enumerate(AMPLITUDES_B):
        case = cm21_problem(b)
        given = accord.calibrate(estimator, case, log_r_obs=observed[b].logR,
                                 log_r_obs_err=observed[b].logR_err,
                                 n_calibration=args.n_calibration,
                                 log_r_obs_source="PolyChord")
        own = accord.calibrate(estimator, case, n_calibration=args.n_calibration)
        q = np.quantile(given.log_r, [0.0228, 0.5, 0.9772])
        t_given = ("> " if given.T_bound else "") + f"{given.T:.2f}"
        t_own = ("> " if own.T_bound else "") + f"{own.T:.2f}"
        spread = obs_members[:, j].std(ddof=1) if len(obs_members) > 1 else 0.0
        print(f"{b:5.2f} {observed[b].logR:9.2f} +/- {observed[b].logR_err:.2f} "
              f"{obs_members[:, j].mean():8.2f} +/- {spread:.2f} "
              f"{t_given:>13s} {t_own:>11s} {PAPER_T[b]:8.2f}  "
              f"{q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f}")
        calibrations[b] = {"T_polychord": given.T, "T_polychord_bound": given.T_bound,
                           "T_network": own.T, "T_network_bound": own.T_bound,
                           "P_polychord": given.P, "P_network": own.P}
    # A crude reference: the nested-sampling pairs are a (small) exact
    # concordance sample of their own.
    print_concordance_quantiles(reference, log_r)
    for b in AMPLITUDES_B:
        stat = accord.tension_from_sample(observed[b].logR, reference)
        print(f"  B = {b:g}: T of PolyChord's log R on the nested-sampling pairs "
              f"{'> ' if stat.T_bound else ''}{stat.T:.2f}")
    return obs_summary, calibrations


def observed_bump(problem: Problem, estimator: accord.RatioEstimator,
                  args: argparse.Namespace, reference: np.ndarray, log_r: np.ndarray
                  ) -> tuple[dict[str, float], dict[str, Any]]:
    """The shipped bump-hunt pair: the network against nautilus.

    Parameters
    ----------
    problem : Problem
        :func:`accord.examples.bump_problem`, with the shipped counts.
    estimator : RatioEstimator
    args : argparse.Namespace
    reference, log_r : array (N,)
        Nested sampling's and the network's log R of the simulated pairs.

    Returns
    -------
    summary : dict
        The figures of :func:`compare` for the one pair.
    observed : dict
        nautilus's and the network's log R_obs, the members' values, and
        where both sit in the nested-sampling concordance sample.
    """
    row = sample_observed(problem, args)
    members = estimator.log_ratio(problem.x_A_obs, problem.x_B_obs, members=True)
    obs_summary = compare(f"the observed pair: network against nautilus (n_live "
                          f"{args.n_live}, n_eff {args.n_eff})",
                          np.array([row["logR_ns"]]), np.array([row["logR_ns_err"]]),
                          members[:, None])
    spread = members.std(ddof=1) if len(members) > 1 else 0.0
    s_A, s_B = bump_snr({n: TRUTH_BUMP[n] for n in problem.names})
    z_A, z_B = estimator.max_z_score(problem.x_A_obs, problem.x_B_obs)
    print(f"  nautilus log R_obs {row['logR_ns']:.2f} +/- {row['logR_ns_err']:.2f} "
          f"({row['wall_s']:.0f} s; the job at seed 0: "
          f"{JOB_BUMP['logR_nautilus']:.2f} +/- {JOB_BUMP['logR_nautilus_err']:.2f})")
    print(f"  network log R_obs {members.mean():.2f} +/- {spread:.2f} (members "
          f"{np.round(members, 2).tolist()}; the job at seed 0: "
          f"{JOB_BUMP['logR_network']:.2f})")
    print(f"  signal-to-noise of the true excess: A {s_A:.0f}, B {s_B:.0f}; largest "
          f"|z| of the observed counts in training units: A {z_A:.2f}, B {z_B:.2f}")
    print_concordance_quantiles(reference, log_r)
    tension = {}
    for source, owner, value in (("nautilus", "nautilus's", row["logR_ns"]),
                                 ("network", "the network's", members.mean())):
        stat = accord.tension_from_sample(float(value), reference)
        tension[source] = {"T": stat.T, "T_bound": stat.T_bound}
        print(f"  T of {owner} log R_obs on the nested-sampling pairs "
              f"{'> ' if stat.T_bound else ''}{stat.T:.2f}")
    observed = {"logR_nautilus": row["logR_ns"], "logR_nautilus_err": row["logR_ns_err"],
                "logZ_nautilus": row["logZ"], "wall_s": row["wall_s"],
                "log_r_network": float(members.mean()), "network_spread": float(spread),
                "members": members.tolist(), "T_on_nested_sampling_pairs": tension}
    return obs_summary, observed


def print_concordance_quantiles(reference: np.ndarray, log_r: np.ndarray) -> None:
    """Quantiles of the nested-sampling pairs, a small exact concordance sample,
    next to the network's on the same pairs."""
    levels = [0.0228, 0.5, 0.9772]
    q_ns = " / ".join(f"{v:.2f}" for v in np.quantile(reference, levels))
    q_net = " / ".join(f"{v:.2f}" for v in np.quantile(log_r, levels))
    print(f"  nested-sampling concordance sample ({len(reference)} pairs): quantiles "
          f"2.3/50/97.7% {q_ns}; network on the same pairs {q_net}")


def print_pairs(rows: list[dict[str, Any]], members: np.ndarray, reference: np.ndarray,
                example: str) -> None:
    """One line per simulated pair: both log R, the difference, signal-to-noise
    and parameters (all five for 21 cm, the mass and excesses for the bump)."""
    log_r = members.mean(axis=0)
    shown = "theta (A, nu0, w, sigma_A, sigma_B)" if example == "21cm" else \
        "theta (" + ", ".join(BUMP_SHOWN) + ")"
    print(f"\n{'pair':>4s} {'nested':>8s} {'network':>8s} {'spread':>6s} {'diff':>7s} "
          f"{'SNR_A':>7s} {'SNR_B':>7s}  {shown}")
    for i, row in enumerate(rows):
        if example == "21cm":
            s_A, s_B = snr(row["theta"])
            values = row["theta"].values()
        else:
            s_A, s_B = bump_snr(row["theta"])
            values = [row["theta"][n] for n in BUMP_SHOWN]
        theta = " ".join(f"{v:7.4g}" for v in values)
        print(f"{i:4d} {reference[i]:8.2f} {log_r[i]:8.2f} "
              f"{members[:, i].std(ddof=1) if len(members) > 1 else 0:6.2f} "
              f"{log_r[i] - reference[i]:7.2f} {s_A:7.0f} {s_B:7.0f}  {theta}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", choices=EXAMPLES, default="21cm",
                        help="21cm (two radiometers, B at 0.2 K) or bump (the bump "
                             "hunt, with the settings of `accord run bump`)")
    parser.add_argument("--n-pairs", type=int, default=24)
    parser.add_argument("--n-simulations", type=int, default=None,
                        help="training simulations; 50 000 for 21cm, 20 000 for bump")
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--method", default="posterior",
                        choices=["posterior", "classifier"])
    parser.add_argument("--n-components", type=int, default=1)
    parser.add_argument("--training", type=json.loads, default={},
                        help='further TrainingSettings as JSON, e.g. \'{"hidden": 128}\'')
    parser.add_argument("--log-precision", action="store_true",
                        help="patch the Gaussian posteriors' precision correction to a "
                             "log scale (experimental, see log_scale_forward)")
    parser.add_argument("--n-live", type=int, default=None,
                        help="nautilus's live points; 500 for 21cm, 200 for bump")
    parser.add_argument("--n-eff", type=int, default=None,
                        help="nautilus's effective sample size; 3000 for 21cm, "
                             "1000 for bump")
    parser.add_argument("--n-calibration", type=int, default=20_000,
                        help="concordant pairs of the 21-cm calibrations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder of cached nested-sampling results and estimators "
                             "(default cm21_cache or bump_cache); one per example")
    parser.add_argument("--sampling-only", action="store_true",
                        help="fill the nested-sampling cache and stop")
    parser.add_argument("--output", type=Path, default=None,
                        help="write every figure and pair to this JSON file")
    args = parser.parse_args()
    for name, value in DEFAULTS[args.example].items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    if args.cache is None:
        args.cache = Path("cm21_cache" if args.example == "21cm" else
                          f"{args.example}_cache")
    args.cache.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    if args.log_precision:
        GaussianPosteriorNet.forward = log_scale_forward  # type: ignore[method-assign]

    problem = example_problem(args.example)
    rows = sample_pairs(problem, args)
    if args.example != "21cm":
        sample_observed(problem, args)
    if args.sampling_only:
        return

    # Train, or reuse an estimator of the same settings.
    estimator, train_s = get_estimator(problem, args)
    epochs = [len(h[k]["train"]) for h in estimator.history for k in h]
    shown = ("hidden", "n_blocks", "n_components", "learning_rate", "patience")
    print(f"{estimator.settings.method} estimator, {estimator.n_members} members, "
          f"{estimator.n_simulations} simulations, training "
          f"{'loaded' if np.isnan(train_s) else f'{train_s:.0f} s'}, epochs "
          f"per network {epochs} (cap {estimator.settings.max_epochs}); "
          f"{ {k: getattr(estimator.settings, k) for k in shown} }"
          f"{', log-scale precision' if args.log_precision else ''}")

    # Simulated concordant pairs against nested sampling.
    x_A = np.array([r["x_A"] for r in rows])
    x_B = np.array([r["x_B"] for r in rows])
    members = estimator.log_ratio(x_A, x_B, members=True)
    reference = np.array([r["logR_ns"] for r in rows])
    reference_err = np.array([r["logR_ns_err"] for r in rows])
    log_r = members.mean(axis=0)
    for i, row in enumerate(rows):
        row["log_r"] = members[:, i].tolist()
    print_pairs(rows, members, reference, args.example)
    order = np.argsort(-np.abs(log_r - reference))
    simulated = compare(f"{len(rows)} simulated concordant pairs: network against "
                        f"nautilus (n_live {args.n_live}, n_eff {args.n_eff})",
                        reference, reference_err, members)
    if args.example == "21cm":
        print("  worst pairs: " + "; ".join(
            f"#{i} ({log_r[i] - reference[i]:+.1f}: "
            + ", ".join(f"{k} {v:.3g}" for k, v in rows[i]["theta"].items()) + ")"
            for i in order[:4]))
    else:
        print("  worst pairs: " + "; ".join(
            f"#{i} ({log_r[i] - reference[i]:+.1f}: nested {reference[i]:.2f}, "
            + ", ".join(f"{k} {rows[i]['theta'][k]:.3g}" for k in BUMP_SHOWN)
            + ", SNR A/B " + "/".join(f"{v:.0f}" for v in bump_snr(rows[i]["theta"]))
            + ")" for i in order[:4]))

    results: dict[str, Any] = {"example": args.example}
    if args.example == "21cm":
        # The three observed pairs against PolyChord, the calibrated T, and
        # the posterior diagnostics, which know the 21-cm model.
        obs_summary, calibrations = observed_21cm(estimator, args, reference, log_r)
        results["calibration"] = {str(k): v for k, v in calibrations.items()}
        results["posterior_checks"] = posterior_checks(estimator, problem, args.seed)
        observed_posteriors(estimator)
        where_observed(estimator)
    else:
        obs_summary, results["observed_pair"] = observed_bump(
            problem, estimator, args, reference, log_r)

    if args.output is not None:
        args.output.write_text(json.dumps({
            "settings": estimator.settings.__dict__, "n_simulations": args.n_simulations,
            "train_s": train_s, "epochs": epochs, "simulated": simulated,
            "observed": obs_summary, **results, "pairs": rows},
            indent=1, default=float))


if __name__ == "__main__":
    main()
