"""Chapter 02, loss surfaces.

The spherical p-spin glass, the model Choromanska et al. (2015) map a deep ReLU network's loss to.

With the normalisation of Auffinger, Ben Arous and Černý (2013), the energy of a configuration σ
on the sphere of radius √n is

    H(σ) = n^{-(p-1)/2} Σ_{i1..ip} J_{i1..ip} σ_{i1} ··· σ_{ip},    J_{i1..ip} iid N(0, 1).

Its energy per spin H/n has a ground state near −E0 (E0 ≈ 1.657 for p = 3) and, as n grows, its
local minima crowd into a band just above it that ends at the threshold −E∞ = −2√((p−1)/p)
(≈ −1.633 for p = 3). Gradient descent from random starts finds minima of H; how their energies
spread as n grows is the picture Choromanska et al. carry over to networks.

Only the permutation-symmetric part of J enters H, so the module keeps that: S = mean over the
p! index permutations of J. Then ∇H(σ) = p·n^{-(p-1)/2}·S(·, σ, …, σ) and H(σ) = σ·∇H(σ)/p
(Euler's identity for a homogeneous polynomial), so one contraction gives both. A contraction
costs n^p per configuration: keep n ≤ 150 for p = 3.
"""

import itertools
import math

import numpy as np
import torch

from .checks import nonnegative, positive_int
from .progress import progress_bar
from .repro import generator

__all__ = ["GROUND_STATE_P3", "threshold_energy", "couplings", "energy_and_gradient", "descend",
           "spin_glass_minima"]

GROUND_STATE_P3 = -1.657  # −E0 for p = 3, Auffinger, Ben Arous and Černý (2013)


def threshold_energy(p):
    """The threshold energy per spin −E∞(p) = −2√((p − 1)/p), where the minima crowd as n → ∞.

    Parameters
    ----------
    p : int >= 2, the number of spins in each interaction.

    Returns
    -------
    float < 0; −√2 for p = 2 (the bottom of the semicircle), about −1.633 for p = 3.

    Example
    -------
    >>> round(threshold_energy(3), 4)
    -1.633
    """
    positive_int("p", p, least=2)
    return -2 * math.sqrt((p - 1) / p)


def couplings(n, p=3, seed=0, dtype=torch.float64):
    """The symmetrised couplings S of one p-spin glass: the mean of iid N(0, 1) couplings J over
    the p! permutations of their indices.

    Parameters
    ----------
    n : int >= 2, the number of spins.
    p : int >= 2.
    seed : int >= 0, the seed of the draw (moved by ``DEEPISSUES_SEED``).
    dtype : torch floating dtype of the result (the draw is in float64 either way).

    Returns
    -------
    (n,)*p tensor, unchanged by any permutation of its indices.

    Example
    -------
    >>> S = couplings(4, p=3)
    >>> bool(torch.allclose(S, S.permute(2, 0, 1)))
    True
    """
    return _draw_couplings(n, p, generator(seed)).to(dtype)


def energy_and_gradient(S, sigma):
    """Energies per spin H(σ)/n and Euclidean gradients ∇H(σ) of a batch of configurations.

    Parameters
    ----------
    S : (n,)*p tensor, symmetric couplings from :func:`couplings`.
    sigma : (m, n) tensor of configurations (on the sphere of radius √n for energies of the model).

    Returns
    -------
    energies : (m,) tensor, H(σ)/n.
    gradients : (m, n) tensor, ∇H(σ).

    Example
    -------
    >>> S = couplings(5, p=2)
    >>> energies, gradients = energy_and_gradient(S, torch.ones(3, 5, dtype=torch.float64))
    >>> tuple(energies.shape), tuple(gradients.shape)
    ((3,), (3, 5))
    """
    n, p = _size_and_order(S)
    sigma = _configurations(sigma, n, S.dtype)
    m = len(sigma)
    contracted = S.reshape(-1, n) @ sigma.T  # contract the last index first: (n^{p-1}, m)
    for _ in range(p - 2):
        contracted = torch.einsum("ajm,mj->am", contracted.reshape(-1, n, m), sigma)
    gradients = p * n ** (-(p - 1) / 2) * contracted.T
    return (gradients * sigma).sum(1) / (p * n), gradients


def descend(S, sigma, lr=0.2, tol=1e-3, max_steps=5000):
    """Projected gradient descent on the sphere of radius √n, each configuration until its
    tangential gradient is small.

    A step moves along the gradient's component tangent to the sphere and scales back to radius
    √n. A configuration stops once the root mean square of its tangential gradient is below
    ``tol``; the others go on, so a slow one costs only its own steps.

    Parameters
    ----------
    S : (n,)*p tensor, symmetric couplings.
    sigma : (m, n) tensor, the starts (scaled onto the sphere first).
    lr : float > 0, the step size (0.2 is stable for p = 3; the Hessian per spin is of order 1).
    tol : float > 0, the stopping threshold on |tangential gradient| / √n.
    max_steps : int >= 1.

    Returns
    -------
    sigma : (m, n) tensor, where each configuration stopped.
    energies : (m,) tensor, their energies per spin.
    converged : (m,) bool tensor, False where ``max_steps`` ran out first.

    Example
    -------
    >>> S = couplings(6, p=2)
    >>> _, energies, converged = descend(S, torch.ones(2, 6), tol=1e-6)
    >>> bool(converged.all())
    True
    """
    n, _ = _size_and_order(S)
    nonnegative("lr", lr, strict=True)
    nonnegative("tol", tol, strict=True)
    positive_int("max_steps", max_steps)
    sigma = _onto_sphere(_configurations(sigma, n, S.dtype).clone())
    energies = torch.empty(len(sigma), dtype=S.dtype)
    active = torch.arange(len(sigma))
    for _ in range(max_steps):
        energy, gradient = energy_and_gradient(S, sigma[active])
        tangent = gradient - (gradient * sigma[active]).sum(1, keepdim=True) / n * sigma[active]
        done = tangent.norm(dim=1) / math.sqrt(n) < tol
        energies[active] = energy
        sigma[active[~done]] = _onto_sphere(sigma[active[~done]] - lr * tangent[~done])
        active = active[~done]
        if len(active) == 0:
            break
    converged = torch.ones(len(sigma), dtype=torch.bool)
    converged[active] = False
    if len(active):
        energies[active] = energy_and_gradient(S, sigma[active])[0]
    return sigma, energies, converged


def spin_glass_minima(n, starts, p=3, seed=0, lr=0.2, tol=1e-3, max_steps=5000, dtype=torch.float32,
                      progress=True):
    """Energies per spin of the minima gradient descent reaches from random starts, all on one
    draw of the couplings.

    Parameters
    ----------
    n : int >= 2, the number of spins (n^p work per step and start).
    starts : int >= 1, the random starts, uniform on the sphere.
    p : int >= 2.
    seed : int >= 0; the couplings and the starts are drawn from it.
    lr, tol, max_steps : as in :func:`descend`.
    dtype : torch floating dtype of the descent; float32 (the default) is 2.5x faster than float64
        and moves the energies by less than their spread over starts.
    progress : bool, a progress bar over blocks of starts.

    Returns
    -------
    (starts,) float64 array of energies per spin, H/n.

    Raises
    ------
    RuntimeError
        when some start has not stopped after ``max_steps`` steps.

    Example
    -------
    >>> energies = spin_glass_minima(20, 5, progress=False)
    >>> bool((energies < 0).all())
    True
    """
    positive_int("starts", starts)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a torch floating dtype, got {dtype!r}")
    draw = generator(seed)
    S = _draw_couplings(n, p, draw).to(dtype)  # the same couplings as couplings(n, p, seed)
    draws = torch.randn(starts, n, generator=draw, dtype=torch.float64).to(dtype)
    blocks = torch.split(draws, 25)  # blocks of starts: a live bar, at no cost in speed
    energies, stalled = [], 0
    for block in progress_bar(blocks, f"p-spin, n = {n}", enabled=progress):
        _, block_energies, converged = descend(S, block, lr=lr, tol=tol, max_steps=max_steps)
        energies.append(block_energies)
        stalled += int((~converged).sum())
    if stalled:
        raise RuntimeError(f"{stalled} of {starts} starts did not reach tol={tol} in max_steps={max_steps} "
                           "steps; raise max_steps or lower lr")
    return torch.cat(energies).double().numpy()


def _draw_couplings(n, p, draw):
    positive_int("n", n, least=2)
    positive_int("p", p, least=2)
    J = torch.randn((n,) * p, generator=draw, dtype=torch.float64)
    return sum(J.permute(*order) for order in itertools.permutations(range(p))) / math.factorial(p)


def _size_and_order(S):
    if not torch.is_tensor(S) or S.dim() < 2 or len(set(S.shape)) != 1:
        raise ValueError(f"S must be an (n,)*p coupling tensor with p >= 2, got "
                         f"{tuple(S.shape) if torch.is_tensor(S) else type(S).__name__}")
    return S.shape[0], S.dim()


def _configurations(sigma, n, dtype):
    if not torch.is_tensor(sigma) or sigma.dim() != 2 or sigma.shape[1] != n:
        raise ValueError(f"sigma must be an (m, {n}) tensor, got "
                         f"{tuple(sigma.shape) if torch.is_tensor(sigma) else type(sigma).__name__}")
    return sigma.to(dtype)


def _onto_sphere(sigma):
    return sigma * math.sqrt(sigma.shape[1]) / sigma.norm(dim=1, keepdim=True)
