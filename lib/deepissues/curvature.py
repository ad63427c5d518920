"""The Hessian of a training loss without forming it: Hessian-vector products, its top
eigenvalues (Lanczos), its trace (Hutchinson) and its spectral density (stochastic Lanczos
quadrature). The names mirror PyHessian (Yao et al. 2020): ``eigenvalues``, ``trace``, ``density``.
"""

import math

import numpy as np
import torch

from .checks import positive_int
from .training import eval_mode
from . import repro


def hvp(loss, params, v):
    """Hessian-vector product H·v of ``loss`` with respect to ``params`` (double backward).

    Parameters
    ----------
    loss : scalar tensor built from ``params``; params : list of tensors; v : list of tensors
        shaped like ``params``.

    Returns
    -------
    list of tensors shaped like ``params``.
    """
    if len(v) != len(params) or any(a.shape != b.shape for a, b in zip(v, params)):
        raise ValueError("v must hold one tensor per parameter, with the parameter's shape")
    grads = torch.autograd.grad(loss, params, create_graph=True)
    return list(torch.autograd.grad(grads, params, grad_outputs=v))


class Hessian:
    """The Hessian of ``loss_fn(model(x), y)`` at the model's current parameters.

    Parameters
    ----------
    model : nn.Module; loss_fn : callable(outputs, targets) -> scalar; data : (x, y), the whole
        batch on which the loss is taken (as PyHessian's ``data=``).

    Differences from PyHessian: ``eigenvalues`` uses Lanczos with full reorthogonalisation instead
    of power iteration with deflation (more accurate for the same number of products);
    ``trace`` returns the estimate and its standard error; ``density`` returns the nodes and
    weights of every probe, and :func:`smoothed_density` turns them into a curve.

    Example
    -------
    >>> values, vectors = Hessian(model, nn.functional.cross_entropy, (x, y)).eigenvalues(top_n=3)  # doctest: +SKIP
    """

    def __init__(self, model, loss_fn, data):
        x, y = data
        if len(x) == 0:
            raise ValueError("data must hold at least one example")
        self.model, self.loss_fn, self.data = model, loss_fn, (x, y)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.size = sum(p.numel() for p in self.params)
        self.products = 0  # Hessian-vector products done so far

    def matvec(self, v):
        """H·v for a flat vector v (size,)."""
        x, y = self.data
        with eval_mode(self.model):  # dropout off, as PyHessian does
            loss = self.loss_fn(self.model(x), y)
            parts = hvp(loss, self.params, list(self._unflatten(v)))
        self.products += 1
        return torch.cat([p.reshape(-1) for p in parts]).detach()

    def eigenvalues(self, top_n=1, iterations=30, seed=0):
        """The ``top_n`` largest eigenvalues and their eigenvectors, by ``iterations`` Lanczos steps.

        Returns
        -------
        (values (top_n,) NumPy array, descending; vectors (top_n, size) tensor).
        """
        positive_int("top_n", top_n)
        iterations = min(positive_int("iterations", iterations), self.size)
        if top_n > iterations:
            raise ValueError(f"top_n={top_n} needs at least as many Lanczos iterations, got {iterations}")
        alpha, beta, basis = self._lanczos(self._start(seed), iterations)
        theta, s = np.linalg.eigh(_tridiagonal(alpha, beta))
        order = np.argsort(theta)[::-1][:top_n]
        vectors = torch.from_numpy(s[:, order].T.copy()).to(basis) @ basis
        return theta[order], vectors

    def trace(self, probes=100, seed=0):
        """Hutchinson's estimate of tr(H) with Rademacher probes: (mean, standard error)."""
        positive_int("probes", probes, least=2)
        generator = repro.generator(seed)
        samples = []
        for _ in range(probes):
            v = (torch.randint(0, 2, (self.size,), generator=generator) * 2 - 1).to(self.params[0])
            samples.append(float(v @ self.matvec(v)))
        samples = np.array(samples)
        return float(samples.mean()), float(samples.std(ddof=1) / math.sqrt(probes))

    def density(self, iterations=40, probes=1, seed=0):
        """Stochastic Lanczos quadrature: for each Gaussian probe, ``iterations`` Lanczos steps and
        the eigen-decomposition (``eigh``) of the tridiagonal matrix. The nodes are its
        eigenvalues, the weights the squared first components of its eigenvectors, so each probe's
        weights sum to 1.

        Returns
        -------
        (nodes (probes, m), weights (probes, m)) NumPy arrays, m = min(iterations, size).
        """
        positive_int("probes", probes)
        iterations = min(positive_int("iterations", iterations), self.size)
        nodes, weights = [], []
        for k in range(probes):
            alpha, beta, _ = self._lanczos(self._start(seed + k), iterations)
            theta, s = np.linalg.eigh(_tridiagonal(alpha, beta))
            nodes.append(theta)
            weights.append(s[0] ** 2)
        return np.array(nodes), np.array(weights)

    def _start(self, seed):
        generator = repro.generator(seed)
        v = torch.randn(self.size, generator=generator, dtype=torch.float64).to(self.params[0])
        return v / v.norm()

    def _lanczos(self, v, m):
        """m Lanczos steps from the unit vector v, with full reorthogonalisation."""
        basis, alpha, beta = [v], [], []
        w_prev, b_prev = torch.zeros_like(v), 0.0
        for k in range(m):
            w = self.matvec(basis[-1]) - b_prev * w_prev
            a = float(w @ basis[-1])
            alpha.append(a)
            Q = torch.stack(basis)
            w = w - Q.T @ (Q @ w)
            w = w - Q.T @ (Q @ w)  # twice is enough (Kahan–Parlett)
            b = float(w.norm())
            if k == m - 1 or b < 1e-10:
                break
            beta.append(b)
            w_prev, b_prev = basis[-1], b
            basis.append(w / b)
        return np.array(alpha), np.array(beta[:len(alpha) - 1]), torch.stack(basis[:len(alpha)])

    def _unflatten(self, v):
        at = 0
        for p in self.params:
            yield v[at:at + p.numel()].view_as(p).to(p.dtype)
            at += p.numel()


def smoothed_density(nodes, weights, grid, sigma):
    """The spectral density as a curve: every node spread by a Gaussian of width ``sigma``,
    weighted, averaged over probes. It integrates to 1 over a grid that covers the nodes."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    grid = np.asarray(grid, dtype=float)
    nodes, weights = np.atleast_2d(nodes), np.atleast_2d(weights)
    bumps = np.exp(-((grid[None, None, :] - nodes[..., None]) ** 2) / (2 * sigma ** 2)) / (sigma * math.sqrt(2 * math.pi))
    return (weights[..., None] * bumps).sum(1).mean(0)


def _tridiagonal(alpha, beta):
    return np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
