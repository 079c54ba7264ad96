"""T, C and s_R from probabilities and from finite samples (docs/method.md)."""

import numpy as np
import pytest
from scipy import stats

from accord.stats import tension_from_p, tension_from_sample


def test_worked_check():
    # log R ~ N(5, 1) under concordance and log R_obs = 5.87 give T = 0.24, C = 1.30.
    result = tension_from_p(stats.norm.cdf(5.87, loc=5.0, scale=1.0))
    assert round(result.T, 2) == 0.24
    assert round(result.C, 2) == 1.30


def test_worked_check_from_a_sample():
    # With N = 10^6 draws the binomial error of P = 0.81 is 4e-4, which moves
    # T by about 1e-3 and C by about 2e-3.
    sample = np.random.default_rng(0).normal(5.0, 1.0, 1_000_000)
    result = tension_from_sample(5.87, sample)
    assert abs(result.T - 0.24) < 0.01
    assert abs(result.C - 1.30) < 0.01
    assert result.T_bound is None and result.C_bound is None


def test_half_normal_tension_under_concordance():
    # P is uniform under concordance, so Prob(T > 2) = 2 (1 - Phi(2)) = 4.55 %.
    P = np.random.default_rng(1).uniform(size=200_000)
    T = stats.norm.isf(P / 2)
    frac = np.mean(T > 2)
    assert abs(frac - 0.0455) < 4 * np.sqrt(0.0455 * 0.9545 / P.size)


def test_outside_sample_gives_a_bound_not_infinity():
    sample = np.arange(999.0)
    low = tension_from_sample(-1.0, sample)
    assert low.T_bound == "lower" and np.isfinite(low.T)
    assert low.T == pytest.approx(stats.norm.isf(1 / (2 * 1000)))
    high = tension_from_sample(1e6, sample)
    assert high.C_bound == "lower" and np.isfinite(high.C) and np.isfinite(high.s_R)


def test_monte_carlo_p_value_convention():
    # k = 10 of N = 99 values below: the p-value is (k + 1) / (N + 1) = 0.11.
    sample = np.arange(99.0)
    result = tension_from_sample(9.5, sample)
    assert result.T == pytest.approx(stats.norm.isf(0.11 / 2))
    assert result.C == pytest.approx(stats.norm.isf((99 - 10 + 1) / 100 / 2))


@pytest.mark.parametrize("obs, sample, match", [
    (np.nan, [1.0, 2.0], "log_r_obs must be finite"),
    (1.0, [], "non-empty"),
    (1.0, [1.0, np.inf], "NaN or infinite"),
])
def test_bad_input(obs, sample, match):
    with pytest.raises(ValueError, match=match):
        tension_from_sample(obs, np.asarray(sample))
    with pytest.raises(ValueError, match="P must lie in"):
        tension_from_p(1.5)
