"""Tests of accord.bao: shipped data, file errors, distances, r_d, the problem."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy import integrate, stats

from accord import AccordError, Problem
from accord.bao import (
    PARAMETERISATIONS,
    QUANTITIES,
    BAOData,
    BAODataError,
    bao_problem,
    combine,
    default_bao_problem,
    distances_over_rd,
    list_bao,
    load_bao,
    load_bao_files,
    select_bao,
    sound_horizon,
    theory_vector,
)
from accord.bao.cosmology import C_KM_S, background
from accord.priors import Independent, Uniform

SDSS_DR12_MEAN = """\
0.38 1.023406e+01 DM_over_rs
0.38 2.498058e+01 DH_over_rs
0.51 1.336595e+01 DM_over_rs
0.51 2.231656e+01 DH_over_rs
"""
SDSS_DR12_COV = """\
2.860520e-02 -4.939281e-02 1.489688e-02 -1.387079e-02
-4.939281e-02 5.307187e-01 -2.423513e-02 1.767087e-01
1.489688e-02 -2.423513e-02 4.147534e-02 -4.873962e-02
-1.387079e-02 1.767087e-01 -4.873962e-02 3.268589e-01
"""
TWO_ROW_MEAN = (
    "# [z] [value at z] [quantity]\n0.7 17.0 DM_over_rs\n0.7 20.0 DH_over_rs\n"
)
TWO_ROW_COV = "0.1 -0.05\n-0.05 0.3\n"


def write(tmp_path, mean: str, cov: str | None, stem: str = "set"):
    mean_path = tmp_path / f"{stem}_mean.txt"
    mean_path.write_text(mean)
    cov_path = tmp_path / f"{stem}_cov.txt"
    if cov is not None:
        cov_path.write_text(cov)
    return mean_path, cov_path


# ---------------------------------------------------------------------------
# Shipped data


@pytest.mark.parametrize("name", list_bao())
def test_every_shipped_set_loads(name):
    data = load_bao(name)

    assert data.label == name
    assert len(data) >= 1
    assert data.cov.shape == (len(data), len(data))
    assert set(data.quantities) <= set(QUANTITIES)
    assert np.all(data.z > 0) and np.all(data.values > 0)
    assert np.all(np.linalg.eigvalsh(data.cov) > 0)
    assert len(data.sources) == 2


def test_shipped_sets_cover_the_releases():
    assert len(list_bao(release="desi_dr1")) == 9
    assert len(list_bao(release="desi_dr2")) == 8
    assert list_bao(release="sdss_dr12") == ("sdss_dr12_lrg",)
    assert list_bao(release="sdss_dr16") == (
        "sdss_dr16_lrg_z0.70", "sdss_dr16_qso_z1.48"
    )
    assert list_bao(tracer="ELG") == ("desi_dr1_elg_z1.32", "desi_dr2_elg_z1.32")


def test_sdss_dr12_values_match_the_published_file():
    data = load_bao("sdss_dr12_lrg")

    np.testing.assert_array_equal(data.z, [0.38, 0.38, 0.51, 0.51])
    assert data.quantities == ("DM_over_rd", "DH_over_rd") * 2
    np.testing.assert_array_equal(data.values, [10.23406, 24.98058, 13.36595, 22.31656])
    assert data.cov[1, 3] == pytest.approx(0.1767087)


def test_desi_all_compilation_repeats_the_single_tracers():
    compiled = load_bao("desi_dr1_all")
    singles = select_bao("desi_dr1")

    assert len(singles) == len(compiled)
    for z, q, value in zip(singles.z, singles.quantities, singles.values):
        match = (compiled.z == z) & (np.array(compiled.quantities) == q)
        assert compiled.values[match] == pytest.approx(value)


def test_select_bao_by_tracer_and_redshift():
    data = select_bao("desi_dr1", tracers=["lrg", "lrg+elg", "elg"], z_min=0.6)

    np.testing.assert_array_equal(data.z, [0.706, 0.706, 0.93, 0.93, 1.317, 1.317])
    assert data.cov[0, 2] == 0.0


def test_load_bao_unknown_name_lists_the_shipped_ones():
    with pytest.raises(ValueError, match="sdss_dr12_lrg"):
        load_bao("sdss_dr13")
    with pytest.raises(ValueError, match="release must be one of"):
        list_bao(release="desi_dr3")


# ---------------------------------------------------------------------------
# Users' files and their errors


def test_load_bao_files_reads_the_layout(tmp_path):
    mean, cov = write(tmp_path, SDSS_DR12_MEAN, SDSS_DR12_COV)

    data = load_bao_files(mean, cov)
    found = load_bao_files(mean)

    np.testing.assert_array_equal(data.values, load_bao("sdss_dr12_lrg").values)
    np.testing.assert_array_equal(found.cov, data.cov)
    assert data.label == "set_mean"
    assert data.sources == (str(mean), str(cov))


def test_error_missing_covariance(tmp_path):
    mean, cov = write(tmp_path, TWO_ROW_MEAN, None)

    with pytest.raises(BAODataError, match="no covariance file found") as info:
        load_bao_files(mean)
    assert info.value.path == str(mean)
    with pytest.raises(BAODataError, match="covariance file not found"):
        load_bao_files(mean, cov)


def test_error_covariance_row_too_short(tmp_path):
    mean, cov = write(tmp_path, TWO_ROW_MEAN, "0.1 -0.05\n-0.05\n")

    with pytest.raises(BAODataError, match="line 2: covariance row has 1 ") as info:
        load_bao_files(mean, cov)
    assert (info.value.path, info.value.line) == (str(cov), 2)


def test_error_covariance_too_many_rows(tmp_path):
    mean, cov = write(tmp_path, TWO_ROW_MEAN, "0.1 0\n0 0.1\n0 0\n")

    with pytest.raises(BAODataError, match="covariance has 3 rows; the mean file"):
        load_bao_files(mean, cov)


def test_error_covariance_not_symmetric(tmp_path):
    mean, cov = write(tmp_path, TWO_ROW_MEAN, "# header\n0.1 -0.05\n0.05 0.3\n")

    with pytest.raises(BAODataError, match="line 2: covariance is not symmetric: "
                       "column 2 holds -0.05 but line 3, column 1 holds 0.05") as info:
        load_bao_files(mean, cov)
    assert (info.value.path, info.value.line) == (str(cov), 2)


def test_error_covariance_not_positive_definite(tmp_path):
    mean, cov = write(tmp_path, TWO_ROW_MEAN, "0.1 0.5\n0.5 0.3\n")

    with pytest.raises(BAODataError, match="not positive definite") as info:
        load_bao_files(mean, cov)
    assert info.value.path == str(cov)


def test_error_unknown_quantity(tmp_path):
    mean, cov = write(tmp_path, "0.7 17.0 DM_over_rs\n0.7 0.05 f_sigma8\n", TWO_ROW_COV)

    with pytest.raises(BAODataError, match="line 2: unknown quantity 'f_sig") as info:
        load_bao_files(mean, cov)
    assert info.value.path == str(mean)


def test_error_unparsable_number_in_mean(tmp_path):
    bad = "0.7 17.0 DM_over_rs\n0.7 2O.0 DH_over_rs\n"
    mean, cov = write(tmp_path, bad, TWO_ROW_COV)

    with pytest.raises(BAODataError, match=r"line 2: cannot read value '2O.0'"):
        load_bao_files(mean, cov)


def test_error_unparsable_number_in_covariance(tmp_path):
    mean, cov = write(tmp_path, TWO_ROW_MEAN, "0.1 -0.05\n-0.05 nan\n")

    with pytest.raises(BAODataError, match=r"line 2: covariance entry is 'nan'"):
        load_bao_files(mean, cov)


def test_error_wrong_number_of_columns(tmp_path):
    mean, cov = write(tmp_path, "0.7 17.0\n", "0.1\n")

    with pytest.raises(BAODataError, match="line 1: expected three columns"):
        load_bao_files(mean, cov)


def test_file_errors_are_accord_errors_and_value_errors(tmp_path):
    mean, cov = write(tmp_path, "", "")

    with pytest.raises(AccordError, match="no measurements"):
        load_bao_files(mean, cov)
    with pytest.raises(ValueError, match="mean file not found"):
        load_bao_files(tmp_path / "absent.txt")


# ---------------------------------------------------------------------------
# BAOData, combine and select


def test_combine_is_block_diagonal():
    a, b = load_bao("sdss_dr12_lrg"), load_bao("desi_dr1_elg_z1.32")

    both = combine(a, b)

    assert len(both) == 6
    np.testing.assert_array_equal(both.cov[:4, :4], a.cov)
    np.testing.assert_array_equal(both.cov[4:, 4:], b.cov)
    assert np.all(both.cov[:4, 4:] == 0)
    assert both.label == "sdss_dr12_lrg+desi_dr1_elg_z1.32"


def test_combine_refuses_overlapping_measurements():
    a, b = load_bao("sdss_dr12_lrg"), load_bao("desi_dr1_lrg_z0.51")

    with pytest.raises(ValueError, match="allow_overlap"):
        combine(a, b)
    assert len(combine(a, b, allow_overlap=True)) == 6


def test_select_keeps_the_covariance_block():
    data = load_bao("sdss_dr12_lrg")

    high = data.select(z_min=0.5)
    dm = data.select(quantities=["DM_over_rs"])

    np.testing.assert_array_equal(high.cov, data.cov[2:, 2:])
    np.testing.assert_array_equal(dm.cov, data.cov[np.ix_([0, 2], [0, 2])])
    with pytest.raises(ValueError, match="no measurement"):
        data.select(z_min=3.0)


def test_baodata_validates_its_fields():
    with pytest.raises(ValueError, match="cov must have shape"):
        BAOData(z=[0.5], quantities=["DM_over_rd"], values=[13.0], cov=np.eye(2))
    with pytest.raises(ValueError, match="unknown quantities"):
        BAOData(z=[0.5], quantities=["DA"], values=[13.0], cov=[[1.0]])
    with pytest.raises(ValueError, match="not positive definite"):
        BAOData(z=[0.5], quantities=["DM_over_rd"], values=[13.0], cov=[[-1.0]])


def test_chi2_of_the_measured_values_is_zero():
    data = load_bao("desi_dr1_lrg_z0.71")

    assert data.chi2(data.values) == pytest.approx(0.0)
    assert data.chi2(data.values + data.std * [1, 0]) == pytest.approx(
        1.0 / (1.0 - (data.cov[0, 1] / np.prod(data.std)) ** 2))


# ---------------------------------------------------------------------------
# Distances


@pytest.mark.parametrize(
    "Om, H0", [(0.05, 50.0), (0.3, 67.4), (0.6, 73.0), (0.95, 100.0)]
)
def test_distances_match_astropy(Om, H0):
    cosmology = pytest.importorskip("astropy.cosmology")
    reference = cosmology.FlatLambdaCDM(H0=H0, Om0=Om, Tcmb0=0.0)
    z = np.array([0.1, 0.295, 0.51, 0.93, 1.317, 2.33, 4.0])
    r_d = 147.0

    d = distances_over_rd(np.array([Om, H0 * r_d]), z)

    dm = reference.comoving_transverse_distance(z).value / r_d
    dh = C_KM_S / reference.H(z).value / r_d
    dv = np.cbrt(z * dm**2 * dh)
    np.testing.assert_allclose(d.DM, dm, rtol=1e-4)
    np.testing.assert_allclose(d.DH, dh, rtol=1e-4)
    np.testing.assert_allclose(d.DV, dv, rtol=1e-4)


def test_comoving_distance_quadrature_is_accurate_to_1e_9():
    Om = np.array([0.01, 0.3, 0.99, 2.0])
    z = np.array([0.05, 0.7, 2.5, 6.0])

    d = distances_over_rd(np.stack([Om, np.full(4, C_KM_S)], axis=1), z)

    for i, om in enumerate(Om):
        for j, zj in enumerate(z):
            exact = integrate.quad(lambda s: (om * (1 + s) ** 3 + 1 - om) ** -0.5,
                                   0, zj, epsabs=0, epsrel=1e-13)[0]
            assert d.DM[i, j] == pytest.approx(exact, rel=1e-9)


@pytest.mark.parametrize("batch", [(), (7,), (3, 5)])
def test_distances_keep_the_batch_shape(batch):
    rng = np.random.default_rng(1)
    prior = PARAMETERISATIONS["Om_H0rd"].default_prior()
    theta = prior.sample(int(np.prod(batch)), rng).reshape(batch + (2,))
    z = np.array([0.38, 0.51, 0.71, 1.32])

    d = distances_over_rd(theta, z)
    x = theory_vector(theta, [0.38, 0.38, 1.32], list(QUANTITIES))

    assert d.DM.shape == d.DH.shape == d.DV.shape == batch + (4,)
    assert x.shape == batch + (3,)
    flat = distances_over_rd(theta.reshape(-1, 2), z)
    np.testing.assert_array_equal(d.DM.reshape(-1, 4), flat.DM)
    np.testing.assert_allclose(x[..., 0], d.DM[..., 0])
    np.testing.assert_allclose(x[..., 1], d.DH[..., 0])
    np.testing.assert_allclose(x[..., 2], d.DV[..., 3])


def test_distances_chunked_equal_unchunked(monkeypatch):
    import accord.bao.cosmology as cosmology

    theta = PARAMETERISATIONS["Om_H0rd"].default_prior().sample(50, 2)
    whole = distances_over_rd(theta, [0.5, 1.0, 2.0])
    monkeypatch.setattr(cosmology, "_CHUNK_ELEMENTS", 100)
    chunked = distances_over_rd(theta, [0.5, 1.0, 2.0])

    np.testing.assert_array_equal(whole.DM, chunked.DM)


def test_distances_reject_bad_input():
    with pytest.raises(ValueError, match=r"theta must have shape \(\*, 2\)"):
        distances_over_rd(np.ones((4, 3)), [0.5])
    with pytest.raises(ValueError, match="z must be"):
        distances_over_rd(np.array([0.3, 1e4]), [0.0, 0.5])
    with pytest.raises(ValueError, match="parameterisation must be one of"):
        distances_over_rd(np.array([0.3, 1e4]), [0.5], parameterisation="wCDM")


# ---------------------------------------------------------------------------
# Sound horizon and the physical parameterisation


def test_brieden_formula_reproduces_its_quoted_pivot():
    # Brieden, Gil-Marin & Verde (2023) normalise their fit to r_d = 147.05 Mpc
    # at omega_b = 0.02236, omega_cb = 0.1432, N_eff = 3.04.
    r_d = sound_horizon(0.02236, 0.1432 - 0.02236, formula="brieden2023")

    assert r_d == pytest.approx(147.05, rel=1e-12)


def test_aubourg_formula_matches_planck_2018_r_drag():
    # Planck 2018 (arXiv:1807.06209, table 2, TT,TE,EE+lowE+lensing): omega_b =
    # 0.02237, omega_c = 0.1200, one 0.06 eV neutrino, r_drag = 147.09 Mpc.
    # Aubourg et al. (2015) quote their fit as good to about 0.1 %.
    assert sound_horizon(0.02237, 0.1200) == pytest.approx(147.09, rel=1e-3)
    assert sound_horizon(0.02237, 0.1200, formula="brieden2023") == pytest.approx(
        147.09, rel=2e-3)


def test_aubourg_formula_matches_the_sdss_dr12_fiducial_r_d():
    # Alam et al. (2017): the DR12 fiducial cosmology (Om = 0.31, h = 0.676,
    # omega_b = 0.022, sum m_nu = 0.06 eV) has r_d,fid = 147.78 Mpc.
    omega_c = 0.31 * 0.676**2 - 0.022 - 0.06 / 93.14

    assert sound_horizon(0.022, omega_c) == pytest.approx(147.78, rel=1e-3)


def test_physical_parameterisation_maps_to_om_and_h0rd():
    theta = np.array([[0.02237, 0.1200, 0.6736]])

    Om, H0rd = background(theta, parameterisation="physical")

    omega_m = 0.02237 + 0.1200 + 0.06 / 93.14
    assert Om[0] == pytest.approx(omega_m / 0.6736**2)
    assert H0rd[0] == pytest.approx(67.36 * sound_horizon(0.02237, 0.1200))


def test_sound_horizon_rejects_unknown_formula():
    with pytest.raises(ValueError, match="aubourg2015"):
        sound_horizon(0.022, 0.12, formula="eisenstein1998")


# ---------------------------------------------------------------------------
# The problem


def test_default_problem_is_the_paper_split():
    problem = default_bao_problem()

    assert isinstance(problem, Problem)
    assert problem.names == ("Om", "H0rd") and problem.shared == ("Om", "H0rd")
    assert (problem.length_A, problem.length_B) == (4, 6)
    np.testing.assert_array_equal(problem.x_A_obs, load_bao("sdss_dr12_lrg").values)
    np.testing.assert_array_equal(problem.simulate_B.model.z,
                                  [0.706, 0.706, 0.93, 0.93, 1.317, 1.317])


def test_default_priors_are_the_documented_ones():
    prior = default_bao_problem().prior
    physical = bao_problem("sdss_dr12_lrg", "desi_dr1_elg_z1.32",
                           parameterisation="physical").prior

    assert prior.to_dict() == Independent(
        Om=Uniform(0.01, 0.99), H0rd=Uniform(3650.0, 18250.0)).to_dict()
    assert physical.names == ("omega_b", "omega_c", "h")


def test_one_prior_object_for_simulation_and_likelihood():
    prior = Independent(H0rd=Uniform(8000, 12000), Om=Uniform(0.1, 0.5))

    problem = bao_problem("sdss_dr12_lrg", "desi_dr1_elg_z1.32", prior=prior)

    assert problem.prior is prior
    assert problem.names == ("H0rd", "Om")
    # The simulator and the likelihood read columns in the prior's order.
    theta = np.array([[10000.0, 0.3]])
    expected = theory_vector(np.array([0.3, 10000.0]), problem.simulate_A.model.z,
                             problem.simulate_A.model.quantities)
    np.testing.assert_allclose(problem.simulate_A.model.mean(theta)[0], expected)
    assert problem.log_likelihood_A.model.columns.tolist() == [1, 0]


def test_prior_with_other_parameters_is_refused():
    prior = Independent(Om=Uniform(0.1, 0.5), h=Uniform(0.5, 0.9))

    with pytest.raises(ValueError, match="needs \\['Om', 'H0rd'\\]"):
        bao_problem("sdss_dr12_lrg", "desi_dr1_elg_z1.32", prior=prior)


def test_simulator_noise_has_the_published_covariance():
    problem = default_bao_problem()
    theta = np.tile([0.3, 10000.0], (20000, 1))

    x_A, x_B = problem.simulate_pairs(theta, 3)

    for x, model in [(x_A, problem.simulate_A.model), (x_B, problem.simulate_B.model)]:
        n, cov = len(x), model.cov
        residual = x - model.mean(theta[:1])
        sample = residual.T @ residual / n
        # Standard errors of a Gaussian sample covariance with known mean.
        error = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / n)
        assert np.all(np.abs(sample - cov) < 4.5 * error)
        assert np.all(np.abs(residual.mean(0)) < 4.5 * np.sqrt(np.diag(cov) / n))


def test_simulator_is_reproducible_with_a_seed():
    problem = default_bao_problem()
    theta = problem.prior.sample(10, 0)

    first = problem.simulate_A(theta, np.random.default_rng(5))
    second = problem.simulate_A(theta, np.random.default_rng(5))

    np.testing.assert_array_equal(first, second)


def test_likelihood_equals_scipy_multivariate_normal():
    problem = default_bao_problem()
    theta = problem.prior.sample(6, 4)

    cases = [(problem.log_likelihood_A, problem.simulate_A, problem.x_A_obs),
             (problem.log_likelihood_B, problem.simulate_B, problem.x_B_obs)]
    for like, sim, x in cases:
        mean = sim.model.mean(theta)
        expected = [stats.multivariate_normal(m, sim.model.cov).logpdf(x) for m in mean]
        np.testing.assert_allclose(like(theta, x), expected, rtol=1e-10)


def test_likelihood_accepts_one_data_vector_per_draw():
    problem = default_bao_problem()
    theta = problem.prior.sample(5, 6)
    x = problem.simulate_A(theta, np.random.default_rng(7))

    per_draw = problem.log_likelihood_A(theta, x)

    for i in range(5):
        one = problem.log_likelihood_A(theta[i:i + 1], x[i])
        assert per_draw[i] == pytest.approx(one[0])
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 4\)"):
        problem.log_likelihood_A(theta, x[:, :3])


def test_simulators_and_likelihoods_pickle():
    problem = default_bao_problem(parameterisation="physical")
    theta = problem.prior.sample(4, 8)

    for fn in (problem.simulate_A, problem.simulate_B):
        clone = pickle.loads(pickle.dumps(fn))
        np.testing.assert_array_equal(clone(theta, np.random.default_rng(0)),
                                      fn(theta, np.random.default_rng(0)))
    for fn, x in [(problem.log_likelihood_A, problem.x_A_obs),
                  (problem.log_likelihood_B, problem.x_B_obs)]:
        clone = pickle.loads(pickle.dumps(fn))
        np.testing.assert_array_equal(clone(theta, x), fn(theta, x))


def test_best_fit_of_the_default_data_is_sensible():
    # Regression guard on the theory: the joint best fit of SDSS DR12 and
    # DESI DR1 sits near Om = 0.30, H0 r_d = 10 150 km/s with chi^2 ~ 7.7 for
    # 10 measurements; a grid is enough to find it to a few per cent.
    problem = default_bao_problem()
    Om, H0rd = np.meshgrid(np.linspace(0.2, 0.4, 201), np.linspace(9500, 10800, 261))
    theta = np.stack([Om.ravel(), H0rd.ravel()], axis=1)

    log_like = (problem.log_likelihood_A(theta, problem.x_A_obs)
                + problem.log_likelihood_B(theta, problem.x_B_obs))
    best = theta[np.argmax(log_like)]

    assert best[0] == pytest.approx(0.296, abs=0.005)
    assert best[1] == pytest.approx(10150, rel=0.005)
