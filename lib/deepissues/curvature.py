"""Chapters 02 and 13, loss surfaces and the energy landscape.

The Hessian of a training loss without forming it: Hessian-vector products, its top
eigenvalues (Lanczos), its trace (Hutchinson) and its spectral density (stochastic Lanczos
quadrature). The names mirror PyHessian (Yao et al. 2020): ``eigenvalues``, ``trace``, ``density``.
"""

import math

import numpy as np
import torch

from .checks import nonnegative, positive_int, xy_pair
from .autodiff import eval_mode
from . import repro

__all__ = ["hvp", "Hessian", "largest_gap", "smoothed_density"]


def hvp(loss, params, v):
    """Hessian-vector product H·v of ``loss`` with respect to ``params`` (double backward).

    Parameters
    ----------
    loss : scalar tensor built from ``params``.
    params : list of tensors that require gradients.
    v : list of tensors shaped like ``params``.

    Returns
    -------
    list of tensors shaped like ``params``.
    """
    if len(v) != len(params) or any(a.shape != b.shape for a, b in zip(v, params)):
        raise ValueError("v must hold one tensor per parameter, with the parameter's shape")
    grads = torch.autograd.grad(loss, params, create_graph=True)
    return list(torch.autograd.grad(grads, params, grad_outputs=v))


class Hessian:
    """The Hessian of ``loss_fn(model(x), y)`` at the model's current parameters, never formed.

    Differences from PyHessian: ``eigenvalues`` uses Lanczos with full reorthogonalisation instead
    of power iteration with deflation (more accurate for the same number of products);
    ``trace`` returns the estimate and its standard error; ``density`` returns the nodes and
    weights of every probe, and :func:`smoothed_density` turns them into a curve.

    Parameters
    ----------
    model : nn.Module; dropout is switched off while products are taken, and the mode restored.
    loss_fn : callable(outputs, targets) -> scalar tensor.
    data : (x, y), the whole batch on which the loss is taken (as PyHessian's ``data=``).

    Examples
    --------
    >>> from deepissues.nets import mlp
    >>> x, y = torch.randn(32, 3, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 2
    >>> values, vectors = Hessian(mlp([3, 4, 2], "tanh"), torch.nn.functional.cross_entropy, (x, y)).eigenvalues(top_n=2)
    >>> len(values), vectors[0].shape[0] == 3 * 4 + 4 + 4 * 2 + 2, bool(values[0] >= values[1])
    (2, True, True)
    """

    def __init__(self, model, loss_fn, data):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        x, y = xy_pair("data", data)
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

    def eigenvalues(self, top_n=1, iterations=300, tol=1e-3, seed=0):
        """The ``top_n`` largest eigenvalues and their eigenvectors, converged to ``tol``.

        Lanczos with full reorthogonalisation, from a random start, until each of the ``top_n``
        largest Ritz pairs (λ, v) has a relative residual ‖Hv − λv‖ / |λ| of at most ``tol``. The
        residuals are first estimated from the tridiagonal matrix (β_k times the last component of
        the Ritz vector), then confirmed with ``top_n`` more Hessian-vector products. A residual
        ``tol`` bounds the eigenvalue's relative error by ``tol`` (and by about tol²·|λ|/gap when it
        is separated by a gap).

        Parameters
        ----------
        top_n : number of eigenpairs; iterations : the most Lanczos steps to take (each one
            Hessian-vector product); tol : the largest relative residual accepted; seed : fixes
            the start vector.

        Returns
        -------
        (values (top_n,) NumPy array, descending; vectors (top_n, size) tensor of unit vectors).

        Raises
        ------
        RuntimeError, naming the residuals, when they are not all within ``tol`` after
        ``iterations`` steps.

        Differences from PyHessian: its ``eigenvalues(maxIter, tol, top_n)`` runs power iteration
        with deflation and stops each eigenvalue when its *change* between iterations is below
        ``tol``, returning whatever it has after ``maxIter`` without raising; this method checks
        the residual, which bounds the error, and raises instead of returning an unconverged
        value. Like any single-vector Lanczos, it finds one copy of an eigenvalue repeated
        exactly; a repeated eigenvalue of a trained network is rare but not impossible.
        """
        positive_int("top_n", top_n)
        positive_int("iterations", iterations)
        nonnegative("tol", tol, strict=True)
        if top_n > self.size:
            raise ValueError(f"top_n must be at most the number of parameters {self.size}, got {top_n}")
        lanczos = _Lanczos(self.matvec, self._start(seed))
        residuals, next_check = None, top_n
        while True:
            lanczos.step()
            steps = len(lanczos.alpha)
            done = lanczos.exhausted or steps >= min(iterations, self.size)
            if steps < next_check and not done:
                continue
            values, coefficients, estimates = lanczos.ritz(top_n)
            if len(values) == top_n and ((estimates <= tol).all() or done):
                vectors = torch.from_numpy(coefficients.T.copy()) @ lanczos.basis
                residuals = self._relative_residuals(values, vectors)
                if (residuals <= tol).all():
                    return values, vectors.to(self.params[0])
                next_check = steps + top_n  # confirmation failed: the estimates were optimistic
            if done:
                break
        found = "not reached" if residuals is None else np.array2string(residuals, precision=2)
        raise RuntimeError(f"the top {top_n} eigenpairs did not converge to tol={tol} in {steps} Lanczos "
                           f"steps (iterations={iterations}); relative residuals {found}")

    def _relative_residuals(self, values, vectors):
        """‖Hv − λv‖ / |λ| for each pair, with one Hessian-vector product each."""
        residuals = [float((self.matvec(v).double() - lam * v).norm()) / abs(lam) if lam != 0 else np.inf
                     for lam, v in zip(values, vectors)]
        return np.array(residuals)

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
            lanczos = _Lanczos(self.matvec, self._start(seed + k))
            while len(lanczos.alpha) < iterations and not lanczos.exhausted:
                lanczos.step()
            theta, s = np.linalg.eigh(lanczos.tridiagonal())
            nodes.append(theta)
            weights.append(s[0] ** 2)
        return np.array(nodes), np.array(weights)

    def _start(self, seed):
        generator = repro.generator(seed)
        v = torch.randn(self.size, generator=generator, dtype=torch.float64)
        return v / v.norm()

    def _unflatten(self, v):
        at = 0
        for p in self.params:
            yield v[at:at + p.numel()].view_as(p).to(p.dtype)
            at += p.numel()


def largest_gap(values, skip=1):
    """Where a descending spectrum drops most: the rank k (1-based) maximising λ_k / λ_(k+1) over
    k > ``skip``, and that ratio. The first ``skip`` eigenvalues are left out of the search because
    the top one often stands alone, which says that it is an outlier, not where the outliers end.

    Parameters
    ----------
    values : (n,) positive eigenvalues in descending order, as ``Hessian.eigenvalues`` returns them.
    skip : int >= 0.

    Returns
    -------
    (rank, ratio): int, float.
    """
    values = np.asarray(values, dtype=float)
    positive_int("skip", skip, least=0)
    if values.ndim != 1 or len(values) < skip + 2 or np.any(values <= 0) or np.any(np.diff(values) > 0):
        raise ValueError(f"values must be at least skip + 2 = {skip + 2} positive numbers in descending order, "
                         f"got {values}")
    ratios = values[skip:-1] / values[skip + 1:]
    return int(np.argmax(ratios)) + skip + 1, float(ratios.max())


def smoothed_density(nodes, weights, grid, sigma):
    """The spectral density as a curve: every node spread by a Gaussian of width ``sigma``,
    weighted, averaged over probes. It integrates to 1 over a grid that covers the nodes.

    Parameters
    ----------
    nodes, weights : (probes, m) arrays from ``Hessian.density``.
    grid : (G,) array of eigenvalues at which to evaluate.
    sigma : float > 0.

    Returns
    -------
    (G,) array.
    """
    nonnegative("sigma", sigma, strict=True)
    grid = np.asarray(grid, dtype=float)
    nodes, weights = np.atleast_2d(nodes), np.atleast_2d(weights)
    if nodes.shape != weights.shape or nodes.ndim != 2:
        raise ValueError(f"nodes and weights must be (probes, m) arrays of one shape, got {nodes.shape} and "
                         f"{weights.shape}")
    bumps = np.exp(-((grid[None, None, :] - nodes[..., None]) ** 2) / (2 * sigma ** 2)) / (sigma * math.sqrt(2 * math.pi))
    return (weights[..., None] * bumps).sum(1).mean(0)


class _Lanczos:
    """Lanczos steps on a symmetric operator, one at a time, with full reorthogonalisation.

    The basis is kept in float64 whatever the operator's precision, so that it stays orthogonal
    to float64 rounding; ``matvec`` may return float32.
    """

    def __init__(self, matvec, start):
        self.matvec = matvec
        self.vectors = [start.double()]
        self.alpha, self.beta = [], []  # beta[k] couples basis vectors k and k + 1
        self.exhausted = False  # an invariant subspace was found: the Ritz pairs are exact

    @property
    def basis(self):
        """(k, size) float64: the orthonormal basis of the k steps taken."""
        return torch.stack(self.vectors[:len(self.alpha)])

    def step(self):
        q = self.vectors[-1]
        w = self.matvec(q).double()
        scale = float(w.norm())
        a = float(w @ q)
        Q = torch.stack(self.vectors)
        w = w - Q.T @ (Q @ w)
        w = w - Q.T @ (Q @ w)  # twice is enough (Kahan–Parlett)
        b = float(w.norm())
        self.alpha.append(a)
        self.beta.append(b)
        if b <= 1e-10 * scale or len(self.vectors) == len(q):
            self.exhausted = True
        else:
            self.vectors.append(w / b)

    def tridiagonal(self):
        """The (k, k) tridiagonal matrix of the k steps taken."""
        off = self.beta[:len(self.alpha) - 1]
        return np.diag(self.alpha) + np.diag(off, 1) + np.diag(off, -1)

    def ritz(self, top_n):
        """The ``top_n`` largest Ritz values (descending), their coefficients in the basis
        (k, top_n), and the estimates β_k·|s_k| / |θ| of their relative residuals."""
        theta, s = np.linalg.eigh(self.tridiagonal())
        order = np.argsort(theta)[::-1][:top_n]
        theta, s = theta[order], s[:, order]
        last = 0.0 if self.exhausted else self.beta[-1]
        with np.errstate(divide="ignore"):
            estimates = last * np.abs(s[-1]) / np.abs(theta)
        return theta, s, estimates
