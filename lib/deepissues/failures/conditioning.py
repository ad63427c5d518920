"""Chapter 09, failures: conditioning.

Failure 3 of Shalev-Shwartz, Shamir and Shammah (2017): architecture and conditioning.

A one-dimensional piecewise-linear (PWL) curve sampled at x = 0, …, n−1 is
f = p W, where p (n,) holds the slope changes at the kinks and W[i, j] = max(0, j − i + 1)
is the matrix of ramps. Encoding a curve means recovering p from f. A fully connected linear
encoder U (n×n) faces a convex least-squares problem whose Hessian E[fᵀf] is W ᵀ E[pᵀp] W: its
condition number grows like n⁴ (the paper proves Ω(n^3.5)), so gradient descent crawls. The
inverse W⁻¹ is banded: p_j = f_j − 2 f_{j−1} + f_{j−2}. A convolution with a 3-tap filter
expresses it with 3 parameters, and whitening the filter's inputs (the preconditioner) makes its
Hessian the identity.
"""

import numpy as np
import torch
from torch import nn

from ..checks import nonnegative, one_of, positive_int
from ..training import sample_batches, train_steps
from .. import repro

__all__ = ["TRUE_FILTER", "ENCODERS", "pwl_matrix", "second_difference_matrix", "pwl_condition_number",
           "pwl_curves", "filter_inputs", "whitening", "PWLEncoder", "train_pwl_encoder", "pwl_autoencoder",
           "random_pwl_curves", "random_pwl_code", "pwl_curves_from_code", "kink_shift_error",
           "train_pwl_autoencoder"]

#: the filter w with p_j = w · (f_j, f_{j−1}, f_{j−2}): a discrete second derivative.
TRUE_FILTER = (1.0, -2.0, 1.0)
#: the slope sequences of the paper's three-piece curves.
SLOPES = ((1, -1, 1), (1, -2, 1), (-2, 1, -1), (1, -1, 2))
ENCODERS = ("dense", "conv", "conv+conditioning")


def pwl_matrix(n, dtype=torch.float64):
    """The upper-triangular Toeplitz matrix of ramps, W[i, j] = max(0, j − i + 1): row i is the ramp
    x ↦ relu(x − i + 1) sampled at x = 0, …, n−1, so a curve with kinks p is f = p W.

    Parameters
    ----------
    n : int >= 1.
    dtype : torch dtype.

    Returns
    -------
    (n, n) tensor.
    """
    positive_int("n", n)
    x = torch.arange(n, dtype=dtype)
    return (x[None, :] - x[:, None] + 1).clamp_min(0)


def second_difference_matrix(n, dtype=torch.float64):
    """The banded Toeplitz inverse of :func:`pwl_matrix`: 1 on the diagonal, −2 and 1 on the first two
    superdiagonals (p = f W⁻¹ takes second differences of f).

    Parameters
    ----------
    n : int >= 1.
    dtype : torch dtype.

    Returns
    -------
    (n, n) tensor.

    Examples
    --------
    >>> bool(torch.allclose(pwl_matrix(5) @ second_difference_matrix(5), torch.eye(5, dtype=torch.float64)))
    True
    """
    positive_int("n", n)
    eye = torch.eye(n, dtype=dtype)
    return eye - 2 * eye.roll(1, dims=1).triu(1) + eye.roll(2, dims=1).triu(2)


def pwl_condition_number(n):
    """Condition number of the Hessian WᵀW of the fully connected least-squares encoder (with
    uncorrelated unit kinks), computed from the singular values of W in float64. Grows like n⁴
    (Theorem 3 of the paper: Ω(n^3.5)).

    Parameters
    ----------
    n : int >= 2, the curves' length.

    Returns
    -------
    float.

    Examples
    --------
    >>> round(pwl_condition_number(4) / pwl_condition_number(2), 1) > 2 ** 3.5
    True
    """
    positive_int("n", n, least=2)
    s = torch.linalg.svdvals(pwl_matrix(n))
    return float((s[0] / s[-1]) ** 2)


def pwl_curves(m, n=100, seed=0):
    """m random three-piece PWL curves, as in the paper's experiment.

    Three kinks at distinct positions in [3, n−4], slopes drawn from :data:`SLOPES`.

    Parameters
    ----------
    m : int >= 1, the number of curves.
    n : int >= 8, their length.
    seed : int.

    Returns
    -------
    f : (m, n) float32 curves.
    p : (m, n) float32 slope changes, three non-zeros a row; f = p W (:func:`pwl_matrix`).
    """
    positive_int("m", m)
    positive_int("n", n, least=8)
    rng = repro.numpy_rng(seed)
    p = np.zeros((m, n))
    for row in p:
        kinks = 3 + np.sort(rng.choice(n - 6, 3, replace=False))
        slopes = np.array(SLOPES[rng.integers(len(SLOPES))], dtype=float)
        row[kinks] = np.diff(slopes, prepend=0.0)
    p = torch.from_numpy(p)
    return (p @ pwl_matrix(n)).float(), p.float()


def filter_inputs(f):
    """The inputs that a 3-tap causal convolution sees at each position j.

    Parameters
    ----------
    f : (m, n) tensor of curves.

    Returns
    -------
    (m, n, 3) tensor of (f_j, f_{j−1}, f_{j−2}), with zeros before the start.
    """
    if f.dim() != 2:
        raise ValueError(f"f must be a (m, n) batch of curves, got shape {tuple(f.shape)}")
    padded = nn.functional.pad(f, (2, 0))
    return torch.stack([padded[:, 2:], padded[:, 1:-1], padded[:, :-2]], dim=-1)


def whitening(f):
    """The preconditioner C^{-1/2}, with C = E[φφᵀ] the second moment of the filter inputs φ of the
    curves ``f``: after φ ↦ φ C^{-1/2}, the convolutional least-squares problem has Hessian I.

    Parameters
    ----------
    f : (m, n) tensor of curves whose windows span 3 dimensions.

    Returns
    -------
    (3, 3) float64 tensor.
    """
    phi = filter_inputs(f).reshape(-1, 3).double()
    s, V = torch.linalg.eigh(phi.T @ phi / len(phi))
    if float(s.min()) <= 1e-12 * max(float(s.max()), 1e-300):
        raise ValueError("f must hold curves whose windows of 3 samples span 3 dimensions; their covariance is "
                         f"singular (eigenvalues {s.tolist()})")
    return (V * s.rsqrt()) @ V.T


class PWLEncoder(nn.Module):
    """Linear map from a curve f (m, n) to its kinks p (m, n), in one of three parameterisations.

    - ``"dense"``: p = f U with U (n, n), the fully connected encoder;
    - ``"conv"``: p_j = w · (f_j, f_{j−1}, f_{j−2}), a 3-tap convolution;
    - ``"conv+conditioning"``: the same convolution with w = P v, P the whitening preconditioner;
      v is what the optimiser sees.

    All start at zero, as in the paper. ``filter`` returns the effective 3-tap filter (conv only).

    Parameters
    ----------
    n : int >= 1, the curves' length.
    kind : "dense", "conv" or "conv+conditioning".
    preconditioner : (3, 3) tensor P, required for "conv+conditioning" (see :func:`whitening`).
    """

    def __init__(self, n, kind, preconditioner=None):
        super().__init__()
        positive_int("n", n)
        one_of("kind", kind, ENCODERS)
        if (kind == "conv+conditioning") != (preconditioner is not None):
            raise ValueError("a preconditioner is required for 'conv+conditioning' and only there")
        self.n, self.kind = n, kind
        self.weight = nn.Parameter(torch.zeros(n, n) if kind == "dense" else torch.zeros(3))
        self.register_buffer("P", torch.eye(3) if preconditioner is None else preconditioner.float())

    @property
    def filter(self):
        if self.kind == "dense":
            raise ValueError("a dense encoder has no filter; look at its weight (n, n)")
        return self.P @ self.weight

    def forward(self, f):
        if f.dim() != 2 or f.shape[1] != self.n:
            raise ValueError(f"expected curves of shape (m, {self.n}), got {tuple(f.shape)}")
        if self.kind == "dense":
            return f @ self.weight
        return filter_inputs(f) @ self.filter


def train_pwl_encoder(kind, iterations, n=100, lr=None, batch_size=100, n_train=10_000, seed=0, progress=True,
                      record_every=None, data="pwl"):
    """Fit a :class:`PWLEncoder` with Adam on the squared error ‖p̂ − p‖² (per curve), as in the
    paper, on batches drawn with replacement from a fixed training set.

    Parameters
    ----------
    kind : "dense", "conv" or "conv+conditioning".
    iterations : int >= 1.
    n : int, the curves' length.
    lr : float > 0 or None for the paper's: 1e-4 dense, 0.05 conv, 0.01 conv+conditioning.
    batch_size : int >= 1.
    n_train : int >= 1, the training curves.
    seed : int, fixes the curves and the batches.
    progress : show a progress bar.
    record_every : int or None (iterations // 50).
    data : "pwl", the paper's three-piece curves (:func:`pwl_curves`), or "white": inputs f of
        independent N(0, 1) samples with the same targets p = f W⁻¹ (second differences), a
        well-conditioned problem (E[fᵀf] = I) with the same exact encoder.

    Returns
    -------
    encoder : the trained :class:`PWLEncoder`.
    curve : list of (iteration, mean squared error per curve on 1,000 held-out curves), recorded
        at the first step, every ``record_every`` steps and at the end.
    """
    one_of("kind", kind, ENCODERS)  # before the learning rate that depends on it
    one_of("data", data, ("pwl", "white"))
    positive_int("iterations", iterations)
    lr = {"dense": 1e-4, "conv": 0.05, "conv+conditioning": 0.01}.get(kind) if lr is None else lr
    nonnegative("lr", lr, strict=True)
    curves = pwl_curves if data == "pwl" else _white_curves
    f, p = curves(n_train, n, seed=seed)
    f_val, p_val = curves(1000, n, seed=seed + 1)
    with repro.seeded(seed):
        encoder = PWLEncoder(n, kind, whitening(f) if kind == "conv+conditioning" else None)
    curve = train_steps(encoder, lambda model, batch: (model(batch[0]) - batch[1]).pow(2).sum(1).mean(),
                        sample_batches((f, p), batch_size, seed=seed + 2, replace=True), iterations,
                        torch.optim.Adam(encoder.parameters(), lr=lr),
                        record=lambda model: (model(f_val) - p_val).pow(2).sum(1).mean(), record_every=record_every,
                        record_first=True, progress=progress, description=f"PWL {kind}")
    return encoder, curve


def _white_curves(m, n, seed):
    """m inputs of independent N(0, 1) samples and their second differences p = f W⁻¹ (float32)."""
    positive_int("m", m)
    positive_int("n", n, least=8)
    f = torch.from_numpy(repro.numpy_rng(seed).normal(size=(m, n)))
    return f.float(), (f @ second_difference_matrix(n)).float()


def pwl_autoencoder(n=100, code=6):
    """The paper's deeper autoencoder: encoder n→500→100→code and decoder code→100→100→n, ReLU
    throughout except the decoder's linear output.

    Parameters
    ----------
    n : int >= 1, the curves' length.
    code : int >= 1, the code's width (2 × the number of kinks).

    Returns
    -------
    nn.Sequential.
    """
    positive_int("n", n)
    positive_int("code", code)
    return nn.Sequential(nn.Linear(n, 500), nn.ReLU(), nn.Linear(500, 100), nn.ReLU(), nn.Linear(100, code),
                         nn.ReLU(), nn.Linear(code, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
                         nn.Linear(100, n))


def random_pwl_curves(m, n=100, pieces=3, seed=0):
    """Curves Σ_k c_k relu(x − θ_k) with θ_k ~ U(0, n) and c_k ~ U(−1, 1): the data of the paper's
    autoencoder experiment.

    Parameters
    ----------
    m : int >= 1, the number of curves.
    n : int >= 1, their length.
    pieces : int >= 1, kinks per curve.
    seed : int.

    Returns
    -------
    (m, n) tensor.
    """
    return pwl_curves_from_code(*random_pwl_code(m, n, pieces, seed), n)


def random_pwl_code(m, n=100, pieces=3, seed=0):
    """The exact code of :func:`random_pwl_curves` (same ``seed``, same curves).

    Parameters
    ----------
    m : int >= 1, the number of curves.
    n : int >= 1, their length.
    pieces : int >= 1, kinks per curve.
    seed : int.

    Returns
    -------
    theta : (m, pieces) kink locations ~ U(0, n).
    c : (m, pieces) slope changes ~ U(−1, 1); 2 × pieces numbers a curve.
    """
    positive_int("m", m)
    positive_int("n", n)
    positive_int("pieces", pieces)
    g = repro.generator(seed)
    theta = torch.rand(m, pieces, generator=g) * n
    c = torch.rand(m, pieces, generator=g) * 2 - 1
    return theta, c


def pwl_curves_from_code(theta, c, n=100):
    """Curves Σ_k c_k relu(x − θ_k) sampled at x = 0, …, n−1.

    Parameters
    ----------
    theta, c : (m, pieces) tensors of kink locations and slope changes.
    n : int, the curves' length.

    Returns
    -------
    (m, n) tensor.
    """
    if theta.shape != c.shape or theta.dim() != 2:
        raise ValueError(f"theta and c must be (m, pieces) of one shape, got {tuple(theta.shape)} and {tuple(c.shape)}")
    x = torch.arange(n, dtype=theta.dtype)
    return ((x - theta[..., None]).clamp_min(0) * c[..., None]).sum(1)


def kink_shift_error(theta, c, shift, n=100, seed=0):
    """Relative squared error Σ‖f' − f‖² / Σ‖f‖² of the exact code with every kink moved by
    ``shift`` samples, to the left or right at random: the error of a code that knows everything
    but where the kinks are, to within ``shift``. A scale for reconstruction errors.

    Parameters
    ----------
    theta, c : (m, pieces) tensors, the code (from :func:`random_pwl_code`).
    shift : float >= 0, in samples.
    n : int >= 1, the curves' length.
    seed : int, fixes the directions of the shifts.

    Returns
    -------
    float.
    """
    nonnegative("shift", shift)
    signs = torch.randint(0, 2, theta.shape, generator=repro.generator(seed)).to(theta.dtype) * 2 - 1
    exact = pwl_curves_from_code(theta, c, n)
    moved = pwl_curves_from_code(theta + shift * signs, c, n)
    return float((moved - exact).pow(2).sum() / exact.pow(2).sum())


def train_pwl_autoencoder(iterations, n=100, lr=1e-3, batch_size=100, n_train=10_000, seed=0, progress=True):
    """Fit :func:`pwl_autoencoder` with Adam on the mean squared reconstruction error of
    :func:`random_pwl_curves`, on batches drawn with replacement from a fixed training set.

    Parameters
    ----------
    iterations : int >= 1.
    n : int, the curves' length.
    lr : float > 0.
    batch_size : int >= 1.
    n_train : int >= 1, the training curves.
    seed : int, fixes the curves, the initialisation and the batches.
    progress : show a progress bar.

    Returns
    -------
    model : the trained nn.Sequential.
    curve : list of (iteration, mean squared error on 1,000 held-out curves).
    """
    positive_int("iterations", iterations)
    f = random_pwl_curves(n_train, n, seed=seed)
    f_val = random_pwl_curves(1000, n, seed=seed + 1)
    with repro.seeded(seed):
        model = pwl_autoencoder(n)
    curve = train_steps(model, lambda net, batch: (net(batch) - batch).pow(2).mean(),
                        sample_batches(f, batch_size, seed=seed + 2, replace=True), iterations,
                        torch.optim.Adam(model.parameters(), lr=lr), record=lambda net: (net(f_val) - f_val).pow(2).mean(),
                        progress=progress, description="PWL autoencoder")
    return model, curve
