"""Exchangeable components: nested sampling of one ordering, same evidences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from accord import Problem
from accord._sampler import SamplingError, ordered
from accord.evidence import run_nested_sampling
from accord.priors import Independent, Uniform

# Width of every Gaussian factor of the toy likelihoods; the modes sit at
# least six widths inside the unit prior, so truncation is below 1e-8.
WIDTH = 0.05
MU_A, MU_B = 0.5, 0.55
MODES = ((0.3, 0.7), (0.7, 0.3))


def _simulate_A(theta, rng):
    return theta[:, :3] + WIDTH * rng.standard_normal((len(theta), 3))


def _simulate_B(theta, rng):
    return theta[:, :1] + WIDTH * rng.standard_normal((len(theta), 1))


def _log_likelihood_A(theta, x):
    """Two mirror-image modes in (a1, a2) times a Gaussian in mu."""
    mu, a1, a2 = theta[:, 0], theta[:, 1], theta[:, 2]
    modes = [stats.norm.logpdf(a1, m1, WIDTH) + stats.norm.logpdf(a2, m2, WIDTH)
             for m1, m2 in MODES]
    return stats.norm.logpdf(mu, MU_A, WIDTH) + np.logaddexp(*modes)


def _log_likelihood_B(theta, x):
    return stats.norm.logpdf(theta[:, 0], MU_B, WIDTH)


def _lopsided_A(theta, x):
    """Not symmetric: only one of the two modes."""
    mu, a1, a2 = theta[:, 0], theta[:, 1], theta[:, 2]
    return (stats.norm.logpdf(mu, MU_A, WIDTH) + stats.norm.logpdf(a1, 0.3, WIDTH)
            + stats.norm.logpdf(a2, 0.7, WIDTH))


def _prior(**overrides):
    parts = {"mu": Uniform(0, 1), "a1": Uniform(0, 1), "a2": Uniform(0, 1),
             "c": Uniform(0, 1)}
    parts.update(overrides)
    return Independent(**parts)


def _problem(exchangeable=((("a1",), ("a2",)),), log_likelihood_A=_log_likelihood_A,
             prior=None):
    return Problem(prior or _prior(), _simulate_A, _simulate_B,
                   params_A=["mu", "a1", "a2"], params_B=["mu", "c"],
                   x_A_obs=np.zeros(3), x_B_obs=np.zeros(1),
                   log_likelihood_A=log_likelihood_A,
                   log_likelihood_B=_log_likelihood_B,
                   exchangeable=exchangeable, name="toy")


# Closed forms: each mode integrates to one over the unit square, the prior
# densities are one, and c is unconstrained.
LOG_Z_A = math.log(2.0)
LOG_Z_B = 0.0
LOG_R = float(stats.norm.logpdf(MU_A - MU_B, 0.0, WIDTH * math.sqrt(2.0)))


def test_ordered_is_uniform_on_the_decreasing_region():
    n, k = 200_000, 3
    cube = np.random.default_rng(0).uniform(size=(n, k))
    values = ordered(cube)
    assert np.all(np.diff(values, axis=1) <= 0)
    assert np.all((values >= 0) & (values <= 1))
    # Order statistics of k uniforms, largest first: E[v_j] = (k + 1 - j) / (k + 1),
    # Var = a b / ((a + b)^2 (a + b + 1)) with the Beta(a, b) of each.
    for j in range(k):
        a, b = k - j, j + 1
        sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)) / n)
        assert abs(values[:, j].mean() - a / (a + b)) < 5 * sd
    # Uniform there: the fraction below a symmetric cut equals the cube's.
    inside = np.sum(cube**2, axis=1) < 1.0
    inside_ordered = np.sum(values**2, axis=1) < 1.0
    p = inside.mean()
    assert abs(inside_ordered.mean() - p) < 5 * math.sqrt(2 * p * (1 - p) / n)


def test_nested_sampling_of_one_ordering_keeps_every_evidence():
    problem = _problem()
    assert problem.exchangeable == (((("a1",), ("a2",))),)  # one group of two
    result = run_nested_sampling(problem, sampler="nautilus", n_live=300, seed=3,
                                 sampler_kwargs={"n_networks": 1},
                                 run_kwargs={"n_eff": 2000})
    floor = 0.05  # nautilus's own bias at these settings
    for label, exact in (("A", LOG_Z_A), ("B", LOG_Z_B)):
        error = getattr(result, f"logZ_{label}_err")
        assert abs(getattr(result, f"logZ_{label}") - exact) < 3 * error + floor, label
    assert abs(result.logR - LOG_R) < 3 * result.logR_err + floor


def test_a_likelihood_that_is_not_symmetric_is_refused():
    problem = _problem(log_likelihood_A=_lopsided_A)
    with pytest.raises(SamplingError, match=r"exchangeable, but a .* changes the "
                                            r"log-likelihood of run A"):
        run_nested_sampling(problem, sampler="nautilus", n_live=50, seed=0)


@pytest.mark.parametrize("exchangeable, match", [
    ("a1", "got a string"),
    (5, "exchangeable must be a sequence of groups"),
    ([None], "exchangeable must be a sequence of groups"),
    (["a1"], "exchangeable must be a sequence of groups"),
    ([[1, 2]], "exchangeable must be a sequence of groups"),
    ([[b"a1", b"a2"]], "exchangeable must be a sequence of groups"),
    ([[("a1",)]], "at least two"),
    ([[("a1", "mu"), ("a2",)]], "differ in length"),
    ([[("a1",), ("zz",)]], r"\['zz'\]"),
    ([[("a1",), ("a1",)]], "more than once"),
    ([[("a1",), ("a2",)], [("a2",), ("mu",)]], "more than once"),
    ([[("a1",), ("c",)]], r"\['a1', 'c'\] in the same place .* different experiments"),
])
def test_malformed_declarations_are_named(exchangeable, match):
    with pytest.raises((TypeError, ValueError), match=match):
        _problem(exchangeable=exchangeable)


def test_components_with_different_priors_are_refused():
    with pytest.raises(ValueError, match=r"\['a1', 'a2'\] have different priors"):
        _problem(prior=_prior(a2=Uniform(0, 2)))


def test_without_a_declaration_nothing_changes():
    assert _problem(exchangeable=None).exchangeable == ()


def test_the_sampler_sees_one_ordering_only():
    from accord._sampler import _Transform

    problem = _problem()
    columns = problem.indices(problem.params_A)
    keys = (problem.indices(["a1", "a2"]),)
    cube = np.random.default_rng(1).uniform(size=(1000, len(columns)))
    values = _Transform(problem.prior, columns, keys)(cube)
    assert np.all(values[:, 1] >= values[:, 2])
    np.testing.assert_allclose(values[:, 0], cube[:, 0], rtol=1e-12)


def _cyclic_only(theta, x):
    """Unchanged by a cyclic shift of (a1, a2, c3), not by a swap."""
    a1, a2, a3 = theta[:, 1], theta[:, 2], theta[:, 3]
    return 50.0 * (a1 - a2) * (a2 - a3) * (a3 - a1)


def _in_single_precision(theta, x):
    """Symmetric, but summed in float32: permutations differ in the last bits."""
    a = theta[:, 1:4].astype(np.float32)
    return np.asarray(-(a[:, 0] ** 2 + a[:, 1] ** 2 + a[:, 2] ** 2) * 1e3, dtype=float)


def _three(log_likelihood_A):
    prior = Independent(mu=Uniform(0, 1), a1=Uniform(0, 1), a2=Uniform(0, 1),
                        a3=Uniform(0, 1))
    return Problem(prior, lambda t, r: t[:, :4], lambda t, r: t[:, :1],
                   params_A=["mu", "a1", "a2", "a3"], params_B=["mu"],
                   x_A_obs=np.zeros(4), x_B_obs=np.zeros(1),
                   log_likelihood_A=log_likelihood_A,
                   log_likelihood_B=_log_likelihood_B,
                   exchangeable=[["a1", "a2", "a3"]], name="three")


def test_a_symmetry_under_cyclic_shifts_only_is_refused_before_sampling():
    from accord._sampler import check_symmetries

    with pytest.raises(SamplingError, match="a swap of them changes"):
        check_symmetries(_three(_cyclic_only), "A")


def test_single_precision_likelihoods_pass_the_check():
    from accord._sampler import check_symmetries

    check_symmetries(_three(_in_single_precision), "A")


def test_components_may_mix_shared_and_own_parameters_place_by_place():
    prior = Independent(s1=Uniform(0, 1), s2=Uniform(0, 1), n1=Uniform(0, 1),
                        n2=Uniform(0, 1))
    problem = Problem(prior, lambda t, r: t, lambda t, r: t[:, :2],
                      params_A=["s1", "s2", "n1", "n2"], params_B=["s1", "s2"],
                      exchangeable=[[("s1", "n1"), ("s2", "n2")]], name="mixed")
    assert problem.exchangeable == ((("s1", "n1"), ("s2", "n2")),)


def test_checkpoints_of_another_declaration_are_never_resumed():
    from accord._sampler import checkpoint_stem

    stems = {checkpoint_stem(_problem(exchangeable=declaration))
             for declaration in (None, [[("a1",), ("a2",)]], [[("a2",), ("a1",)]])}
    assert len(stems) == 3
    assert "toy" in stems


def test_an_interrupt_a_library_swallows_still_stops_the_run():
    import os
    import signal

    from accord._sampler import _interrupts_kept

    swallowed = []
    with pytest.raises(KeyboardInterrupt):
        with _interrupts_kept():
            try:  # what scikit-learn's network training does inside nautilus
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):
                    pass
            except KeyboardInterrupt:
                swallowed.append(True)
    assert swallowed == [True]
