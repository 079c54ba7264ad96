"""The `accord` command: parsing, configuration files and error exits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import accord
from accord.cli import _bao_config, _parser, main
from accord.config import DEFAULT_CONFIG, BAOConfig, ConfigError, load_config


def _exit_code(argv):
    """What the shell would see: argparse's errors exit, ours return."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return exit_.code


def _write(tmp_path, text):
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


def test_run_without_arguments_is_the_bao_example():
    args = _parser().parse_args(["run"])
    assert args.example == "bao"
    assert _bao_config(args) == BAOConfig()


def test_default_config_file_parses_to_the_defaults(tmp_path):
    assert load_config(_write(tmp_path, DEFAULT_CONFIG)) == BAOConfig()


def test_print_config(capsys):
    assert main(["run", "--print-config"]) == 0
    assert capsys.readouterr().out == DEFAULT_CONFIG


def test_help_documents_the_config_file(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for key in ("[data]", "[model.prior]", "[training]", "[observed]", "chains"):
        assert key in text


def test_command_line_overrides_the_file(tmp_path):
    path = _write(tmp_path, 'seed = 4\n[data]\nA = "sdss_dr12_lrg"\n'
                            'B = ["desi_dr2_lrg_z0.71"]\n[training]\nmembers = 3\n')
    args = _parser().parse_args(["run", "bao", "--config", str(path), "--seed", "9",
                                 "--n-live", "200"])
    config = _bao_config(args)
    assert (config.seed, config.training.n_members, config.observed.sampling.n_live) == (9, 3, 200)
    assert config.data_B == ("desi_dr2_lrg_z0.71",)


def test_log_r_obs_on_the_command_line_replaces_the_sampler():
    config = _bao_config(_parser().parse_args(
        ["run", "--log-r-obs", "4.5", "--log-r-obs-err", "0.2"]))
    assert config.observed.source == "numbers"
    assert config.observed.options == {"logR": 4.5, "logR_err": 0.2}


def test_own_files_resolve_relative_to_the_config(tmp_path):
    path = _write(tmp_path, '[data]\nA = [{ mean = "mine_mean.txt" }]\n')
    assert load_config(path).data_A == ({"mean": str(tmp_path / "mine_mean.txt")},)


@pytest.mark.parametrize("argv, message", [
    (["run", "nope"], "invalid choice: 'nope'"),
    (["run", "--seed", "x"], "argument --seed"),
    (["run", "--seed", "-1"], "--seed must be >= 0"),
    (["run", "--n-live", "3"], "--n-live must be >= 10"),
    (["run", "--log-r-obs-err", "0.1"], "--log-r-obs-err needs --log-r-obs"),
    (["run", "linear", "--n-live", "100"], "bao example only"),
    (["run", "linear", "--executor", "gpu-farm", "--output", "{tmp}/out"],
     "executor 'gpu-farm' is not understood; accepted:"),
    (["run", "--config", "missing.toml"], "does not exist"),
])
def test_bad_arguments_exit_1_with_a_message(argv, message, capsys, tmp_path):
    assert _exit_code([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ("sead = 1\n", "unknown key 'sead' in the configuration; accepted: data, model"),
    ("[training]\nmemberz = 2\n", "unknown key 'memberz' in [training]; accepted:"),
    ("[data]\nC = []\n", "unknown key 'C' in [data]; accepted: A, B, label_A, label_B"),
    ("[observed]\nsource = 'guess'\n", "observed.source must be one of"),
    ("[observed]\nsource = 'numbers'\nn_live = 3\n",
     "unknown key 'n_live' in [observed (source 'numbers')]"),
    ("[model]\nparameterisation = 'w0wa'\n", "model.parameterisation must be one of"),
    ("[model.prior]\nOm = { type = 'flat', low = 0, high = 1 }\n",
     "model.prior.Om must be a table with type one of"),
    ("[model.prior]\nOm = { type = 'uniform', low = 0.1 }\n", "needs ['high']"),
    ("n_simulations = 5\n", "n_simulations must be an integer >= 10"),
    ("seed = \n", "is not valid TOML"),
])
def test_bad_config_exits_1_naming_the_key(tmp_path, capsys, text, message):
    path = _write(tmp_path, text)
    assert main(["run", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("accord: error: ") and str(path) in err
    assert message in err


def test_unknown_prior_parameter_names_the_accepted_ones(tmp_path, capsys):
    path = _write(tmp_path, "[model.prior]\nh = { type = 'uniform', low = 0.5, "
                            "high = 0.9 }\n")
    assert main(["run", "--config", str(path), "--quiet"]) == 1
    assert "accepted: Om, H0rd" in capsys.readouterr().err


def test_unknown_data_set_exits_1(tmp_path, capsys):
    path = _write(tmp_path, "[data]\nA = ['sdss_dr99']\n")
    assert main(["run", "--config", str(path), "--quiet"]) == 1
    assert "sdss_dr99" in capsys.readouterr().err


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError, match="unknown key 'x'"):
        from accord.config import parse_config

        parse_config({"x": 1})
    assert issubclass(ConfigError, ValueError)


# ---------------------------------------------------------------------------
# accord evidence

CHAINS = Path(accord.__file__).parent / "data" / "cm21" / "polychord"


def test_evidence_from_chains_prints_log_r(capsys, tmp_path):
    roots = [str(CHAINS / name / "test") for name in ("exp1", "exp2_0.2", "joint_0.2")]
    assert main(["evidence", "chains", *roots, "--json", str(tmp_path / "e.json")]) == 0
    out = capsys.readouterr().out
    log_r = float(out.split("  log R ")[1].split()[0])
    # The published value for B's amplitude 0.2 K is 8.6 +/- 0.6.
    assert abs(log_r - 8.6) < 3 * 0.6
    assert "suspiciousness" in out
    assert json.loads((tmp_path / "e.json").read_text())["source"] == "chains"


def test_evidence_from_numbers(capsys):
    assert main(["evidence", "numbers", "--logZ-A", "1", "--logZ-B", "2",
                 "--logZ-AB", "5", "--logZ-AB-err", "0.2"]) == 0
    assert "2.0000 +/- 0.2000" in capsys.readouterr().out


def test_evidence_errors_name_what_is_missing(capsys):
    assert main(["evidence", "numbers", "--logZ-A", "1"]) == 1
    assert "missing ['logZ_B', 'logZ_AB']" in capsys.readouterr().err
    assert main(["evidence", "chains", "no/A", "no/B", "no/AB"]) == 1
    assert "no/A" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# accord run 21cm / bump, on tiny budgets

TINY = ["--n-simulations", "300", "--n-calibration", "200", "--members", "2",
        "--quiet"]
PNG = b"\x89PNG\r\n\x1a\n"


def _png(path):
    data = path.read_bytes()
    return len(data) > 1000 and data.startswith(PNG)


@pytest.fixture(scope="module")
def cm21_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("cm21")
    code = main(["run", "21cm", "--amplitude-B", "0.25", "--output", str(output),
                 "--n-live", "30", "--n-eff", "60", *TINY])
    return code, output


def test_run_21cm_writes_report_result_and_figures(cm21_run):
    code, output = cm21_run
    assert code == 0
    for name in ("spectra.png", "concordance.png", "cdf.png", "training.png"):
        assert _png(output / name), name
    for name in ("report.md", "summary.txt", "B0.25/result.json", "B0.25/summary.txt"):
        assert (output / name).stat().st_size > 0, name
    result = json.loads((output / "result.json").read_text())
    (case,) = result["cases"]
    assert case["observed"] == "polychord"
    assert set(case["calibrations"]) == {"polychord", "nautilus", "network"}
    # the shipped PolyChord runs give the published log R for B = 0.25 K
    assert case["evidences"]["polychord"]["logR"] == pytest.approx(-13.4, abs=3 * 0.6)
    assert case["paper"]["T"] == 2.99


def test_run_21cm_report_shows_both_sources_and_the_network(cm21_run):
    _, output = cm21_run
    report = (output / "report.md").read_text()
    assert "PolyChord (published runs) (main)" in report
    assert "nested sampling (nautilus)" in report
    assert "## Network against nested sampling" in report
    assert "T = 2.99" in report
    # A network trained on 300 pairs is far from the published log R of
    # -13.5 +/- 0.6 for this case; the disagreement is flagged, not hidden.
    case = json.loads((output / "result.json").read_text())["cases"][0]
    assert case["network_agrees_with"]["polychord"] is False
    assert "**Warning: the network's own log R disagrees" in report
    assert "WARNING: the network's own log R disagrees" in \
        (output / "summary.txt").read_text()


def test_run_21cm_all_shares_the_simulations_and_the_ensemble(tmp_path, capsys):
    code = main(["run", "21cm", "--output", str(tmp_path), "--observed", "network",
                 *TINY])
    assert code == 0
    result = json.loads((tmp_path / "result.json").read_text())
    assert [c["label"] for c in result["cases"]] == ["B = 0.15 K", "B = 0.2 K",
                                                     "B = 0.25 K"]
    # one ensemble, trained for the first case and reused by the other two
    assert {"simulate", "train"} <= set(result["reused_stages"])
    assert not (tmp_path / "B0.2" / "estimator").exists()
    for case in result["cases"]:
        assert set(case["calibrations"]) == {"polychord", "network"}
        assert case["calibrations"]["network"]["log_r_obs_source"] == "network"
    table = capsys.readouterr().out.split("\n\n")[1]
    assert table.count("PolyChord (published runs)") == 3
    assert table.count("network (main)") == 3


def test_run_bump_nested_samples_one_ordering_of_the_background(tmp_path, capsys):
    code = main(["run", "bump", "--output", str(tmp_path), "--n-live", "40",
                 "--n-eff", "100", *TINY])
    assert code == 0
    for name in ("spectra.png", "concordance.png", "cdf.png", "training.png",
                 "posterior_mu.png"):
        assert _png(tmp_path / name), name
    report = (tmp_path / "report.md").read_text()
    assert "C = 2.56 (+0.31/-0.29)" in report
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["example"] == "bump"
    (case,) = result["cases"]
    assert case["observed"] == "nautilus"
    assert set(case["calibrations"]) == {"nautilus", "network"}
    # the runs sampled the ordered space (their checkpoints say so)
    assert list((tmp_path / "nested_sampling").glob("bump_ordered-*_nautilus_AB_0*"))
    assert "C = 2.56" in capsys.readouterr().out


def test_run_bump_with_the_network_skips_nested_sampling(tmp_path):
    code = main(["run", "bump", "--output", str(tmp_path), "--observed", "network",
                 *TINY])
    assert code == 0
    assert "No nested sampling was run" in (tmp_path / "report.md").read_text()
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["cases"][0]["observed"] == "network"
    assert not (tmp_path / "nested_sampling").exists()


@pytest.mark.parametrize("argv, message", [
    (["run", "21cm", "--amplitude-B", "0.3"], "argument --amplitude-B: invalid choice"),
    (["run", "21cm", "--observed", "guess"], "argument --observed: invalid choice"),
    (["run", "bump", "--amplitude-B", "0.2"],
     "--amplitude-B applies to the 21cm example only, not to bump"),
    (["run", "bump", "--observed", "polychord"],
     "--observed polychord applies to the 21cm example only"),
    (["run", "linear", "--observed", "network"],
     "--observed applies to the 21cm and bump examples only, not to linear"),
    (["run", "bao", "--n-eff", "100"], "--n-eff applies to the 21cm and bump examples"),
    (["run", "21cm", "--log-r-obs", "3"],
     "--log-r-obs and --log-r-obs-err do not apply"),
    (["run", "21cm", "--config", "x.toml"], "--config applies to the bao example only"),
    (["run", "bump", "--sigma", "2"], "--sigma and --problem-seed apply to the linear"),
    (["run", "21cm", "--seed", "-1"], "--seed must be >= 0"),
    (["run", "21cm", "--n-live", "5"], "--n-live must be >= 10"),
    (["run", "bump", "--members", "0"], "--members must be >= 1"),
    (["run", "bump", "--n-eff", "0"], "--n-eff must be >= 1"),
    (["run", "bump", "--n-simulations", "5"], "--n-simulations must be >= 10"),
    (["run", "21cm", "--print-config"], "--print-config applies to the bao example"),
])
def test_example_argument_errors_name_the_option(argv, message, capsys):
    assert _exit_code(argv) == 1
    assert message in capsys.readouterr().err
