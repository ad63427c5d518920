"""Loss slices against exact symmetries and closed forms."""

import numpy as np
import pytest
import torch
from torch import nn

from deepissues.landscape import interpolate, loss_line, loss_plane, random_direction
from deepissues.nets import mlp


def _relu_net_and_rescaled(c=3.0):
    torch.manual_seed(0)
    net = mlp([5, 12, 3])
    scaled = mlp([5, 12, 3])
    with torch.no_grad():
        scaled[0].weight.copy_(c * net[0].weight)
        scaled[0].bias.copy_(c * net[0].bias)
        scaled[2].weight.copy_(net[2].weight / c)
        scaled[2].bias.copy_(net[2].bias)
    return net, scaled


def test_filter_normalised_slices_ignore_relu_rescaling():
    net, scaled = _relu_net_and_rescaled()
    data = (torch.randn(50, 5), torch.randint(0, 3, (50,)))
    loss = nn.functional.cross_entropy
    _, original = loss_line(net, random_direction(net, "filter", seed=1), loss, data, steps=11, distance=1.0)
    _, rescaled = loss_line(scaled, random_direction(scaled, "filter", seed=1), loss, data, steps=11, distance=1.0)
    np.testing.assert_allclose(original, rescaled, atol=1e-5)
    _, raw = loss_line(scaled, random_direction(scaled, None, seed=1), loss, data, steps=11, distance=1.0)
    _, raw_original = loss_line(net, random_direction(net, None, seed=1), loss, data, steps=11, distance=1.0)
    assert np.abs(raw - raw_original).max() > 1e-2


def test_filter_normalisation_matches_each_neuron_and_zeroes_biases():
    net = mlp([5, 12, 3])
    d = random_direction(net, "filter")
    assert torch.allclose(d["0.weight"].norm(dim=1), net[0].weight.norm(dim=1))
    assert torch.all(d["0.bias"] == 0) and torch.all(d["2.bias"] == 0)
    conv = nn.Sequential(nn.Conv2d(1, 4, 3))
    dc = random_direction(conv, "filter")
    assert torch.allclose(dc["0.weight"].flatten(1).norm(dim=1), conv[0].weight.flatten(1).norm(dim=1))


def test_loss_plane_is_centred_on_the_model_and_agrees_with_the_line():
    torch.manual_seed(0)
    net = mlp([5, 8, 3], "tanh")
    data = (torch.randn(30, 5), torch.randint(0, 3, (30,)))
    loss = nn.functional.cross_entropy
    d1, d2 = random_direction(net, seed=1), random_direction(net, seed=2)
    alphas, betas, grid = loss_plane(net, d1, d2, loss, data, distance=0.5, steps=5, progress=False)
    assert alphas[2] == 0 and betas[2] == 0
    assert grid[2, 2] == pytest.approx(loss(net(data[0]), data[1]).item(), abs=1e-6)
    _, line = loss_line(net, d1, loss, data, steps=5, distance=0.5)
    np.testing.assert_allclose(grid[:, 2], line, atol=1e-6)


def test_interpolation_ends_at_both_models():
    torch.manual_seed(0)
    a, b = mlp([5, 8, 3]), mlp([5, 8, 3])
    data = (torch.randn(30, 5), torch.randint(0, 3, (30,)))
    loss = nn.functional.cross_entropy
    alphas, losses = interpolate(a, b, loss, data, steps=11)
    assert losses[0] == pytest.approx(loss(a(data[0]), data[1]).item(), abs=1e-6)
    assert losses[-1] == pytest.approx(loss(b(data[0]), data[1]).item(), abs=1e-6)
    with pytest.raises(ValueError, match="same parameters"):
        interpolate(a, mlp([5, 9, 3]), loss, data)


def test_slices_reject_bad_input():
    net = mlp([5, 8, 3])
    data = (torch.randn(10, 5), torch.randint(0, 3, (10,)))
    loss = nn.functional.cross_entropy
    with pytest.raises(ValueError, match="exactly the model's parameters"):
        loss_line(net, {"0.weight": torch.zeros(8, 5)}, loss, data)
    other = random_direction(mlp([5, 9, 3]))
    with pytest.raises(ValueError, match="shape"):
        loss_line(net, other, loss, data)
    with torch.no_grad():
        net[0].weight[3] = 0
    with pytest.raises(ValueError, match="zero norm"):
        random_direction(net, "filter")
    with pytest.raises(ValueError, match=r"data must be a pair \(x, y\) of tensors with the same number of rows >= 1"):
        loss_line(net, random_direction(net, None), loss, (data[0][:0], data[1][:0]))
