import itertools
import math

import numpy as np
import pytest
import torch

from deepissues.spin_glass import (GROUND_STATE_P3, couplings, descend, energy_and_gradient, spin_glass_minima,
                                   threshold_energy)


def brute_force_energy(S, sigma):
    """H(σ)/n summed term by term over every index tuple: no contraction shared with the module."""
    n, p = S.shape[0], S.dim()
    total = sum(S[index] * math.prod(sigma[i] for i in index) for index in itertools.product(range(n), repeat=p))
    return total * n ** (-(p - 1) / 2) / n


def einsum_energy(S, sigma):
    """H(σ)/n as one einsum over all p indices: fast enough for a dense Hessian."""
    n, p = S.shape[0], S.dim()
    letters = "abcdefgh"[:p]
    return torch.einsum(f"{letters}," + ",".join(letters) + "->", S, *[sigma] * p) * n ** (-(p - 1) / 2) / n


def riemannian_hessian_eigenvalues(S, sigma):
    """Eigenvalues of the Hessian of H on the sphere |σ|² = n at a critical point σ, on its tangent
    space: P (∇²H − μ I) P with μ = σ·∇H / n the Lagrange multiplier, from a dense autograd Hessian."""
    n = len(sigma)
    hessian = torch.autograd.functional.hessian(lambda s: einsum_energy(S, s) * n, sigma)
    gradient = energy_and_gradient(S, sigma[None])[1][0]
    mu = gradient @ sigma / n
    tangent = torch.linalg.svd(torch.eye(n, dtype=S.dtype) - torch.outer(sigma, sigma) / n)[0][:, :n - 1]
    return torch.linalg.eigvalsh(tangent.T @ (hessian - mu * torch.eye(n, dtype=S.dtype)) @ tangent)


def test_couplings_are_symmetric_with_the_normalisation_of_the_model():
    S = couplings(30, p=3, seed=4)
    for order in itertools.permutations(range(3)):
        torch.testing.assert_close(S.permute(*order), S)
    # an entry with three distinct indices averages 6 iid N(0, 1) draws: variance 1/6
    i, j, k = np.array([t for t in itertools.combinations(range(30), 3)]).T
    assert S[i, j, k].var().item() == pytest.approx(1 / 6, rel=0.1)
    # negative control: a diagonal entry is one draw repeated 6 times, variance 1
    assert S.diagonal(0, 0, 1).diagonal(0, 0, 1).var().item() == pytest.approx(1.0, rel=0.35)
    assert torch.equal(couplings(5, seed=1), couplings(5, seed=1))
    assert not torch.equal(couplings(5, seed=1), couplings(5, seed=2))


@pytest.mark.parametrize("p", [2, 3, 4])
def test_energy_and_gradient_match_the_sum_over_every_index_tuple(p):
    S = couplings(5, p=p, seed=p)
    sigma = torch.randn(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    energies, gradients = energy_and_gradient(S, sigma.detach())
    brute = torch.stack([brute_force_energy(S, s) for s in sigma])
    torch.testing.assert_close(energies, brute.detach())
    torch.testing.assert_close(gradients, torch.autograd.grad(brute.sum() * 5, sigma)[0])
    torch.testing.assert_close(energies, torch.stack([einsum_energy(S, s) for s in sigma.detach()]))
    # negative control: without the model's n^{-(p-1)/2} the sum is another number
    assert not torch.allclose(energies, brute.detach() * 5 ** ((p - 1) / 2))


def test_two_spin_minima_are_the_bottom_eigenvector_at_the_semicircle_edge():
    # p = 2: H = n^{-1/2} σᵀSσ, so every minimum on the sphere has energy per spin λ_min(S)/√n
    n = 40
    S = couplings(n, p=2, seed=0)
    bottom = torch.linalg.eigvalsh(S)[0].item() / math.sqrt(n)
    starts = torch.randn(8, n, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    _, energies, converged = descend(S, starts, tol=1e-7, max_steps=20000)
    assert converged.all()
    np.testing.assert_allclose(energies.numpy(), bottom, atol=1e-9)
    # negative control: the random starts themselves sit far above the bottom
    assert (energy_and_gradient(S, starts * math.sqrt(n) / starts.norm(dim=1, keepdim=True))[0] > bottom + 0.5).all()
    # at large n the bottom tends to the threshold energy, which for p = 2 is the ground state −√2
    big = couplings(400, p=2, seed=0)
    assert torch.linalg.eigvalsh(big)[0].item() / math.sqrt(400) == pytest.approx(threshold_energy(2), abs=0.05)


def test_descent_ends_at_local_minima_of_the_three_spin_glass():
    n = 10
    S = couplings(n, p=3, seed=7)
    starts = torch.randn(4, n, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    minima, energies, converged = descend(S, starts, tol=1e-8, max_steps=20000)
    assert converged.all()
    for sigma, energy in zip(minima, energies):
        assert sigma.norm().item() == pytest.approx(math.sqrt(n))
        assert brute_force_energy(S, sigma).item() == pytest.approx(energy.item())
        assert riemannian_hessian_eigenvalues(S, sigma).min() > -1e-6
    # negative control: descent on −H ends at maxima of H, where every tangent curvature is negative
    maxima, _, converged = descend(-S, starts, tol=1e-8, max_steps=20000)
    assert converged.all()
    for sigma in maxima:
        assert riemannian_hessian_eigenvalues(S, sigma).max() < 0


def test_spin_glass_minima_sit_between_the_ground_state_and_zero_and_are_seeded():
    energies = spin_glass_minima(30, 20, seed=3, progress=False)
    assert energies.shape == (20,) and energies.dtype == np.float64
    assert (energies < 0).all() and (energies > GROUND_STATE_P3 - 0.15).all()
    np.testing.assert_array_equal(energies, spin_glass_minima(30, 20, seed=3, progress=False))
    assert not np.array_equal(energies, spin_glass_minima(30, 20, seed=4, progress=False))
    # float64 reaches the same minima up to the stopping tolerance, to within their spread
    wide = spin_glass_minima(30, 20, seed=3, dtype=torch.float64, progress=False)
    assert abs(np.median(wide) - np.median(energies)) < energies.std()
    # negative control: with one step nothing has stopped, and the function says so
    with pytest.raises(RuntimeError, match="did not reach tol"):
        spin_glass_minima(30, 5, max_steps=1, progress=False)


def test_threshold_energy_is_the_closed_form():
    assert threshold_energy(3) == pytest.approx(-1.63299, abs=1e-5)
    assert threshold_energy(2) == pytest.approx(-math.sqrt(2))
    # the ground state lies below the threshold: minima deeper than −E∞ exist but are few
    assert GROUND_STATE_P3 < threshold_energy(3)
