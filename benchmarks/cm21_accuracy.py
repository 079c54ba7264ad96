"""The network's log R against nested sampling on simulated 21-cm concordant pairs.

On the two-radiometer 21-cm problem (``accord.examples.cm21_problem``) the
estimator is known to be far off on the three observed pairs. T depends on
the estimator through its concordance distribution, i.e. through its log R
on pairs drawn from the prior, so that is where it has to be accurate. This
benchmark measures it there:

1. draw ``--n-pairs`` concordant pairs (theta from the prior, both spectra
   from the same theta), each from its own seed, disjoint from the training
   and calibration streams of ``--seed``;
2. compute their log R by nested sampling (nautilus) on the same prior and
   likelihoods, cached pair by pair in ``--cache`` so that reruns and
   estimator variants reuse them;
3. train the ensemble (or load it from the cache) and compare its log R with
   the nested-sampling values: bias, RMS, fractions within 0.5 and 1 nat,
   the worst pairs with their parameters, ensemble spread, sampler error;
4. do the same for the three observed pairs against the published PolyChord
   runs, and calibrate both log R_obs (PolyChord's and the network's) on the
   network's concordance distribution, next to the paper's T;
5. for the posterior method, check each experiment's learned Gaussian
   posterior on fresh simulations (its standardised residual should follow
   chi-squared with one degree of freedom per shared parameter) and on the
   observed spectra, and say where the observations sit in the prior.

    python benchmarks/cm21_accuracy.py --cache cm21_cache --n-pairs 24
    python benchmarks/cm21_accuracy.py --cache cm21_cache --sampling-only
    python benchmarks/cm21_accuracy.py --cache cm21_cache \
        --training '{"hidden": 128, "max_epochs": 1000}'

Nested sampling takes about 40 s per pair (n_live 500, n_eff 3000) on one
core; training 50 000 simulations with two members a few minutes.
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
from accord.examples import cm21_problem
from accord.examples.cm21 import AMPLITUDES_B, FREQUENCIES_A, FREQUENCIES_B, TRUTH

CHAINS = Path(__file__).resolve().parent.parent / "tests" / "data" / "polychord" / "21cm"
PAPER_T = {0.15: 2.15, 0.2: 0.51, 0.25: 2.99}
SHARED = ("A", "nu0", "w")

# Spawn key of the benchmark pairs: training uses keys 0 and 1 of the seed and
# calibration key 7, so no benchmark pair is ever a training simulation.
_PAIR_KEY = 99


# --------------------------------------------------------------------------
# Nested-sampling references, cached


def pair_problem(problem: Problem, x_A: np.ndarray, x_B: np.ndarray, name: str) -> Problem:
    """The same model and prior, with simulated spectra as the observation."""
    return Problem(problem.prior, problem.simulate_A, problem.simulate_B,
                   params_A=problem.params_A, params_B=problem.params_B,
                   x_A_obs=x_A, x_B_obs=x_B, log_likelihood_A=problem.log_likelihood_A,
                   log_likelihood_B=problem.log_likelihood_B, name=name, check=False)


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


def sample_pairs(problem: Problem, args: argparse.Namespace) -> list[dict[str, Any]]:
    settings = {"seed": args.seed, "n_live": args.n_live, "n_eff": args.n_eff,
                "sampler": "nautilus", "n_networks": 1}
    path = args.cache / "pairs.json"
    rows = read_cache(path, settings)
    for i in range(args.n_pairs):
        if i in rows:
            continue
        pair = draw_pair(problem, args.seed, i)
        start = time.perf_counter()
        evidence = run_nested_sampling(
            pair_problem(problem, pair.x_A[0], pair.x_B[0], f"pair{i}"),
            n_live=args.n_live, seed=args.seed + i, run_kwargs={"n_eff": args.n_eff},
            sampler_kwargs={"n_networks": 1})
        rows[i] = {"index": i, "theta": dict(zip(problem.names, pair.theta[0].tolist())),
                   "x_A": pair.x_A[0].tolist(), "x_B": pair.x_B[0].tolist(),
                   "logR_ns": evidence.logR, "logR_ns_err": evidence.logR_err,
                   "logZ": [evidence.logZ_A, evidence.logZ_B, evidence.logZ_AB],
                   "wall_s": time.perf_counter() - start}
        write_cache(path, settings, rows)
        print(f"pair {i:3d}: nested sampling {evidence.logR:8.3f} +/- "
              f"{evidence.logR_err:.3f}  ({rows[i]['wall_s']:.0f} s)", flush=True)
    return [rows[i] for i in range(args.n_pairs)]


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
    key = json.dumps({"n_simulations": args.n_simulations, "seed": args.seed,
                      "log_precision": args.log_precision, **settings.__dict__},
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pairs", type=int, default=24)
    parser.add_argument("--n-simulations", type=int, default=50_000)
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--method", default="posterior",
                        choices=["posterior", "classifier"])
    parser.add_argument("--n-components", type=int, default=1)
    parser.add_argument("--training", type=json.loads, default={},
                        help='further TrainingSettings as JSON, e.g. \'{"hidden": 128}\'')
    parser.add_argument("--log-precision", action="store_true",
                        help="patch the Gaussian posteriors' precision correction to a "
                             "log scale (experimental, see log_scale_forward)")
    parser.add_argument("--n-live", type=int, default=500)
    parser.add_argument("--n-eff", type=int, default=3000)
    parser.add_argument("--n-calibration", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path("cm21_cache"),
                        help="folder of cached nested-sampling results and estimators")
    parser.add_argument("--sampling-only", action="store_true",
                        help="fill the nested-sampling cache and stop")
    parser.add_argument("--output", type=Path, default=None,
                        help="write every figure and pair to this JSON file")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    if args.log_precision:
        GaussianPosteriorNet.forward = log_scale_forward  # type: ignore[method-assign]

    problem = cm21_problem(0.2)
    rows = sample_pairs(problem, args)
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
    print(f"\n{'pair':>4s} {'nested':>8s} {'network':>8s} {'spread':>6s} {'diff':>7s} "
          f"{'SNR_A':>7s} {'SNR_B':>7s}  theta (A, nu0, w, sigma_A, sigma_B)")
    order = np.argsort(-np.abs(log_r - reference))
    for i, row in enumerate(rows):
        row["log_r"] = members[:, i].tolist()
        s_A, s_B = snr(row["theta"])
        theta = " ".join(f"{v:7.4g}" for v in row["theta"].values())
        print(f"{i:4d} {reference[i]:8.2f} {log_r[i]:8.2f} "
              f"{members[:, i].std(ddof=1) if len(members) > 1 else 0:6.2f} "
              f"{log_r[i] - reference[i]:7.2f} {s_A:7.0f} {s_B:7.0f}  {theta}")
    simulated = compare(f"{len(rows)} simulated concordant pairs: network against "
                        f"nautilus (n_live {args.n_live}, n_eff {args.n_eff})",
                        reference, reference_err, members)
    print("  worst pairs: " + "; ".join(
        f"#{i} ({log_r[i] - reference[i]:+.1f}: "
        + ", ".join(f"{k} {v:.3g}" for k, v in rows[i]["theta"].items()) + ")"
        for i in order[:4]))

    # The three observed pairs against PolyChord, and the calibrated T.
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
    levels = [0.0228, 0.5, 0.9772]
    q_ns = " / ".join(f"{v:.2f}" for v in np.quantile(reference, levels))
    q_net = " / ".join(f"{v:.2f}" for v in np.quantile(log_r, levels))
    print(f"  nested-sampling concordance sample ({len(reference)} pairs): quantiles "
          f"2.3/50/97.7% {q_ns}; network on the same pairs {q_net}")
    for b in AMPLITUDES_B:
        stat = accord.tension_from_sample(observed[b].logR, reference)
        print(f"  B = {b:g}: T of PolyChord's log R on the nested-sampling pairs "
              f"{'> ' if stat.T_bound else ''}{stat.T:.2f}")

    checks = posterior_checks(estimator, problem, args.seed)
    observed_posteriors(estimator)
    where_observed(estimator)

    if args.output is not None:
        args.output.write_text(json.dumps({
            "settings": estimator.settings.__dict__, "n_simulations": args.n_simulations,
            "train_s": train_s, "epochs": epochs, "simulated": simulated,
            "observed": obs_summary, "calibration": {str(k): v for k, v in
                                                     calibrations.items()},
            "posterior_checks": checks, "pairs": rows}, indent=1, default=float))


if __name__ == "__main__":
    main()
