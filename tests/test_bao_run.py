"""End-to-end `accord run bao` on a tiny budget: outputs, resuming, seeds."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from accord import AccordWarning
from accord.config import parse_config
from accord.bao import run_bao

TINY = {
    "seed": 3,
    "n_simulations": 1000,
    "n_calibration": 300,
    "training": {"members": 2, "hidden": 16, "n_blocks": 1, "max_epochs": 3,
                 "batch_size": 500},
    "observed": {"n_live": 60, "n_eff": 200, "n_networks": 1},
}

OUTPUTS = ["run.json", "simulations", "estimator", "evidence.json", "result.json",
           "summary.txt", "report.md", "concordance.png", "cdf.png", "training.png",
           "posteriors.png", "distances.png", "nested_sampling"]

STAGE_FILES = ["simulations/chunk-000000.h5", "estimator/weights.safetensors", "evidence.json",
               "nested_sampling/posterior_AB.npz"]


def _run(output, figures=True):
    with warnings.catch_warnings():
        # A three-epoch network need not agree with the sampler's log R.
        warnings.simplefilter("ignore", AccordWarning)
        return run_bao(parse_config(TINY), output, figures=figures)


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    output = tmp_path_factory.mktemp("bao")
    result = _run(output)
    stamps = {name: (output / name).stat().st_mtime_ns for name in STAGE_FILES}
    return output, result, stamps


def test_run_writes_every_output(first):
    output, result, _ = first
    missing = [name for name in OUTPUTS if not (output / name).exists()]
    assert not missing
    payload = json.loads((output / "result.json").read_text())
    assert payload["log_r_obs_source"] == "nested sampling (nautilus)"
    assert payload["evidence"]["source"] == "nautilus"
    assert payload["log_r_obs"] == pytest.approx(payload["evidence"]["logR"])
    assert set(payload["network_check"]) >= {"log_r", "spread", "agree"}
    assert payload["suspiciousness"]["d_G"] > 0
    assert "suspiciousness" in (output / "summary.txt").read_text()
    assert "| tension T (sigma) |" in (output / "report.md").read_text()


def test_rerun_reuses_finished_stages(first):
    output, result, stamps = first
    again = _run(output)
    assert again.reused == ["simulate", "train", "nested_sampling"]
    assert {name: (output / name).stat().st_mtime_ns for name in STAGE_FILES} == stamps
    assert again.calibration.T == result.calibration.T
    assert again.evidence.logR == result.evidence.logR


def test_same_seed_gives_same_numbers(first, tmp_path):
    _, result, _ = first
    twin = _run(tmp_path, figures=False)
    assert twin.reused == []
    assert twin.evidence.logR == result.evidence.logR
    np.testing.assert_array_equal(twin.calibration.log_r, result.calibration.log_r)
    assert twin.calibration.T == result.calibration.T
