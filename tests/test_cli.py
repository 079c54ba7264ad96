"""The `accord` command: parsing, configuration files and error exits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
    (["run", "--config", "missing.toml"], "does not exist"),
])
def test_bad_arguments_exit_1_with_a_message(argv, message, capsys):
    assert _exit_code(argv) == 1
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

CHAINS = Path(__file__).parent / "data" / "polychord" / "21cm"


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
