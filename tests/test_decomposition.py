"""Decomposition against end-to-end: the stocks SNR in closed form, the k-tuples' labels, and training."""

import math

import pytest
import torch

from deepissues import failures as F, repro
from deepissues.failures import decomposition
from deepissues.training import train_steps


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
    fast = _last_layer_gradients(net, (approach,), *tuples)[approach]
    slow = _loop_gradients(net, approach, *tuples)
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-6)
    snr, stderr = F.tuple_gradient_snr(k, approach, seed=5, net=net, n_tuples=n, size=size, chunk=16, groups=10)
    assert snr == pytest.approx(F.gradient_snr(slow), rel=1e-4)
    assert stderr == pytest.approx(F.gradient_snr_stderr(slow, 10), rel=1e-3)
    # Control: the other approach's loss gives other gradients.
    other = "decomposition" if approach == "end-to-end" else "end-to-end"
    assert not torch.allclose(fast, _last_layer_gradients(net, (other,), *tuples)[other], atol=1e-4)


def test_tuple_gradient_snr_of_both_approaches_from_one_pass_equals_each_measured_alone():
    k, size, n = 2, 14, 60
    with repro.seeded(4):
        net = F.TupleNet(k, size, channels=3)
    both = F.tuple_gradient_snr(k, decomposition.APPROACHES, seed=1, net=net, n_tuples=n, size=size, chunk=25,
                                groups=6)
    for approach in decomposition.APPROACHES:
        # the independent computation: one full forward and backward pass per example
        grads = _loop_gradients(net, approach, *F.k_tuples(n, k, size, seed=30_000 + 1))
        assert both[approach][0] == pytest.approx(F.gradient_snr(grads), rel=1e-4)
        assert both[approach][1] == pytest.approx(F.gradient_snr_stderr(grads, 6), rel=1e-3)
        assert both[approach] == F.tuple_gradient_snr(k, approach, seed=1, net=net, n_tuples=n, size=size,
                                                      chunk=25, groups=6)
    # Control: the shared pass does not hand one approach's gradients to the other.
    assert both["end-to-end"][0] != pytest.approx(both["decomposition"][0], rel=1e-2)
    for bad in ([], ("end-to-end", "end-to-end"), {"end-to-end"}):
        with pytest.raises(ValueError, match="approach"):
            F.tuple_gradient_snr(k, bad, net=net, n_tuples=n, size=size)


def test_tuple_net_in_channels_last_computes_the_usual_layers_from_the_usual_initialisation():
    k, size, channels = 2, 14, 3
    with repro.seeded(7):
        net = F.TupleNet(k, size, channels)
    with repro.seeded(7):  # the same draws in the same order, in the default memory format
        first = torch.nn.Conv2d(1, channels, 5, padding=2)
    assert torch.equal(net.score[0].weight, first.weight) and torch.equal(net.score[0].bias, first.bias)
    assert net.score[2].weight.is_contiguous(memory_format=torch.channels_last)
    images = F.k_tuples(5, k, size, seed=3)[0]

    def reference(flip=False):
        """The network in plain NCHW tensors, layer by layer (flip: the kernels transposed)."""
        w1, w2 = (net.score[i].weight.detach().contiguous() for i in (0, 2))
        if flip:
            w1, w2 = w1.transpose(-1, -2), w2.transpose(-1, -2)
        x = images.reshape(5 * k, 1, size, size).contiguous()
        x = torch.nn.functional.max_pool2d(torch.nn.functional.conv2d(x, w1, net.score[0].bias, padding=2), 2)
        x = torch.nn.functional.max_pool2d(torch.nn.functional.conv2d(x, w2, net.score[2].bias, padding=2), 2)
        scores = net.score[5:](x.flatten(1)).reshape(5, k)
        return net.head(torch.sigmoid(scores))[:, 0], scores

    with torch.no_grad():
        output, scores = net(images)
        expected_output, expected_scores = reference()
        torch.testing.assert_close(scores, expected_scores, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(output, expected_output, rtol=1e-5, atol=1e-6)
        # Control: a layout mistake, such as kernels read transposed, would show.
        assert not torch.allclose(scores, reference(flip=True)[1], atol=1e-4)


def _old_line_segment_images(n, size, seed):
    """The images as first written: select the points inside each segment, then set their pixels."""
    g = repro.generator(seed)
    theta = torch.rand(n, generator=g) * math.pi
    centre = torch.rand(n, 2, generator=g) * size
    scale = size / 28
    length = 5 * scale + torch.rand(n, generator=g) * (size - 10 * scale)
    steps = torch.arange(-size, size + 1, dtype=torch.float32) / 2
    direction = torch.stack([theta.cos(), theta.sin()], 1)
    points = centre[:, None] + steps[None, :, None] * direction[:, None]
    inside = (steps[None].abs() <= length[:, None] / 2) & ((points >= 0) & (points < size)).all(-1)
    pixels = points.floor().long().clamp(0, size - 1)
    images = torch.zeros(n, size, size)
    rows = torch.arange(n)[:, None].expand_as(inside)
    images[rows[inside], pixels[..., 0][inside], pixels[..., 1][inside]] = 1.0
    return images, points


@pytest.mark.parametrize("size", [14, 28])
def test_line_segment_images_are_the_pixels_selected_point_by_point(size):
    for seed in range(3):
        images, _ = F.line_segment_images(300, size, seed=seed)
        expected, points = _old_line_segment_images(300, size, seed)
        assert torch.equal(images, expected)
    # Control: the comparison sees where each segment ends: marking every point of the line that
    # falls on the image, inside the segment or not, gives other images.
    on_image = ((points >= 0) & (points < size)).all(-1)
    pixels = points.floor().long().clamp(0, size - 1)
    whole_lines = torch.zeros_like(expected)
    rows = torch.arange(300)[:, None].expand_as(on_image)
    whole_lines[rows[on_image], pixels[..., 0][on_image], pixels[..., 1][on_image]] = 1.0
    assert not torch.equal(whole_lines, expected)


def _train_tuples_alone(k, iterations, approach, seed=0, record_every=None, test_size=2000, **setup):
    """train_tuples as first written (with the fused Adam it now uses): one network, the library's
    train_steps loop, the whole test set in one pass."""
    size, channels, batch_size, lr = (setup[key] for key in ("size", "channels", "batch_size", "lr"))
    with repro.seeded(seed):
        net = F.TupleNet(k, size, channels)
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-5, fused=True)
    test_images, _, test_primary = F.k_tuples(test_size, k, size, seed=10_000 + seed)

    def loss(model, batch):
        images, intermediate, primary = batch
        output, scores = model(images)
        value = (1 - output * primary).clamp(min=0).mean()
        return value + (1 - scores * intermediate).clamp(min=0).mean() if approach == "decomposition" else value

    def accuracy(model):
        return (torch.sign(model(test_images)[0]) == test_primary).float().mean()

    curve = train_steps(net, loss, lambda step: F.k_tuples(batch_size, k, size, seed=seed * 1_000_003 + step),
                        iterations, opt, record=accuracy, record_every=record_every, progress=False)
    return net, curve


def test_train_tuples_side_by_side_makes_each_run_exactly_as_alone():
    setup = dict(size=14, channels=3, batch_size=16, lr=3e-3)
    runs = F.train_tuples(2, 40, decomposition.APPROACHES, seed=2, progress=False, record_every=10, test_size=300,
                          **setup)
    for approach in decomposition.APPROACHES:
        net, curve = _train_tuples_alone(2, 40, approach, seed=2, record_every=10, test_size=300, **setup)
        assert all(torch.equal(a, b) for a, b in zip(net.parameters(), runs[approach][0].parameters()))
        assert [s for s, _ in curve] == [s for s, _ in runs[approach][1]] == [10, 20, 30, 40]
        assert [a for _, a in runs[approach][1]] == pytest.approx([a for _, a in curve], abs=1.5 / 300)
        assert F.train_tuples(2, 40, approach, seed=2, progress=False, record_every=10, test_size=300,
                              **setup)[1] == runs[approach][1]
    # Control: the two approaches' networks do part, so sharing the tuples did not tie them.
    weights = [runs[a][0].score[0].weight for a in decomposition.APPROACHES]
    assert not torch.allclose(*weights, atol=1e-4)


def _train_stocks_alone(approach, iterations, d, k, lr, optimizer, seed=0, batch_size=100):
    """train_stocks as first written: one-hot references through StockPolicy, the library's
    train_steps loop, the validation loss over the 5 000 draws one by one."""
    market = F.stocks_market(d, k, seed)
    with repro.seeded(seed):
        policy = decomposition.StockPolicy(d, k, init_std=d ** -0.5)
    opt = torch.optim.Adam(policy.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-5) if optimizer == "adam" \
        else torch.optim.SGD(policy.parameters(), lr=lr)
    X, Z, Y = F.stocks_batch(5000, market, k, seed=seed + 1)
    curve = train_steps(policy, lambda model, batch: decomposition.stocks_loss(model, *batch, approach),
                        lambda step: F.stocks_batch(batch_size, market, k, seed=seed * 1_000_003 + step + 1),
                        iterations, opt, record=lambda model: decomposition.stocks_loss(model, X, Z, Y, "end-to-end"),
                        progress=False)
    return policy, curve


@pytest.mark.parametrize("optimizer, lrs", [("sgd", (3.0, 30.0)), ("adam", (0.1,))])
def test_train_stocks_runs_side_by_side_as_each_would_alone(optimizer, lrs):
    d, k = 30, 6
    runs = F.train_stocks(decomposition.APPROACHES, 150, d=d, k=k, lr=list(lrs), optimizer=optimizer, seed=3,
                          progress=False)
    assert sorted(runs) == sorted((lr, a) for lr in lrs for a in decomposition.APPROACHES)
    for (lr, approach), (policy, curve) in runs.items():
        alone, expected = _train_stocks_alone(approach, 150, d, k, lr, optimizer, seed=3)
        assert [s for s, _ in curve] == [s for s, _ in expected]
        assert [v for _, v in curve] == pytest.approx([v for _, v in expected], abs=1e-5)
        torch.testing.assert_close(policy.linear.weight, alone.linear.weight, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(policy.linear.bias, alone.linear.bias, rtol=1e-5, atol=1e-5)
    # Control: the runs differ from one another (each approach, each step), so no run's result
    # stood in for another's.
    weights = [policy.linear.weight for policy, _ in runs.values()]
    assert not any(torch.allclose(a, b, atol=1e-4) for i, a in enumerate(weights) for b in weights[i + 1:])
    # one approach and one step size give the single run, as before
    policy, curve = F.train_stocks("decomposition", 150, d=d, k=k, lr=lrs[0], optimizer=optimizer, seed=3,
                                   progress=False)
    # (Adam is the fused kernel, whose vector lanes round a tensor's elements by position: equal to
    # float rounding, not bit for bit)
    single = runs[lrs[0], "decomposition"][1]
    assert [s for s, _ in curve] == [s for s, _ in single]
    assert [v for _, v in curve] == pytest.approx([v for _, v in single], abs=1e-6)
    for bad in ([], (1.0, 1.0), "0.1"):
        with pytest.raises(ValueError, match="lr|step sizes"):
            F.train_stocks("end-to-end", 5, d=d, k=k, lr=bad)


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


def test_tuple_accuracy_is_the_trained_curves_last_point_and_counts_signs_tuple_by_tuple():
    setup = dict(size=14, channels=3)
    net, curve = F.train_tuples(1, 30, "end-to-end", seed=4, progress=False, record_every=30, test_size=300,
                                batch_size=16, lr=3e-3, **setup)
    assert decomposition.tuple_accuracy(1, 4, net=net, test_size=300) == curve[-1][1]
    # independent count: one tuple at a time through the network, on the tuples the seed fixes
    images, _, primary = F.k_tuples(300, 1, 14, seed=10_000 + 4)
    with torch.no_grad():
        hits = sum(float(net(images[i:i + 1])[0][0]) * float(primary[i]) > 0 for i in range(300))
    assert curve[-1][1] == pytest.approx(hits / 300, abs=1e-6)  # a float32 mean
    # without a net: the initialisation train_tuples starts from, at chance on the parity of k = 3
    fresh = decomposition.tuple_accuracy(3, 4, test_size=2000, **setup)
    with repro.seeded(4):
        start = decomposition.TupleNet(3, **setup)
    assert fresh == decomposition.tuple_accuracy(3, 4, net=start, test_size=2000)
    assert abs(fresh - 0.5) < 4 * 0.5 / math.sqrt(2000)
    # Control: a network whose output is pinned to +1 scores exactly the share of +1 labels, and
    # its sign flipped scores the rest
    images, _, primary = F.k_tuples(2000, 3, 14, seed=10_000 + 4)
    with torch.no_grad():
        start.head[-1].weight.zero_()
        start.head[-1].bias.fill_(1.0)
    positive = float((primary > 0).float().mean())
    assert decomposition.tuple_accuracy(3, 4, net=start, test_size=2000) == pytest.approx(positive, abs=1e-6)
    with torch.no_grad():
        start.head[-1].bias.fill_(-1.0)
    assert decomposition.tuple_accuracy(3, 4, net=start, test_size=2000) == pytest.approx(1 - positive, abs=1e-6)
    with pytest.raises(ValueError, match="TupleNet with k = 2"):
        decomposition.tuple_accuracy(2, net=start)


def test_stocks_draws_are_the_integer_coin_flips_with_the_concerned_stock_set_to_one():
    """The draws made straight as floats with scatters equal, bit for bit, those of the integer
    formula: one-hot of the concerned stock, ±1 coin flips elsewhere."""
    for d, k, n, seed in ((1000, 1000, 100, 7), (30, 6, 257, 0), (5, 1, 10, 3)):
        market = F.stocks_market(d, k, seed=seed)
        ref, Z, Y = decomposition._stocks_draws(n, market, k, seed)
        g = repro.generator(seed)
        ref_int = torch.randint(0, d, (n,), generator=g)
        Y_int = torch.nn.functional.one_hot(market[ref_int], k).float()
        Z_int = torch.where(Y_int > 0, 1.0, torch.randint(0, 2, (n, k), generator=g).float() * 2 - 1)
        assert torch.equal(ref, ref_int) and torch.equal(Y, Y_int) and torch.equal(Z, Z_int)
        # Control: the next seed's draws differ, so the comparison is not of constants
        assert k == 1 or not torch.equal(decomposition._stocks_draws(n, market, k, seed + 1)[1], Z_int)
