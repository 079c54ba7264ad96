"""Tests of accord.evidence: numbers, chains on disk, nested sampling, cross-check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import accord
from accord import Problem
from accord.evidence import (
    ChainError,
    EvidenceResult,
    SamplingError,
    cross_check,
    evidence_from_chains,
    evidence_from_numbers,
    run_nested_sampling,
)
from accord.exceptions import AccordError, AccordWarning
from accord.priors import Independent, MultivariateNormal, Normal, Uniform

DATA = Path(accord.__file__).parent / "data" / "cm21" / "polychord"

# The paper's PolyChord log R_obs for B's amplitude, with its quoted error.
PUBLISHED_LOGR = {"0.15": -4.9, "0.2": 8.6, "0.25": -13.4}
PUBLISHED_ERR = 0.6


# --- a linear-Gaussian problem with closed-form evidences -------------------


class GaussianPair:
    """x_X = M_X theta + noise for X in {A, B}; Gaussian prior; exact evidences."""

    def __init__(self, n_nuisance: int = 0, n_data: int = 8, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        shared = ["t0", "t1"]
        self.params_A = shared + [f"a{i}" for i in range(n_nuisance)]
        self.params_B = shared + [f"b{i}" for i in range(n_nuisance)]
        self.names = shared + self.params_A[2:] + self.params_B[2:]
        self.mu = rng.uniform(-0.5, 0.5, len(self.names))
        self.sd = np.full(len(self.names), 1.0)
        self.noise = 0.1
        self.M = {}
        for label, params in [("A", self.params_A), ("B", self.params_B)]:
            M = np.zeros((n_data, len(self.names)))
            columns = [self.names.index(p) for p in params]
            M[:, columns] = rng.uniform(0, 1, (n_data, len(params)))
            self.M[label] = M
        theta_true = self.mu + 0.3 * rng.standard_normal(len(self.names))
        self.x = {label: M @ theta_true + self.noise * rng.standard_normal(n_data)
                  for label, M in self.M.items()}

    def log_likelihood(self, label):
        M = self.M[label]

        def log_likelihood(theta, x):
            resid = x - theta @ M.T
            return stats.norm.logpdf(resid, scale=self.noise).sum(axis=-1)

        return log_likelihood

    def logZ(self, labels):
        M = np.vstack([self.M[label] for label in labels])
        x = np.concatenate([self.x[label] for label in labels])
        cov = M @ np.diag(self.sd**2) @ M.T + self.noise**2 * np.eye(len(x))
        return float(stats.multivariate_normal.logpdf(x, M @ self.mu, cov))

    def problem(self) -> Problem:
        prior = Independent(*[Normal(m, s, name=n)
                              for n, m, s in zip(self.names, self.mu, self.sd)])

        def simulator(label):
            M = self.M[label]
            return lambda theta, rng: theta @ M.T + self.noise * rng.standard_normal(
                (len(theta), M.shape[0]))

        return Problem(
            prior, simulator("A"), simulator("B"),
            params_A=self.params_A, params_B=self.params_B,
            x_A_obs=self.x["A"], x_B_obs=self.x["B"],
            log_likelihood_A=self.log_likelihood("A"),
            log_likelihood_B=self.log_likelihood("B"),
            name="gaussian",
        )


# A floor on the tolerance, in nats, for the sampler's bias that its quoted
# error does not cover (nautilus's 1/sqrt(n_eff) is purely statistical).
FLOOR = 0.05


def assert_close_to_exact(result: EvidenceResult, pair: GaussianPair) -> None:
    exact = {"A": pair.logZ("A"), "B": pair.logZ("B"), "AB": pair.logZ("AB")}
    exact_logR = exact["AB"] - exact["A"] - exact["B"]
    for label in ["A", "B", "AB"]:
        value = getattr(result, f"logZ_{label}")
        error = getattr(result, f"logZ_{label}_err")
        assert abs(value - exact[label]) < 3 * error + FLOOR, (label, value, error)
    assert abs(result.logR - exact_logR) < 3 * result.logR_err + FLOOR


# --- numbers ----------------------------------------------------------------


class TestNumbers:
    def test_logZ_combine(self):
        result = evidence_from_numbers(logZ_A=-1.0, logZ_B=-2.0, logZ_AB=-4.5,
                                       logZ_A_err=0.3, logZ_B_err=0.4)
        assert result.logR == pytest.approx(-1.5)
        assert result.logR_err == pytest.approx(0.5)
        assert result.source == "numbers"

    def test_logR_direct(self):
        result = evidence_from_numbers(logR=8.6, logR_err=0.6)
        assert (result.logR, result.logR_err, result.logZ_A) == (8.6, 0.6, None)

    def test_to_dict_is_json(self):
        result = evidence_from_numbers(logR=1.0, logR_err=0.1)
        assert json.loads(json.dumps(result.to_dict()))["logR"] == 1.0

    @pytest.mark.parametrize("kwargs, match", [
        ({"logZ_A": 1.0, "logZ_B": 1.0}, "missing"),
        ({"logR": 1.0}, "together"),
        ({"logR": 1.0, "logR_err": 0.1, "logZ_A": 1.0}, "either"),
        ({"logR": float("nan"), "logR_err": 0.1}, "logR must be a finite"),
        ({"logR": 1.0, "logR_err": -0.1}, "logR_err must be a finite number >= 0"),
        ({"logZ_A": 1.0, "logZ_B": 1.0, "logZ_AB": np.inf}, "logZ_AB"),
    ])
    def test_bad_numbers(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            evidence_from_numbers(**kwargs)

    def test_bad_type(self):
        with pytest.raises(TypeError, match="logR must be a real number"):
            evidence_from_numbers(logR="3", logR_err=0.1)


# --- chains -----------------------------------------------------------------


def twentyone_cm_problem(sigma_high: float = 0.1) -> Problem:
    prior = Independent(
        A=Uniform(0.0, 4.0), nu0=Uniform(60.0, 90.0), w=Uniform(5.0, 40.0),
        sigma_A=Uniform(0.001, sigma_high), sigma_B=Uniform(0.001, sigma_high),
    )

    def unused(theta, rng):
        return np.zeros((len(theta), 2))

    return Problem(prior, unused, unused, params_A=["A", "nu0", "w", "sigma_A"],
                   params_B=["A", "nu0", "w", "sigma_B"], name="21cm")


def roots(amplitude: str, base: Path = DATA) -> tuple[Path, Path, Path]:
    return (base / "exp1" / "test", base / f"exp2_{amplitude}" / "test",
            base / f"joint_{amplitude}" / "test")


class TestChains:
    @pytest.mark.parametrize("amplitude", ["0.15", "0.2", "0.25"])
    def test_21cm_published_logR(self, amplitude):
        result = evidence_from_chains(*roots(amplitude), n_samples=500, seed=0,
                                      prior=twentyone_cm_problem())
        published = PUBLISHED_LOGR[amplitude]
        assert abs(result.logR - published) < 3 * result.logR_err
        assert abs(result.logR - published) < 3 * PUBLISHED_ERR
        assert 0.4 < result.logR_err < 0.8
        assert result.source == "chains" and result.n_samples == 500

    def test_21cm_suspiciousness(self):
        tension = evidence_from_chains(*roots("0.25"), n_samples=200, seed=0)
        agreement = evidence_from_chains(*roots("0.2"), n_samples=200, seed=0)
        assert tension.sigma_S > 3 > agreement.sigma_S
        assert 0 < agreement.d_G < 6

    def test_logZ_matches_polychord_stats(self):
        result = evidence_from_chains(*roots("0.2"), n_samples=500, seed=3)
        text = (DATA / "exp1" / "test.stats").read_text()
        line = next(l for l in text.splitlines() if l.startswith("log(Z) "))
        logZ, error = float(line.split()[2]), float(line.split()[4])
        assert abs(result.logZ_A - logZ) < 3 * error
        assert result.logZ_A_err == pytest.approx(error, rel=0.3)

    def test_seeded(self):
        first = evidence_from_chains(*roots("0.2"), n_samples=50, seed=7)
        second = evidence_from_chains(*roots("0.2"), n_samples=50, seed=7)
        third = evidence_from_chains(*roots("0.2"), n_samples=50, seed=8)
        assert first == second
        assert first.logR != third.logR

    def test_memory_bounded_blocks_give_same_numbers(self, monkeypatch):
        from accord import _chains

        whole = evidence_from_chains(*roots("0.2"), n_samples=40, seed=1)
        monkeypatch.setattr(_chains, "_BLOCK_BYTES", 8 * 4000 * 7)
        blocked = evidence_from_chains(*roots("0.2"), n_samples=40, seed=1)
        assert blocked.logR == pytest.approx(whole.logR, abs=1.0)
        assert blocked.logR_err > 0


def copy_run(tmp_path: Path, run: str = "exp1") -> Path:
    target = tmp_path / run
    shutil.copytree(DATA / run, target)
    return target / "test"


def edit_dead(root: Path, edit) -> None:
    path = Path(str(root) + "_dead-birth.txt")
    data = np.loadtxt(path)
    path.write_text("")
    np.savetxt(path, edit(data))


class TestBadChains:
    def test_missing_file(self, tmp_path):
        message = r"no chain files found for run A of problem '21cm'.*nowhere"
        with pytest.raises(ChainError, match=message):
            evidence_from_chains(tmp_path / "nowhere", *roots("0.2")[1:],
                                 prior=twentyone_cm_problem())

    def test_empty_file(self, tmp_path):
        root = copy_run(tmp_path)
        Path(str(root) + "_dead-birth.txt").write_text("")
        with pytest.raises(ChainError, match="empty"):
            evidence_from_chains(root, *roots("0.2")[1:])

    def test_no_dead_points(self, tmp_path):
        root = copy_run(tmp_path)
        # Every point born and dead at -inf is an invalid point that
        # anesthetic drops, which leaves no dead points.
        edit_dead(root, lambda d: np.column_stack([d[:3, :-2], np.full((3, 2), -1e30)]))
        with pytest.raises(ChainError, match="no dead points|-inf on every"):
            evidence_from_chains(root, *roots("0.2")[1:])

    @pytest.mark.parametrize("bad", [np.nan, np.inf])
    def test_non_finite_logL(self, tmp_path, bad):
        root = copy_run(tmp_path)

        def corrupt(data):
            data[-5, -2] = bad
            return data

        edit_dead(root, corrupt)
        with pytest.raises(ChainError, match=r"(NaN|\+inf).*|.*(NaN|\+inf)") as info:
            evidence_from_chains(root, *roots("0.2")[1:], prior=twentyone_cm_problem())
        assert str(root) in str(info.value) and "21cm" in str(info.value)

    def test_paramnames_do_not_match_columns(self, tmp_path):
        root = copy_run(tmp_path)
        path = Path(str(root) + ".paramnames")
        path.write_text("\n".join(path.read_text().splitlines()[:3]) + "\n")
        with pytest.raises(ChainError, match="does not match its parameter names"):
            evidence_from_chains(root, *roots("0.2")[1:])

    def test_outside_prior_support(self):
        # The noise levels of the runs reach 0.1 K; a prior ending at 0.05 K
        # is not the prior they were run on.
        with pytest.raises(ChainError, match="outside the support of the problem"):
            evidence_from_chains(*roots("0.2"), prior=twentyone_cm_problem(0.05))

    def test_prior_draws_from_another_prior_warn(self):
        prior = Independent(
            A=Uniform(0.0, 40.0), nu0=Uniform(0.0, 900.0), w=Uniform(0.0, 400.0),
            sigma_A=Uniform(0.0, 1.0), sigma_B=Uniform(0.0, 1.0),
        )
        with pytest.warns(AccordWarning, match="do not follow the problem's prior"):
            evidence_from_chains(*roots("0.2"), n_samples=20, prior=prior,
                                 columns={"A": ["A", "nu0", "w", "sigma_A"],
                                          "B": ["A", "nu0", "w", "sigma_B"],
                                          "AB": list(prior.names)})

    def test_generic_names_need_a_problem(self):
        prior = twentyone_cm_problem().prior
        with pytest.raises(ChainError, match="does not know"):
            evidence_from_chains(*roots("0.2"), prior=prior)

    def test_wrong_column_count(self):
        with pytest.raises(ChainError, match="in number"):
            evidence_from_chains(*roots("0.2"), prior=twentyone_cm_problem(),
                                 columns={"A": ["A", "nu0", "w"]})

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="n_samples"):
            evidence_from_chains(*roots("0.2"), n_samples=1)
        with pytest.raises(TypeError, match="prior must be"):
            evidence_from_chains(*roots("0.2"), prior="uniform")

    def test_errors_are_accord_errors(self):
        assert issubclass(ChainError, AccordError)
        assert issubclass(SamplingError, AccordError)


# --- nested sampling --------------------------------------------------------

# Small settings that keep each nautilus problem (three runs) near 10 s.
FAST_NAUTILUS = dict(n_live=300, sampler_kwargs={"n_networks": 1},
                     run_kwargs={"n_eff": 1500})


class TestSampler:
    @pytest.mark.parametrize("n_nuisance", [0, 1])
    def test_nautilus_matches_exact(self, n_nuisance):
        pair = GaussianPair(n_nuisance=n_nuisance)
        result = run_nested_sampling(pair.problem(), seed=2, **FAST_NAUTILUS)
        assert result.source == "nautilus" and len(result.runs) == 1
        assert_close_to_exact(result, pair)

    @pytest.mark.slow
    def test_nautilus_matches_linear_gaussian_paper(self):
        linear = pytest.importorskip("accord.linear")
        model = linear.LinearGaussian.paper(1.0)
        x_A, x_B = model.x_A_obs, model.x_B_obs
        result = run_nested_sampling(model.problem(), seed=4, **FAST_NAUTILUS)
        exact = {"A": model.logZ_A(x_A), "B": model.logZ_B(x_B),
                 "AB": model.logZ_AB(x_A, x_B)}
        for label, value in exact.items():
            error = getattr(result, f"logZ_{label}_err")
            difference = abs(getattr(result, f"logZ_{label}") - float(value))
            assert difference < 3 * error + FLOOR
        logR = float(model.logR(x_A, x_B))
        assert abs(result.logR - logR) < 3 * result.logR_err + FLOOR

    def test_dynesty_matches_exact(self):
        pair = GaussianPair(n_nuisance=1)
        result = run_nested_sampling(pair.problem(), sampler="dynesty", n_live=150,
                                     seed=2, run_kwargs={"dlogz": 0.5})
        assert_close_to_exact(result, pair)

    def test_seeded_and_repeats(self):
        problem = GaussianPair().problem()
        options = dict(sampler="dynesty", n_live=100, seed=5, n_repeats=2,
                       run_kwargs={"dlogz": 0.5})
        first = run_nested_sampling(problem, **options)
        second = run_nested_sampling(problem, **options)
        assert first == second
        assert len(first.runs) == 2 and first.logR_scatter is not None
        assert first.runs[0]["logR"] != first.runs[1]["logR"]

    def test_checkpoint_resume(self, tmp_path):
        problem = GaussianPair().problem()
        options = dict(seed=5, checkpoint_dir=tmp_path, **FAST_NAUTILUS)
        first = run_nested_sampling(problem, **options)
        assert len(list(tmp_path.glob("gaussian_nautilus_*_0.hdf5"))) == 3
        resumed = run_nested_sampling(problem, **options)
        assert resumed.logR == pytest.approx(first.logR)

    def test_split_correlated_block(self):
        cov = [[1.0, 0.5], [0.5, 1.0]]
        prior = MultivariateNormal([0.0, 0.0], cov, names=["a", "b"])
        problem = Problem(
            prior, lambda t, r: t[:, :1], lambda t, r: t, params_A=["a"],
            x_A_obs=[0.1], x_B_obs=[0.1, 0.2],
            log_likelihood_A=lambda t, x: -0.5 * ((t[:, 0] - x[0]) / 0.1) ** 2,
            log_likelihood_B=lambda t, x: -0.5 * np.sum((t - x) ** 2, axis=1),
        )
        with pytest.raises(SamplingError, match="splits the prior's correlated block"):
            run_nested_sampling(problem)

    def test_nan_likelihood(self):
        pair = GaussianPair()
        problem = pair.problem()
        problem.log_likelihood_B = lambda theta, x: np.full(len(theta), np.nan)
        with pytest.raises(SamplingError, match="run B of problem 'gaussian' is nan"):
            run_nested_sampling(problem, sampler="dynesty", n_live=20, seed=0)

    def test_bad_options(self):
        problem = GaussianPair().problem()
        with pytest.raises(ValueError, match="sampler must be one of"):
            run_nested_sampling(problem, sampler="multinest")
        with pytest.raises(ValueError, match="n_repeats"):
            run_nested_sampling(problem, n_repeats=0)
        problem.log_likelihood_A = None
        with pytest.raises(ValueError, match="log_likelihood_A"):
            run_nested_sampling(problem)

    def test_nautilus_refuses_a_one_parameter_run_before_sampling(self):
        problem = GaussianPair().problem()
        problem.params_B = problem.params_B[:1]
        with pytest.raises(ValueError, match="run B .* has one; use sampler='dynesty'"):
            run_nested_sampling(problem, sampler="nautilus")


# --- cross-check ------------------------------------------------------------


class TestCrossCheck:
    def test_agree(self):
        assert cross_check(8.6, 0.6, 8.0, 0.5)

    def test_disagree_warns_with_both_numbers(self):
        with pytest.warns(AccordWarning, match=r"8\.600.*4\.000"):
            assert not cross_check(8.6, 0.6, 4.0, 0.5)

    def test_bad_input(self):
        with pytest.raises(ValueError, match="log_r_network_spread"):
            cross_check(1.0, 0.1, 1.0, -1.0)


def test_truncated_dead_points_file_is_refused(tmp_path):
    # A dead-points file cut to a third (a killed run) still parses, but its
    # evidence disagrees with the one PolyChord recorded in the .stats file.
    import shutil

    source = DATA
    for name in ("exp1", "exp2_0.2", "joint_0.2"):
        shutil.copytree(source / name, tmp_path / name)
    dead = tmp_path / "joint_0.2" / "test_dead-birth.txt"
    lines = dead.read_text().splitlines(keepends=True)
    dead.write_text("".join(lines[: len(lines) // 3]))
    roots = [str(tmp_path / name / "test") for name in ("exp1", "exp2_0.2", "joint_0.2")]
    with pytest.raises(ChainError, match="truncated or belongs to another run"):
        evidence_from_chains(*roots, n_samples=200, seed=0)
