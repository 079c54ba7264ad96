"""The ratio-estimator ensembles, against the exact linear-Gaussian log R.

Each fault of the paper's research code (docs/method.md) has a regression
test named after what it guards.
"""

import json
import pickle

import numpy as np
import pytest
import torch

import accord
from accord import FormatError, TrainingSettings, load, simulate, train
from accord._networks import ClassifierNet
from accord._training import Stack
from accord.estimator import _classifier_loss, _derangement_shifts
from accord.linear import LinearGaussian

N_TRAIN = 20_000


@pytest.fixture(scope="module", params=[1.0, 100.0], ids=["sigma1", "sigma100"])
def trained(request):
    model = LinearGaussian.paper(sigma=request.param, seed=0)
    problem = model.problem()
    estimator = train(problem, N_TRAIN, seed=11, n_members=2)
    return model, problem, estimator


@pytest.fixture(scope="module")
def fresh(trained):
    model, problem, _ = trained
    sims = simulate(problem, 4000, seed=99)
    return sims, model.logR(sims.x_A, sims.x_B)


def test_log_ratio_matches_exact_log_r(trained, fresh):
    # With 16 000 training pairs the least-squares posteriors of 3 parameters
    # from 50 data points have relative errors of order sqrt(50 / 16 000), and
    # log R errors of about 0.1; 0.25 leaves room for the network's part.
    _, _, estimator = trained
    sims, exact = fresh
    log_r = estimator.log_ratio(sims.x_A, sims.x_B)
    assert np.sqrt(np.mean((log_r - exact) ** 2)) < 0.25
    assert abs(np.mean(log_r - exact)) < 0.1


def test_log_ratio_shapes(trained, fresh):
    _, _, estimator = trained
    sims, _ = fresh
    assert estimator.log_ratio(sims.x_A[:6], sims.x_B[:6]).shape == (6,)
    assert estimator.log_ratio(sims.x_A[0], sims.x_B[0]).shape == ()
    grid = estimator.log_ratio(sims.x_A[:6].reshape(2, 3, -1), sims.x_B[:6].reshape(2, 3, -1))
    assert grid.shape == (2, 3)
    members = estimator.log_ratio(sims.x_A[:6], sims.x_B[:6], members=True)
    assert members.shape == (2, 6)
    np.testing.assert_allclose(members.mean(0), estimator.log_ratio(sims.x_A[:6], sims.x_B[:6]))


def test_save_load_round_trip_gives_identical_log_r(trained, fresh, tmp_path):
    _, _, estimator = trained
    sims, _ = fresh
    estimator.save(tmp_path / "model")
    copy = load(tmp_path / "model")
    np.testing.assert_array_equal(copy.log_ratio(sims.x_A, sims.x_B, members=True),
                                  estimator.log_ratio(sims.x_A, sims.x_B, members=True))
    assert copy.settings == estimator.settings and copy.seed == estimator.seed


def test_saved_model_contains_no_pickle(trained, tmp_path, monkeypatch):
    _, _, estimator = trained
    estimator.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "estimator.json", "weights.safetensors"]

    def refuse(*args, **kwargs):
        raise AssertionError("loading must not unpickle")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    load(tmp_path / "model")


def test_normalisation_is_stored_with_the_model(trained, tmp_path):
    # Research-code fault 2: evaluation re-normalised already-normalised data.
    model, problem, estimator = trained
    sims = simulate(problem, 20, seed=5)
    norm = estimator.members[0].post_A.norm
    assert not torch.allclose(norm.mean, torch.zeros_like(norm.mean))
    estimator.save(tmp_path / "m")
    loaded = load(tmp_path / "m").members[0].post_A.norm
    torch.testing.assert_close(loaded.mean, norm.mean)
    torch.testing.assert_close(loaded.std, norm.std)


@pytest.mark.parametrize("corruption, match", [
    (lambda d: d.__setitem__("format_version", 99), "format version 99"),
    (lambda d: d.__setitem__("format", "other"), "does not describe"),
    (lambda d: d["members"][0].__setitem__("hidden", 7), "was edited"),
    (lambda d: d["problem"].__setitem__("prior", {}), "was edited"),
])
def test_edited_description_is_refused(trained, tmp_path, corruption, match):
    _, _, estimator = trained
    path = estimator.save(tmp_path / "model")
    description = json.loads((path / "estimator.json").read_text())
    corruption(description)
    (path / "estimator.json").write_text(json.dumps(description))
    with pytest.raises(FormatError, match=match):
        load(path)


def test_truncated_files_are_refused(trained, tmp_path):
    _, _, estimator = trained
    path = estimator.save(tmp_path / "model")
    weights = path / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(FormatError, match="truncated or changed"):
        load(path)
    config = path / "estimator.json"
    config.write_text(config.read_text()[:200])
    with pytest.raises(FormatError, match="not valid JSON"):
        load(path)
    with pytest.raises(FormatError, match="missing"):
        load(tmp_path / "nowhere")


def test_same_seed_gives_the_same_estimator():
    problem = LinearGaussian.paper(sigma=1.0, n_data=10, seed=2).problem()
    sims = simulate(problem, 50, seed=1)
    a = train(problem, 3000, seed=4, n_members=2, max_epochs=3)
    b = train(problem, 3000, seed=4, n_members=2, max_epochs=3)
    c = train(problem, 3000, seed=5, n_members=2, max_epochs=3)
    np.testing.assert_array_equal(a.log_ratio(sims.x_A, sims.x_B, members=True),
                                  b.log_ratio(sims.x_A, sims.x_B, members=True))
    assert not np.allclose(a.log_ratio(sims.x_A, sims.x_B), c.log_ratio(sims.x_A, sims.x_B))


def test_members_differ_from_each_other(trained, fresh):
    # Research-code fault 9: every run shared one data set and batch order.
    _, _, estimator = trained
    sims, _ = fresh
    members = estimator.log_ratio(sims.x_A[:100], sims.x_B[:100], members=True)
    assert not np.allclose(members[0], members[1])


class _Quadratic(torch.nn.Module):
    """A toy member: its loss pulls one weight towards a target."""

    inputs = ("x",)
    dtype = torch.float64

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def forward(self, x):
        return ((self.weight - x) ** 2).mean()


def test_early_stopping_restores_a_copy_of_the_best_weights():
    # Research-code fault 1: the "best" model was a reference to the live one.
    settings = TrainingSettings(max_epochs=7, patience=3, batch_size=2, n_members=2)
    members = [_Quadratic(), _Quadratic()]
    stack = Stack(members, settings, torch.device("cpu"))
    stack.start(np.array([5.0, 5.0]))
    scores = {0: [4.0, 1.0, 2.0, 3.0, 4.0, 5.0], 1: [4.0, 3.0, 2.0, 1.0, 0.5, 0.4]}
    saved = {}
    target = {"x": torch.full((2, 4), 3.0, dtype=torch.float64)}
    for epoch in range(1, 7):
        stack.step(target)
        if epoch == 2:
            saved[0] = stack.params["weight"][0].detach().clone()
        stack.end_epoch(epoch, np.zeros(2), np.array([scores[0][epoch - 1],
                                                      scores[1][epoch - 1]]))
    assert list(stack.active) == [False, True]
    assert stack.histories[0].best_epoch == 2 and stack.histories[1].best_epoch == 6
    stack.finish()
    torch.testing.assert_close(members[0].weight.detach(), saved[0])
    torch.testing.assert_close(members[1].weight.detach(),
                               stack.params["weight"][1].detach())


def test_a_stopped_member_no_longer_moves():
    settings = TrainingSettings(max_epochs=5, patience=1, n_members=2)
    stack = Stack([_Quadratic(), _Quadratic()], settings, torch.device("cpu"))
    stack.start(np.array([1.0, 1.0]))
    stack.end_epoch(1, np.zeros(2), np.array([2.0, 0.5]))
    frozen = stack.params["weight"][0].detach().clone()
    stack.step({"x": torch.ones(2, 3, dtype=torch.float64)})
    torch.testing.assert_close(stack.params["weight"][0].detach(), frozen)
    assert stack.params["weight"][1].item() != 0.0


def test_negative_pairs_are_fresh_and_never_self_paired():
    # Research-code fault 3: negatives drawn once, and self-pairings labelled 0.
    rng = np.random.default_rng(0)
    draws = [tuple(_derangement_shifts(100, 4, rng)) for _ in range(20)]
    assert all(0 not in shifts and len(set(shifts)) == 4 for shifts in draws)
    assert len(set(draws)) > 15


def test_classifier_loss_uses_logits_without_saturation():
    # Research-code fault 7: cross-entropy on probabilities saturates near
    # |logit| = 16. On logits, a confident, correct classifier at logit 40
    # must still have a finite loss with a gradient pointing the right way.
    net = ClassifierNet(2, 2, hidden=4, n_blocks=0)
    with torch.no_grad():
        net.trunk.out.bias.fill_(40.0)
    x = torch.randn(8, 2)
    loss = _classifier_loss(net, x, x, np.array([1]))
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 5.0
    assert net.trunk.out.bias.grad.item() > 0


def test_classifier_trains_saves_and_loads(tmp_path):
    model = LinearGaussian.paper(sigma=0.1, n_data=10, seed=1)
    problem = model.problem()
    estimator = train(problem, 4000, seed=0, method="classifier", n_members=1,
                      hidden=32, n_blocks=1, max_epochs=30, n_negatives=2, compress=4)
    sims = simulate(problem, 2000, seed=3)
    exact = model.logR(sims.x_A, sims.x_B)
    log_r = estimator.log_ratio(sims.x_A, sims.x_B)
    # A small, briefly trained classifier need not get the level of log R
    # right, but it must order pairs far better than chance: an untrained one
    # has |corr| below 4 / sqrt(2000) = 0.09 with overwhelming probability.
    assert np.corrcoef(log_r, exact)[0, 1] > 0.2
    copy = load(estimator.save(tmp_path / "c"))
    np.testing.assert_array_equal(copy.log_ratio(sims.x_A, sims.x_B), log_r)


def _constant_column(theta, rng):
    x = theta + 0.1 * rng.standard_normal(theta.shape)
    return np.hstack([x, np.ones((len(theta), 1))])


def test_zero_variance_columns_are_refused():
    model = LinearGaussian.paper(sigma=1.0, n_data=5, seed=1)
    problem = accord.Problem(model.prior, _constant_column, model.problem().simulate_B)
    with pytest.raises(ValueError, match=r"x_A has columns with zero variance.*\[3\]"):
        train(problem, 500, seed=0, n_members=1)


def test_bad_input_is_reported(trained):
    _, problem, estimator = trained
    with pytest.raises(ValueError, match=r"x_A must have shape \(\*, 50\)"):
        estimator.log_ratio(np.zeros((3, 4)), np.zeros((3, 50)))
    with pytest.raises(ValueError, match="x_B contains NaN"):
        estimator.log_ratio(np.zeros((3, 50)), np.full((3, 50), np.nan))
    with pytest.raises(ValueError, match="x_A is empty"):
        estimator.log_ratio(np.zeros((0, 50)), np.zeros((0, 50)))
    with pytest.raises(ValueError, match="same leading shape"):
        estimator.log_ratio(np.zeros((3, 50)), np.zeros((2, 50)))
    with pytest.raises(ValueError, match="method must be"):
        train(problem, 100, method="magic")
    with pytest.raises(ValueError, match="n_members must be an integer >= 1"):
        train(problem, 100, n_members=0)
    with pytest.raises(TypeError, match="accord.Problem"):
        train("problem", 100)


def test_posterior_method_needs_a_factorising_prior():
    from accord.priors import MultivariateNormal

    model = LinearGaussian.paper(sigma=1.0, n_data=5, seed=1)
    prior = MultivariateNormal(np.zeros(3), np.eye(3) + 0.1, names=["theta_0", "theta_1", "x"])
    problem = accord.Problem(prior, model.problem().simulate_A,
                             model.problem().simulate_B, params_A=["theta_0", "theta_1"],
                             params_B=["theta_0", "theta_1"] + ["x"][:0] + ["x"])
    with pytest.raises(ValueError, match="couples shared and nuisance"):
        train(problem, 500, seed=0, n_members=1)


def test_a_tiny_training_set_is_loud():
    problem = LinearGaussian.paper(sigma=1.0, n_data=5, seed=1).problem()
    with pytest.warns(accord.AccordWarning, match="training on only 200 simulations"):
        train(problem, 200, seed=0, n_members=1, max_epochs=1)


def test_training_streams_a_large_store_a_block_at_a_time(tmp_path, monkeypatch):
    # A store above the streaming threshold is never read whole: every read
    # covers at most one block of chunks, and the estimate is still right.
    from accord import _training, estimator as estimator_module

    model = LinearGaussian.paper(sigma=1.0, n_data=10, seed=0)
    problem = model.problem()
    store = accord.simulate_to_store(problem, 6000, tmp_path / "sims", seed=1,
                                     chunk_size=500)
    monkeypatch.setattr(estimator_module, "_STREAM_ABOVE_BYTES", 0)
    monkeypatch.setattr(_training, "BLOCK_ROWS", 1500)
    monkeypatch.setattr(_training, "INIT_ROWS", 3000)
    sizes = []
    read = accord.SimulationStore.read

    def counting_read(self, start, stop):
        sizes.append(stop - start)
        return read(self, start, stop)

    monkeypatch.setattr(accord.SimulationStore, "read", counting_read)
    estimator = train(problem, seed=2, simulations=store, n_members=2, max_epochs=4)
    assert sizes and max(sizes) <= 500
    again = train(problem, seed=2, simulations=store, n_members=2, max_epochs=4)

    fresh = accord.simulate(problem, 500, seed=9)
    log_r = estimator.log_ratio(fresh.x_A, fresh.x_B)
    np.testing.assert_array_equal(log_r, again.log_ratio(fresh.x_A, fresh.x_B))
    error = log_r - model.logR(fresh.x_A, fresh.x_B)
    # The least-squares start is exact for this problem; a few epochs on 6000
    # pairs leave errors of a few hundredths.
    assert np.sqrt(np.mean(error**2)) < 0.2


def test_an_unavailable_device_is_named():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ValueError, match="device='cuda'"):
        train(LinearGaussian.paper(n_data=5).problem(), 100, seed=0, device="cuda")
    with pytest.raises(ValueError, match="device must be"):
        train(LinearGaussian.paper(n_data=5).problem(), 100, seed=0, device="tpu")
