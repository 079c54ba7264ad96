"""Calibration against the exact concordance distribution of linear problems."""

import json

import numpy as np
import pytest
from scipy import stats

import accord
from accord import AccordWarning, calibrate, simulate, train
from accord.linear import LinearGaussian

N_CAL = 5000


@pytest.fixture(scope="module")
def setup():
    model = LinearGaussian.paper(sigma=1.0, seed=0)
    problem = model.problem()
    estimator = train(problem, 20_000, seed=3, n_members=2)
    return model, problem, estimator


@pytest.fixture(scope="module")
def result(setup):
    model, problem, estimator = setup
    log_r_obs = float(model.logR(model.x_A_obs, model.x_B_obs))
    return calibrate(estimator, problem, log_r_obs=log_r_obs, log_r_obs_err=0.3,
                     n_calibration=N_CAL, seed=1)


def test_tension_matches_the_exact_answer(setup, result):
    # |P_net - P_exact| is bounded by the binomial error of P from N_CAL pairs
    # (4 sigma) plus the shift a log R error of 0.25 (the RMSE bound of the
    # estimator tests) causes: at most max density x 0.25, with the density
    # of log R below 0.35 for this problem.
    model, _, _ = setup
    exact = model.tension(result.log_r_obs)
    tolerance = 4 * np.sqrt(exact.P * (1 - exact.P) / N_CAL) + 0.35 * 0.25
    assert abs(result.P - exact.P) < tolerance
    assert result.log_r_obs_source == "given"


def test_error_budget_is_kept_apart_by_source(result):
    for budget in (result.T_err, result.C_err):
        assert set(budget) == {"log_r_obs", "members", "finite_sample", "total"}
        assert budget["total"] == pytest.approx(np.sqrt(
            budget["log_r_obs"] ** 2 + budget["members"] ** 2 + budget["finite_sample"] ** 2))
    assert result.T_err["log_r_obs"] > 0 and result.T_err["members"] > 0
    assert result.T_members.shape == (2,) and result.log_r_members.shape == (2, N_CAL)


def test_finite_sample_error_matches_its_binomial_origin(result):
    sigma_P = np.sqrt(result.P * (1 - result.P) / N_CAL)
    expected = sigma_P / (2 * stats.norm.pdf(result.T))
    assert result.T_err["finite_sample"] == pytest.approx(expected)


def test_coverage_of_concordant_observations(setup):
    # 200 concordant observations, each with its exact log R_obs, calibrated
    # against the network's concordance sample: T > 2 must occur 4.55 % of
    # the time, within 3 binomial standard errors (sqrt(0.0455 x 0.9545 / 200)
    # = 1.5 %). The observations are simulated from their own seed, apart from
    # the calibration pairs.
    model, problem, estimator = setup
    result = calibrate(estimator, problem, log_r_obs=0.0, n_calibration=N_CAL, seed=2)
    obs = simulate(problem, 200, seed=12345)
    log_r_obs = model.logR(obs.x_A, obs.x_B)
    T = np.array([accord.tension_from_sample(v, result.log_r).T for v in log_r_obs])
    fraction = np.mean(T > 2)
    assert abs(fraction - 0.0455) < 3 * np.sqrt(0.0455 * 0.9545 / 200)
    # The same P are uniform: a KS test with 200 values at the 1e-3 level.
    P = np.array([accord.tension_from_sample(v, result.log_r).P for v in log_r_obs])
    assert stats.kstest(P, "uniform").pvalue > 1e-3


def test_same_seed_gives_the_same_tension(setup):
    _, problem, estimator = setup
    a = calibrate(estimator, problem, log_r_obs=5.0, n_calibration=1000, seed=7)
    b = calibrate(estimator, problem, log_r_obs=5.0, n_calibration=1000, seed=7)
    c = calibrate(estimator, problem, log_r_obs=5.0, n_calibration=1000, seed=8)
    assert a.T == b.T and np.array_equal(a.log_r, b.log_r)
    assert not np.array_equal(a.log_r, c.log_r)


def test_network_estimate_is_labelled(setup):
    model, problem, estimator = setup
    result = calibrate(estimator, problem, n_calibration=1000, seed=1)
    assert result.log_r_obs_source == "network"
    assert "network estimate" in result.summary()
    assert result.log_r_obs == pytest.approx(
        float(estimator.log_ratio(model.x_A_obs, model.x_B_obs)))


def test_observation_outside_the_sample_is_a_bound(setup):
    _, problem, estimator = setup
    with pytest.warns(AccordWarning, match="only a lower"):
        result = calibrate(estimator, problem, log_r_obs=-1e3, n_calibration=500, seed=1)
    assert result.T_bound == "lower" and np.isfinite(result.T)
    assert "> " in result.summary()


def test_calibration_sample_is_not_the_training_sample(setup):
    _, problem, estimator = setup
    result = calibrate(estimator, problem, log_r_obs=5.0, n_calibration=1000)
    training = simulate(problem, 1000, seed=np.random.SeedSequence(3).spawn(2)[0])
    trained_on = estimator.log_ratio(training.x_A, training.x_B)
    assert not np.isin(result.log_r, trained_on).any()


def test_result_is_json_ready(result, tmp_path):
    path = result.save_json(tmp_path / "r.json", samples=True)
    data = json.loads(path.read_text())
    assert data["T"] == result.T and len(data["log_r"]) == N_CAL


def test_bad_arguments(setup):
    _, problem, estimator = setup
    with pytest.raises(ValueError, match="log_r_obs must be finite"):
        calibrate(estimator, problem, log_r_obs=np.nan)
    with pytest.raises(ValueError, match="log_r_obs_err must be a finite number >= 0"):
        calibrate(estimator, problem, log_r_obs=1.0, log_r_obs_err=-1.0)
    with pytest.raises(ValueError, match="n_calibration must be an integer >= 100"):
        calibrate(estimator, problem, log_r_obs=1.0, n_calibration=10)
    with pytest.raises(TypeError, match="RatioEstimator"):
        calibrate("model", problem, log_r_obs=1.0)
    other = LinearGaussian.paper(sigma=1.0, n_params=2, seed=0).problem()
    with pytest.raises(ValueError, match="trained on parameters"):
        calibrate(estimator, other, log_r_obs=1.0)


def test_observation_outside_the_simulations_is_loud(setup):
    model, _, estimator = setup
    far = model.problem(x_A_obs=model.x_A_obs + 100.0, x_B_obs=model.x_B_obs)
    with pytest.warns(AccordWarning, match="x_A_obs lies outside the simulated data"):
        calibrate(estimator, far, log_r_obs=1.0, n_calibration=500, seed=1)


def test_calibrating_a_problem_with_another_prior_is_refused(setup):
    # A concordance distribution belongs to one prior: an estimator trained on
    # Sigma = 1 must not calibrate a problem with Sigma = 100.
    _, _, estimator = setup
    wider = LinearGaussian.paper(sigma=100.0, seed=0).problem()
    with pytest.raises(ValueError, match="differs from the one the estimator was trained on"):
        calibrate(estimator, wider, log_r_obs=1.0, n_calibration=500)


@pytest.mark.filterwarnings("ignore::accord.AccordWarning")
def test_rerun_after_changing_the_problem_recomputes_every_stage(tmp_path):
    # A rerun into the same directory reused simulations and networks made
    # with another prior; the stored model fingerprint now prevents it.
    settings = accord.TrainingSettings(n_members=1, max_epochs=2)
    narrow = LinearGaussian.paper(sigma=1.0, n_data=10, seed=0)
    wide = LinearGaussian.paper(sigma=100.0, n_data=10, seed=0)
    kwargs = dict(n_simulations=500, n_calibration=200, settings=settings, figures=False)
    first = accord.run(narrow.problem(), tmp_path, log_r_obs=1.0, **kwargs)
    again = accord.run(narrow.problem(), tmp_path, log_r_obs=1.0, **kwargs)
    assert "simulate" in again.reused and "train" in again.reused
    other = accord.run(wide.problem(), tmp_path, log_r_obs=1.0, **kwargs)
    assert "simulate" not in other.reused and "train" not in other.reused
    assert other.calibration.T != first.calibration.T
