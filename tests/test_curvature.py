"""Hessian tools (Lanczos, Hutchinson, stochastic Lanczos quadrature) against a dense Hessian and closed forms."""

import numpy as np
import pytest
import torch
from torch import nn

from deepissues.curvature import Hessian, hvp, largest_gap, smoothed_density
from deepissues.nets import mlp

# torch.func.hessian registers jvp decompositions through torch.jit.script, which warns
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def _problem(seed=0):
    torch.manual_seed(seed)
    net = mlp([10, 30, 20, 3], "tanh").double()  # 1013 parameters
    x, y = torch.randn(64, 10, dtype=torch.float64), torch.randint(0, 3, (64,))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(200):  # near a minimum, where the spectrum has a bulk and outliers
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net, (x, y)


def _dense_hessian(net, data):
    x, y = data
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def loss(theta):
        params, at = {}, 0
        for n, s in zip(names, shapes):
            params[n] = theta[at:at + s.numel()].view(s)
            at += s.numel()
        return nn.functional.cross_entropy(torch.func.functional_call(net, params, (x,)), y)

    return torch.func.hessian(loss)(flat)


@pytest.fixture(scope="module")
def problem():
    net, data = _problem()
    return net, data, _dense_hessian(net, data)


def test_hvp_equals_the_dense_hessian_times_v(problem):
    net, (x, y), H = problem
    v = torch.randn(H.shape[0], dtype=torch.float64)
    params = list(net.parameters())
    parts, at = [], 0
    for p in params:
        parts.append(v[at:at + p.numel()].view_as(p))
        at += p.numel()
    got = torch.cat([t.reshape(-1) for t in hvp(nn.functional.cross_entropy(net(x), y), params, parts)])
    assert torch.allclose(got, H @ v, atol=1e-10)


def test_top_eigenvalues_match_eigvalsh_within_thirty_products(problem):
    net, data, H = problem
    exact = torch.linalg.eigvalsh(H).flip(0)[:3].numpy()
    hessian = Hessian(net, nn.functional.cross_entropy, data)
    values, vectors = hessian.eigenvalues(top_n=3, iterations=30)
    assert hessian.products <= 30 + 3  # the steps, and one product per pair to confirm its residual
    np.testing.assert_allclose(values, exact, rtol=1e-3)
    # the eigenvectors are unit vectors with H v = λ v
    for value, vector in zip(values, vectors):
        assert float(vector.norm()) == pytest.approx(1.0, abs=1e-6)
        assert float((H @ vector - value * vector).norm()) < 1e-3 * abs(value)


@pytest.fixture(scope="module")
def at_initialisation():
    torch.manual_seed(1)
    net = mlp([10, 30, 20, 3], "tanh").double()
    data = torch.randn(64, 10, dtype=torch.float64), torch.randint(0, 3, (64,))
    return net, data, _dense_hessian(net, data)


def test_twenty_eigenpairs_at_initialisation_match_the_dense_hessian(at_initialisation):
    # at initialisation the top of the spectrum has no gap, where unconverged Ritz values fall short
    net, data, H = at_initialisation
    exact = torch.linalg.eigvalsh(H).flip(0)[:20].numpy()
    values, vectors = Hessian(net, nn.functional.cross_entropy, data).eigenvalues(top_n=20, tol=1e-4)
    assert len(values) == 20
    np.testing.assert_allclose(values, exact, rtol=1e-4)
    residuals = (H @ vectors.T - vectors.T * torch.from_numpy(values)).norm(dim=0).numpy() / np.abs(values)
    assert residuals.max() <= 1e-4


def test_unconverged_eigenvalues_raise_naming_their_residuals(at_initialisation):
    # negative control: 25 steps cannot resolve 20 eigenvalues without a gap; the Ritz values of
    # a short run fall below the true ones, and the method refuses to return them
    net, data, H = at_initialisation
    hessian = Hessian(net, nn.functional.cross_entropy, data)
    with pytest.raises(RuntimeError, match=r"did not converge to tol=0.001 in 25 .*relative residuals \["):
        hessian.eigenvalues(top_n=20, iterations=25)
    with pytest.raises(ValueError, match="tol must be a number > 0"):
        hessian.eigenvalues(tol=0.0)
    with pytest.raises(ValueError, match="top_n must be at most"):
        hessian.eigenvalues(top_n=H.shape[0] + 1)


def test_eigenvalues_of_a_low_rank_hessian_stop_at_its_invariant_subspace():
    # a linear least-squares model on 3 inputs has a 4 x 4 Hessian (weights and bias) of rank <= 4
    torch.manual_seed(0)
    model = nn.Linear(3, 1).double()
    x, y = torch.randn(40, 3, dtype=torch.float64), torch.randn(40, 1, dtype=torch.float64)
    hessian = Hessian(model, nn.functional.mse_loss, (x, y))
    values, _ = hessian.eigenvalues(top_n=4)
    design = torch.cat([x, torch.ones(40, 1, dtype=torch.float64)], 1)
    exact = torch.linalg.eigvalsh(2 * design.T @ design / 40).flip(0).numpy()
    np.testing.assert_allclose(values, exact, rtol=1e-8)
    assert hessian.products <= 4 + 4


def test_hutchinson_trace_is_within_three_standard_errors(problem):
    net, data, H = problem
    estimate, stderr = Hessian(net, nn.functional.cross_entropy, data).trace(probes=200)
    assert stderr > 0
    assert abs(estimate - float(H.trace())) < 3 * stderr


def test_spectral_density_integrates_to_one_and_matches_the_spectrum(problem):
    net, data, H = problem
    nodes, weights = Hessian(net, nn.functional.cross_entropy, data).density(iterations=40, probes=3)
    assert nodes.shape == weights.shape == (3, 40)
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-8)
    exact = torch.linalg.eigvalsh(H).numpy()
    assert nodes.max() == pytest.approx(exact.max(), rel=1e-3)  # the extreme Ritz values converge first
    grid = np.linspace(exact.min() - 1, exact.max() + 1, 4001)
    curve = smoothed_density(nodes, weights, grid, sigma=0.05)
    assert np.trapezoid(curve, grid) == pytest.approx(1.0, abs=1e-3)
    # SLQ's quadrature reproduces the first moments of the spectrum: mean eigenvalue = tr(H)/n
    assert float((weights * nodes).sum(1).mean()) == pytest.approx(exact.mean(), abs=0.5 * exact.std())


def test_hessian_products_switch_dropout_off_and_restore_the_mode():
    torch.manual_seed(0)
    net = mlp([5, 16, 3], "tanh", dropout=0.5).double().train()
    data = (torch.randn(20, 5, dtype=torch.float64), torch.randint(0, 3, (20,)))
    hessian = Hessian(net, nn.functional.cross_entropy, data)
    v = torch.randn(hessian.size, dtype=torch.float64)
    assert torch.equal(hessian.matvec(v), hessian.matvec(v))  # no random dropout masks
    assert net.training


def test_largest_gap_finds_the_end_of_a_planted_group_of_outliers():
    # nine outliers decaying slowly, then a bulk: the drop after rank 9 is the largest below the top
    spectrum = np.concatenate([[200.0], 10.0 * 0.9 ** np.arange(8), 0.5 * 0.95 ** np.arange(11)])
    assert largest_gap(spectrum) == (9, pytest.approx(10.0 * 0.9 ** 7 / 0.5))
    # the top one standing alone is the largest drop of all, and skip=0 reports it
    assert largest_gap(spectrum, skip=0)[0] == 1
    # negative control: a geometric spectrum has no gap, every ratio is the same
    rank, ratio = largest_gap(2.0 ** -np.arange(20.0))
    assert ratio == pytest.approx(2.0)
    with pytest.raises(ValueError, match="descending"):
        largest_gap([1.0, 2.0, 0.5])
