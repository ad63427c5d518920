"""Decomposition against end-to-end: the stocks SNR in closed form, the k-tuples' labels, and training."""

import pytest
import torch

from deepissues import failures as F


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
