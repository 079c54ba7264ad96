"""Tests of accord.examples: the 21-cm radiometers and the bump hunt."""

from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, stats

import accord
from accord.examples import (
    bump,
    bump_problem,
    cm21,
    cm21_problem,
    job,
    load_bump,
    load_cm21,
)
from accord.examples.job import PAPER_CM21, polychord_evidence, run_bump, run_cm21
from accord.examples.plots import (
    plot_bump_spectra,
    plot_cm21_spectra,
    plot_observed_cdf,
    plot_observed_concordance,
    plot_shared_posterior,
)
from accord.pipeline import PosteriorSamples
from accord.priors import as_rng

ROOT = Path(__file__).resolve().parent.parent
POLYCHORD = Path(accord.__file__).parent / "data" / "cm21" / "polychord"

# sha256 of the observed spectra of the PolyChord fixtures, as shipped
# beside the runs; the package's copies must be those files, byte for byte.
FIXTURE_SHA256 = {
    "exp1_data_truth.txt":
        "7380fbca5f60e88d4d506f61b3d49a70314030a465885b2197824ebd88a9c1b7",
    "exp2_data_0.15.txt":
        "49292c7a6e57f5f4a6479a79bfc990271310c33b886aeeac370bb142a9b5949c",
    "exp2_data_0.2.txt":
        "be316e71c824418460e0abb6ba4c2aeffa7b3f14cb29cca527e7aa5f0e59a004",
    "exp2_data_0.25.txt":
        "04fd0bc0134284252261edadaeb46fc1d8640f1858a035ca6369f5e8ddad8fea",
}


def _dead_points(folder: str) -> np.ndarray:
    return np.loadtxt(POLYCHORD / folder / "test_dead-birth.txt")


@pytest.fixture(scope="module", params=["cm21", "bump"])
def problem(request):
    return cm21_problem(0.2) if request.param == "cm21" else bump_problem()


# --------------------------------------------------------------------------
# Both examples


class TestShapes:
    @pytest.mark.parametrize("n", [1, 7])
    def test_simulators_return_rows(self, problem, n):
        theta = problem.prior.sample(n, np.random.default_rng(0))
        x_A, x_B = problem.simulate_pairs(theta, 1)
        assert x_A.shape == (n, 100) and x_B.shape == (n, 100)
        assert np.all(np.isfinite(x_A)) and np.all(np.isfinite(x_B))

    def test_likelihood_vectorised_over_theta_and_data(self, problem):
        rng = np.random.default_rng(2)
        theta = problem.prior.sample(6, rng)
        x_A, _ = problem.simulate_pairs(theta, rng)
        one_data = problem.log_likelihood_A(theta, problem.x_A_obs)
        rows = [problem.log_likelihood_A(theta[i:i + 1], problem.x_A_obs)[0]
                for i in range(6)]
        assert one_data.shape == (6,)
        np.testing.assert_allclose(one_data, rows, rtol=1e-12)
        paired = problem.log_likelihood_A(theta, x_A)
        single = [problem.log_likelihood_A(theta[i], x_A[i]) for i in range(6)]
        np.testing.assert_allclose(paired, single, rtol=1e-12)

    def test_likelihood_rejects_wrong_length(self, problem):
        theta = problem.prior.sample(2, 0)
        with pytest.raises(ValueError, match=r"x must have shape \(\*, 100\)"):
            problem.log_likelihood_B(theta, np.zeros(99))

    def test_same_seed_same_data(self, problem):
        theta = problem.prior.sample(5, 3)
        first = problem.simulate_pairs(theta, 11)
        again = problem.simulate_pairs(theta, 11)
        other = problem.simulate_pairs(theta, 12)
        for a, b, c in zip(first, again, other):
            np.testing.assert_array_equal(a, b)
            assert not np.array_equal(a, c)

    def test_pickles(self, problem):
        theta = problem.prior.sample(4, 0)
        for fn in (problem.simulate_A, problem.simulate_B):
            clone = pickle.loads(pickle.dumps(fn))
            np.testing.assert_array_equal(clone(theta, np.random.default_rng(5)),
                                          fn(theta, np.random.default_rng(5)))
        for fn, x in [(problem.log_likelihood_A, problem.x_A_obs),
                      (problem.log_likelihood_B, problem.x_B_obs)]:
            np.testing.assert_array_equal(pickle.loads(pickle.dumps(fn))(theta, x),
                                          fn(theta, x))

    def test_experiments_ignore_the_others_nuisance(self, problem):
        # Nested sampling fills the other experiment's parameters with the
        # prior median: the likelihood must not depend on them.
        theta = problem.prior.sample(3, 4)
        moved = theta.copy()
        moved[:, problem.indices(problem.nuisance_B)] = \
            problem.prior.sample(3, 5)[:, problem.indices(problem.nuisance_B)]
        np.testing.assert_array_equal(problem.log_likelihood_A(theta, problem.x_A_obs),
                                      problem.log_likelihood_A(moved, problem.x_A_obs))


# --------------------------------------------------------------------------
# 21-cm radiometers


class TestCM21:
    def test_channel_grids(self):
        np.testing.assert_allclose(cm21.FREQUENCIES_A[[0, 1, -1]],
                                   [60.0, 60.0 + 30.0 / 99, 90.0])
        np.testing.assert_allclose(cm21.FREQUENCIES_B[[0, -1]], [80.0, 120.0])

    @pytest.mark.parametrize("name", sorted(FIXTURE_SHA256))
    def test_shipped_spectra_are_the_fixture_files(self, name):
        data = (resources.files("accord") / "data" / "cm21" / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == FIXTURE_SHA256[name]

    @pytest.mark.parametrize("amplitude", cm21.AMPLITUDES_B)
    def test_load(self, amplitude):
        x_A, x_B = load_cm21(amplitude)
        problem = cm21_problem(amplitude)
        assert x_A.shape == x_B.shape == (100,)
        np.testing.assert_array_equal(problem.x_B_obs, x_B)
        # the trough of B's spectrum grows with its amplitude
        assert x_B[:15].mean() < 0

    def test_unknown_amplitude_names_the_argument(self):
        with pytest.raises(ValueError, match=r"amplitude_B must be one of"):
            cm21_problem(0.3)
        with pytest.raises(ValueError, match=r"amplitude_B"):
            load_cm21("0.2")

    @pytest.mark.parametrize("run, amplitude, columns", [
        ("exp1", 0.2, "A"), ("exp2_0.15", 0.15, "B"), ("exp2_0.25", 0.25, "B"),
        ("joint_0.2", 0.2, "AB")])
    def test_likelihood_reproduces_polychord(self, run, amplitude, columns):
        # Our likelihood on the shipped data, at PolyChord's best points, gives
        # PolyChord's log-likelihoods; the chains store parameters to about four
        # significant figures, so the agreement is at the 0.1 level only.
        problem = cm21_problem(amplitude)
        dead = _dead_points(run)
        best = dead[np.argsort(dead[:, -2])[-20:]]
        names = {"A": problem.params_A, "B": problem.params_B, "AB": problem.names}
        theta = np.tile(problem.prior.transform(np.full(5, 0.5)), (len(best), 1))
        theta[:, problem.indices(names[columns])] = best[:, :len(names[columns])]
        logL = 0.0
        if columns in ("A", "AB"):
            logL = logL + problem.log_likelihood_A(theta, problem.x_A_obs)
        if columns in ("B", "AB"):
            logL = logL + problem.log_likelihood_B(theta, problem.x_B_obs)
        np.testing.assert_allclose(logL, best[:, -2], atol=0.3)

    @pytest.mark.parametrize("run", ["exp1", "exp2_0.2", "joint_0.25"])
    def test_prior_matches_polychord_ranges(self, run):
        prior = cm21.cm21_prior()
        dead = _dead_points(run)
        k = dead.shape[1] - 2
        names = ("A", "nu0", "w", "sigma_A", "sigma_B")[:k]
        params = dead[:, :k]
        lows = np.array([c.low for c in prior.components])[:k]
        highs = np.array([c.high for c in prior.components])[:k]
        # every point inside our prior, and the points reach its edges
        assert np.all(params >= lows) and np.all(params <= highs), names
        margin = 0.05 * (highs - lows)
        assert np.all(params.min(0) < lows + margin)
        assert np.all(params.max(0) > highs - margin)
        # the first points of the run are prior draws: uniform, not log-uniform
        drawn = dead[dead[:, -1] < -1e29, :k]
        for j in range(k):
            u = (drawn[:, j] - lows[j]) / (highs[j] - lows[j])
            assert stats.kstest(u, "uniform").pvalue > 1e-3, names[j]

    def test_maximum_likelihood_near_truth(self):
        problem = cm21_problem(0.2)
        truth = np.array([cm21.TRUTH[n] for n in problem.names])
        x_A, x_B = problem.simulate_pairs(truth[None], 7)

        def negative(theta):
            return -(problem.log_likelihood_A(theta[None], x_A[0])
                     + problem.log_likelihood_B(theta[None], x_B[0]))[0]

        fit = optimize.minimize(negative, truth, method="Nelder-Mead",
                                options={"xatol": 1e-6, "fatol": 1e-8, "maxiter": 4000}).x
        # errors of the joint fit at this noise level: ~0.005 K, ~0.3 MHz,
        # ~0.3 MHz, ~0.002 K; allow four of them
        tolerance = np.array([0.02, 1.2, 1.2, 0.007, 0.007])
        assert np.all(np.abs(fit - truth) < tolerance), (fit, truth)

    def test_simulated_noise_level(self):
        problem = cm21_problem(0.2)
        theta = np.array([[0.2, 78.0, 10.0, 0.01, 0.05]])
        x_A, x_B = problem.simulate_pairs(np.repeat(theta, 200, 0), 0)
        radio_A = cm21.Radiometer(cm21.FREQUENCIES_A, [0, 1, 2, 3])
        radio_B = cm21.Radiometer(cm21.FREQUENCIES_B, [0, 1, 2, 4])
        # one noise parameter per experiment, in the simulator as in the likelihood
        assert np.std(x_A - radio_A.signal(theta)) == pytest.approx(0.01, rel=0.02)
        assert np.std(x_B - radio_B.signal(theta)) == pytest.approx(0.05, rel=0.02)

    def test_likelihood_is_gaussian_density(self):
        problem = cm21_problem(0.15)
        theta = problem.prior.sample(3, 9)
        radio = cm21.Radiometer(cm21.FREQUENCIES_B, [0, 1, 2, 4])
        expected = stats.norm.logpdf(problem.x_B_obs, radio.signal(theta),
                                     theta[:, [4]]).sum(-1)
        np.testing.assert_allclose(problem.log_likelihood_B(theta, problem.x_B_obs),
                                   expected, rtol=1e-12)


# --------------------------------------------------------------------------
# Bump hunt


class TestBump:
    def test_parameters(self):
        problem = bump_problem()
        assert len(problem.names) == 17
        assert problem.shared == ("mu",)
        assert len(problem.nuisance_A) == len(problem.nuisance_B) == 8

    def test_truth_follows_the_paper(self):
        truth = bump.TRUTH
        for label, fraction, width in [("A", 0.12, 1.5), ("B", 0.15, 2.0)]:
            a = [truth[f"a{k}_{label}"] for k in (1, 2, 3)]
            b = [truth[f"b{k}_{label}"] for k in (1, 2, 3)]
            assert truth[f"amp_{label}"] == pytest.approx(
                fraction * bump.background_maximum(a, b))
            assert truth[f"s_{label}"] == width
        assert truth["mu"] == 125.1
        prior = bump.bump_prior()
        theta = np.array([[truth[n] for n in prior.names]])
        assert np.isfinite(prior.log_prob(theta)[0])

    def test_background_maximum_on_grid(self):
        problem = bump_problem()
        theta = np.array([[bump.TRUTH[n] for n in problem.names]])
        collider = bump._colliders(problem.names)["A"]
        background = collider.background(theta)[0]
        assert background.max() == pytest.approx(
            bump.background_maximum([9, 7, 6], [6, 4, 2]))
        assert np.all(np.diff(background) < 0)

    def test_poisson_likelihood_equals_scipy(self):
        problem = bump_problem()
        theta = problem.prior.sample(4, 1)
        collider = bump._colliders(problem.names)["B"]
        rate = collider.expected(theta)
        expected = stats.poisson.logpmf(problem.x_B_obs, rate).sum(-1)
        np.testing.assert_allclose(problem.log_likelihood_B(theta, problem.x_B_obs),
                                   expected, rtol=1e-10)

    def test_counts_are_integers(self):
        problem = bump_problem()
        x_A, x_B = problem.simulate_pairs(problem.prior.sample(3, 0), 1)
        for x in (x_A, x_B, problem.x_A_obs, problem.x_B_obs):
            np.testing.assert_array_equal(x, np.round(x))
            assert np.all(x >= 0)

    def test_maximum_likelihood_near_truth(self):
        problem = bump_problem()
        truth = np.array([bump.TRUTH[n] for n in problem.names])

        def negative(mu):
            theta = np.repeat(truth[None], mu.size, 0)
            theta[:, 0] = mu
            return -(problem.log_likelihood_A(theta, problem.x_A_obs)
                     + problem.log_likelihood_B(theta, problem.x_B_obs))

        grid = np.linspace(110.0, 150.0, 4001)
        best = grid[np.argmax(-negative(grid))]
        # the shipped excess is strong: the mass is fixed to a fraction of a GeV
        assert abs(best - 125.1) < 0.5

    def test_shipped_data_regenerate_bit_for_bit(self):
        x_A, x_B = bump.make_observation(bump.SEED)
        shipped_A, shipped_B = load_bump()
        np.testing.assert_array_equal(x_A, shipped_A)
        np.testing.assert_array_equal(x_B, shipped_B)
        masses = np.loadtxt(resources.files("accord") / "data" / "bump" / "counts_A.txt",
                            usecols=0)
        np.testing.assert_allclose(masses, bump.MASSES, atol=1e-6)

    def test_data_script_check(self):
        script = ROOT / "benchmarks" / "make_bump_data.py"
        done = subprocess.run([sys.executable, str(script), "--check"], check=False,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


# --------------------------------------------------------------------------
# Figures


class TestPlots:
    def test_spectra(self):
        import matplotlib.pyplot as plt

        ax = plot_cm21_spectra(cm21_problem(0.15))
        assert len(ax.lines) == 4
        ax = plot_bump_spectra(bump_problem())
        assert len(ax.lines) == 6
        plt.close("all")

    def test_shared_posterior_from_weighted_samples(self, tmp_path):
        import matplotlib.pyplot as plt

        from accord.examples.plots import save_shared_posterior

        rng = np.random.default_rng(0)
        samples = {"A": (rng.normal(125, 1, 500), rng.uniform(0, 1, 500)),
                   "B": (rng.normal(126, 2, 300), None),
                   "AB": (rng.normal(125.3, 0.8, 400), np.ones(400))}
        ax = plot_shared_posterior(samples, truth=125.1)
        assert ax.get_xlabel() == "mu"
        path = save_shared_posterior(samples, tmp_path / "mu.png")
        assert path.stat().st_size > 0
        with pytest.raises(ValueError, match=r"samples\['A'\]"):
            plot_shared_posterior({"A": (np.ones(3), np.ones(4))})
        plt.close("all")


def test_observed_log_r_marked_on_concordance_and_cdf():
    import matplotlib.pyplot as plt

    log_r = np.random.default_rng(0).normal(2.0, 1.0, 500)
    marks = [("PolyChord", -4.9), ("network", 1.7, {"ls": "--"})]
    ax = plot_observed_concordance(log_r, marks)
    assert [line.get_label() for line in ax.lines] == ["PolyChord: -4.90",
                                                       "network: 1.70"]
    # an observation far outside the sample widens the axis to show it
    assert ax.get_xlim()[0] < -4.9
    ax = plot_observed_cdf(log_r, marks)
    assert ax.lines[1].get_label() == "PolyChord: P = 0"
    with pytest.raises(TypeError, match="observed must hold"):
        plot_observed_cdf(log_r, [3.0])
    with pytest.raises(ValueError, match="log R of 'x' must be finite"):
        plot_observed_concordance(log_r, [("x", np.nan)])
    plt.close("all")


def test_spectra_find_the_shipped_amplitude_under_any_name():
    import matplotlib.pyplot as plt

    ax = plot_cm21_spectra(cm21_problem(0.15, name="21cm"))
    assert "B: truth, A = 0.15 K" in [line.get_label() for line in ax.lines]
    plt.close("all")


# --------------------------------------------------------------------------
# The jobs behind `accord run 21cm` and `accord run bump`


class TestJobs:
    def test_packaged_polychord_runs_are_the_test_fixtures(self):
        package = resources.files("accord") / "data" / "cm21" / "polychord"
        folders = sorted(p.name for p in POLYCHORD.iterdir())
        assert len(folders) == 7
        for folder in folders:
            for path in (POLYCHORD / folder).iterdir():
                assert (package / folder / path.name).read_bytes() == path.read_bytes()

    @pytest.mark.parametrize("amplitude", cm21.AMPLITUDES_B)
    def test_polychord_evidence_gives_the_published_log_r(self, amplitude):
        evidence = polychord_evidence(amplitude, seed=0)
        paper = PAPER_CM21[amplitude]
        assert evidence.source == "chains"
        # the paper quotes one decimal; the mean over 1000 simulated prior
        # volumes is uncertain by 0.6 / sqrt(1000) = 0.02
        assert evidence.logR == pytest.approx(paper["logR"], abs=0.1)
        assert evidence.logR_err == pytest.approx(paper["logR_err"], abs=0.05)

    def test_the_three_cases_share_one_model(self):
        # accord.run reuses simulations and networks of a problem with the same
        # name and fingerprint; the observation is in neither
        problems = [cm21_problem(a, name="21cm") for a in cm21.AMPLITUDES_B]
        assert {p.name for p in problems} == {"21cm"}
        assert problems[0].fingerprint() == problems[2].fingerprint()
        assert not np.array_equal(problems[0].x_B_obs, problems[2].x_B_obs)
        assert cm21_problem(0.15).name == "21cm_B0.15"

    @pytest.mark.parametrize("call, message", [
        (lambda out: run_cm21("0.3", out), r"amplitude_B must be one of .* or 'all'"),
        (lambda out: run_cm21([0.2, 0.2], out), "distinct amplitudes"),
        (lambda out: run_cm21(0.2, out, observed="chains"), "observed must be"),
        (lambda out: run_cm21(0.2, out, n_simulations=5), "n_simulations must be"),
        (lambda out: run_bump(out, observed="polychord"),
         "observed must be 'network' or 'nautilus'"),
        (lambda out: run_bump(out, n_calibration=10), "n_calibration must be"),
    ])
    def test_bad_arguments_are_named(self, tmp_path, call, message):
        with pytest.raises(ValueError, match=message):
            call(tmp_path / "out")
        assert not (tmp_path / "out").exists()

    def test_bump_posterior_of_the_mass_is_drawn_from_the_runs(self, tmp_path):
        result = run_bump(tmp_path, n_simulations=300, n_calibration=200,
                          settings=accord.TrainingSettings(n_members=1, max_epochs=2),
                          observed="network", figures=False)
        rng = np.random.default_rng(1)
        names = ("mu", "amp_A")
        result.cases[0].run.posteriors = {
            label: PosteriorSamples(names, rng.normal([125.1, 480.0], 1.0, (200, 2)),
                                    np.full(200, -np.log(200)), np.zeros(200))
            for label in ("A", "B", "AB")}
        written = dict(job._write_figures(result))
        assert "posterior_mu.png" in written
        assert (tmp_path / "posterior_mu.png").stat().st_size > 1000


# --------------------------------------------------------------------------
# Count data


class _IntegerCollider(bump.Collider):
    """A collider whose simulator returns integer counts, as users' often do."""

    def simulate(self, theta, rng):
        return as_rng(rng).poisson(self.expected(theta))


@pytest.mark.parametrize("options", [{}, {"method": "classifier", "compress": 8}])
def test_integer_counts_work_with_the_estimators(options):
    base = bump_problem()
    names = base.names
    colliders = {label: _IntegerCollider(bump.MASSES, [names.index(f"{p}_{label}") for p
                                         in ("a1", "a2", "a3", "b1", "b2", "b3", "amp",
                                             "s")] + [names.index("mu")])
                 for label in ("A", "B")}
    assert colliders["A"].simulate(base.prior.sample(2, 0), 1).dtype.kind == "i"
    problem = accord.Problem(
        base.prior, colliders["A"].simulate, colliders["B"].simulate,
        params_A=base.params_A, params_B=base.params_B,
        x_A_obs=base.x_A_obs.astype(np.int64), x_B_obs=base.x_B_obs.astype(np.int64),
        name="counts")
    sims = accord.simulate(problem, 400, seed=0)
    assert sims.x_A.dtype == np.float64
    np.testing.assert_array_equal(sims.x_A, np.round(sims.x_A))

    estimator = accord.train(problem, seed=0, simulations=sims, n_members=1,
                             max_epochs=2, **options)
    counts = estimator.log_ratio(problem.x_A_obs.astype(np.int64),
                                 problem.x_B_obs.astype(np.int64))
    floats = estimator.log_ratio(base.x_A_obs, base.x_B_obs)
    assert np.isfinite(counts) and counts == floats
