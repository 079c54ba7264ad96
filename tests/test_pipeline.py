"""The generic pipeline: its simulation store, resuming and executors."""

import numpy as np
import pytest

import accord
from accord.estimator import TrainingSettings
from accord.linear import LinearGaussian


@pytest.fixture(scope="module")
def problem():
    return LinearGaussian.paper(sigma=1.0, n_data=10, seed=0).problem()


SETTINGS = dict(n_members=1, max_epochs=2, hidden=8, n_blocks=1)


def _run(problem, output, **options):
    return accord.run(problem, output, n_simulations=2000, n_calibration=500, seed=3,
                      settings=TrainingSettings(**SETTINGS), figures=False, **options)


def test_a_run_killed_while_simulating_resumes_the_missing_chunks(problem, tmp_path):
    first = _run(problem, tmp_path)
    store = accord.SimulationStore.open(tmp_path / "simulations")
    before = store.load()
    assert store.complete and len(before) == 2000

    # What a kill during simulation leaves: some chunk files missing, and a
    # temporary file of the chunk being written.
    (tmp_path / "simulations" / "chunk-000000.h5").unlink()
    (tmp_path / "simulations" / "chunk-000000.h5.tmp").write_bytes(b"partial")
    again = _run(problem, tmp_path)
    assert "simulate" not in again.reused and "train" in again.reused
    after = accord.SimulationStore.open(tmp_path / "simulations").load()
    np.testing.assert_array_equal(after.x_A, before.x_A)
    assert again.calibration.T == first.calibration.T
    assert not list((tmp_path / "simulations").glob("*.tmp"))


def test_the_executor_does_not_change_the_numbers(problem, tmp_path):
    serial = _run(problem, tmp_path / "serial", executor="serial")
    threads = _run(problem, tmp_path / "threads", executor="threads:2")
    assert serial.calibration.T == threads.calibration.T


def test_a_bad_executor_is_named_before_anything_is_written(problem, tmp_path):
    with pytest.raises(ValueError, match="executor"):
        _run(problem, tmp_path / "out", executor="gpu-farm")
    assert not (tmp_path / "out").exists()
