"""Decomposition against end-to-end: the stocks SNR in closed form, the k-tuples' labels, and training."""

import pytest
import torch

from deepissues import failures as F, repro


@pytest.mark.parametrize("k", [2, 10, 50])
def test_stocks_second_moment_ratio_and_snr_match_their_closed_forms(k):
    d = 8
    e2e = F.stocks_gradients("end-to-end", 4000, d, k)
    dec = F.stocks_gradients("decomposition", 4000, d, k)
    ratio = float(e2e.pow(2).sum(1).mean() / dec.pow(2).sum(1).mean())
    assert ratio == pytest.approx(F.stocks_second_moment_ratio(k), rel=0.03)
    snr = F.stocks_snr_closed_form(d, k)
    assert F.gradient_snr(e2e) == pytest.approx(snr["end-to-end"], rel=0.1)
    assert F.gradient_snr(dec) == pytest.approx(snr["decomposition"], rel=0.1)


def test_stocks_mean_gradients_agree_and_gains_have_the_stated_law():
    market = F.stocks_market(6, 4, seed=1)
    X, Z, Y = F.stocks_batch(20000, market, 4, seed=2)
    assert torch.equal(Y.argmax(1), market[X.argmax(1)])
    assert bool((Z[Y > 0] == 1).all()) and abs(float(Z[Y == 0].mean())) < 0.02
    e2e = F.stocks_gradients("end-to-end", 20000, 6, 4, seed=1)
    dec = F.stocks_gradients("decomposition", 20000, 6, 4, seed=1)
    assert float((e2e.mean(0) - dec.mean(0)).abs().max()) < 0.01


def _orientation_from_pixels(image):
    rows, cols = torch.nonzero(image, as_tuple=True)
    return float(((rows - rows.float().mean()) * (cols - cols.float().mean())).float().mean())


def test_train_stocks_reaches_the_best_portfolio_and_reports_its_loss_on_fresh_draws():
    d, k = 20, 5
    policy, curve = F.train_stocks("decomposition", 300, d=d, k=k, progress=False)
    # recompute the reported loss independently: −E[p·z] on the 5 000 validation draws
    X, Z, _ = F.stocks_batch(5000, F.stocks_market(d, k, 0), k, seed=1)
    with torch.no_grad():
        assert curve[-1][1] == pytest.approx(float(-(policy(X) * Z).sum(1).mean()), abs=1e-6)
    # all money on the concerned stock gains +1 for sure, the best possible: the run gets there
    assert curve[-1][1] < -0.95
    # negative control: with a vanishing step the policy stays near the uniform portfolio,
    # whose expected gain is 1/k (the concerned stock's +1; the others average 0)
    frozen = F.train_stocks("decomposition", 300, d=d, k=k, lr=1e-7, progress=False)[1]
    assert abs(frozen[-1][1] + 1 / k) < 0.03 and abs(frozen[-1][1] - frozen[0][1]) < 1e-3


def test_line_segment_labels_agree_with_the_drawn_orientation():
    images, labels = F.line_segment_images(400, size=28, seed=5)
    assert set(images.unique().tolist()) <= {0.0, 1.0}
    covariances = torch.tensor([_orientation_from_pixels(im) for im in images])
    clear = covariances.abs() > 2             # near-axis segments have no visible slope
    assert clear.sum() > 200
    agree = (torch.sign(covariances[clear]) == labels[clear]).float().mean()
    assert agree > 0.97


def test_k_tuple_primary_label_is_the_parity_of_the_intermediate_labels():
    images, intermediate, primary = F.k_tuples(300, 3, size=14, seed=2)
    assert images.shape == (300, 3, 14, 14)
    expected = torch.where((intermediate > 0).sum(1) % 2 == 1, 1.0, -1.0)
    assert torch.equal(primary, expected)
    # the same images come out as from line_segment_images, so the labels belong to them
    flat, labels = F.line_segment_images(900, size=14, seed=2)
    assert torch.equal(images.reshape(900, 14, 14), flat) and torch.equal(intermediate.flatten(), labels)


def test_decomposition_learns_k_3_tuples_where_end_to_end_stays_at_chance():
    kwargs = dict(size=14, channels=8, batch_size=64, lr=3e-3, progress=False, test_size=1000)
    dec = F.train_tuples(3, 300, "decomposition", **kwargs)[1][-1][1]
    e2e = F.train_tuples(3, 300, "end-to-end", **kwargs)[1][-1][1]
    assert dec > 0.7 and abs(e2e - 0.5) < 0.06


def _loop_gradients(net, approach, images, intermediate, primary):
    """Per-example gradients of the last score weights, one full forward and backward pass each."""
    rows = []
    for x, inter, prim in zip(images, intermediate, primary):
        output, scores = net(x[None])
        loss = (1 - prim * output[0]).clamp(min=0) if approach == "end-to-end" \
            else (1 - inter[0] * scores[0, 0]).clamp(min=0)
        rows.append(torch.autograd.grad(loss, net.score[-1].weight)[0].flatten())
    return torch.stack(rows)


@pytest.mark.parametrize("approach", ["end-to-end", "decomposition"])
def test_tuple_gradient_snr_uses_the_per_example_gradients_of_the_last_score_layer(approach):
    from deepissues.failures.decomposition import _last_layer_gradients
    k, size, n = 3, 14, 40
    with repro.seeded(0):
        net = F.TupleNet(k, size, channels=4)
    tuples = F.k_tuples(n, k, size, seed=30_000 + 5)
    fast = _last_layer_gradients(net, approach, *tuples)
    slow = _loop_gradients(net, approach, *tuples)
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-6)
    snr, stderr = F.tuple_gradient_snr(k, approach, seed=5, net=net, n_tuples=n, size=size, chunk=16, groups=10)
    assert snr == pytest.approx(F.gradient_snr(slow), rel=1e-4)
    assert stderr == pytest.approx(F.gradient_snr_stderr(slow, 10), rel=1e-3)
    # Control: the other approach's loss gives other gradients.
    other = "decomposition" if approach == "end-to-end" else "end-to-end"
    assert not torch.allclose(fast, _last_layer_gradients(net, other, *tuples), atol=1e-4)


def test_tuple_gradient_snr_finds_the_signal_a_trained_score_network_has():
    # Decomposition trains the scores to the labels: its gradient is then measurably informative.
    net, _ = F.train_tuples(1, 150, "decomposition", size=14, channels=4, batch_size=64, lr=3e-3,
                            progress=False, test_size=100)
    snr, stderr = F.tuple_gradient_snr(1, "decomposition", net=net, n_tuples=10_000, size=14)
    assert snr > 5 * stderr
    # Control: the same estimator at the untrained network resolves nothing at this sample size.
    snr0, stderr0 = F.tuple_gradient_snr(1, "decomposition", n_tuples=10_000, size=14, channels=4)
    assert abs(snr0) < 3 * stderr0 < snr


def test_tuple_gradient_snr_fresh_network_is_train_tuples_initialisation_and_leaves_the_global_generator():
    state = torch.get_rng_state()
    a = F.tuple_gradient_snr(2, "end-to-end", seed=3, n_tuples=100, size=14, channels=2, groups=5)
    with repro.seeded(3):
        net = F.TupleNet(2, 14, 2)
    b = F.tuple_gradient_snr(2, "end-to-end", seed=3, net=net, n_tuples=100, size=14, groups=5)
    assert a == b
    assert torch.equal(torch.get_rng_state(), state)
