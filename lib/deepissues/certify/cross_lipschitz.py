"""Chapters 06 and 14, robustness guarantees and margins.

Hein and Andriushchenko's (2017) Cross-Lipschitz guarantee: a certified L2 radius per point.

For a classifier f: R^d -> R^K that predicts c at x, the decision cannot change for any δ with

    ‖δ‖₂ <= max_{R >= 0} min{ min_{j != c} (f_c(x) − f_j(x)) / max_{y ∈ B(x, R)} ‖∇f_c(y) − ∇f_j(y)‖₂ , R }.

The denominator is bounded in closed form for two model families: one-hidden-layer networks
with a smooth activation, and Gaussian-kernel machines. The ratio g(R) does not increase with R,
so the best R is where g(R) = R, found by bisection.
"""

import math

import numpy as np
import torch
from torch import nn

from ..checks import nonnegative, positive_int

__all__ = ["one_hidden_layer", "layers_without_dropout", "activation_slope", "gradient_difference_bound",
           "cross_lipschitz_radius", "KernelMachine", "one_vs_rest_svm", "kernel_gradient_difference_bound",
           "cross_lipschitz_radius_kernel"]

SMOOTH = (nn.Softplus, nn.Tanh, nn.Sigmoid)


def one_hidden_layer(model):
    """Split ``model`` into its weights, f(x) = W σ(U x + b) + w0, in float64.

    Accepts ``nn.Sequential(nn.Linear, smooth activation, nn.Linear)`` and, as the degenerate
    linear case, ``nn.Linear`` or ``nn.Sequential(nn.Linear)`` (then U = I, σ = identity).
    Dropout layers are skipped: the bound is about the network in eval mode, where they are the
    identity.

    Parameters
    ----------
    model : nn.Module as above; the activation must be Softplus, Tanh or Sigmoid.

    Returns
    -------
    U : (h, d) tensor; b : (h,) tensor; activation : nn.Module or None; W : (K, h) tensor;
    w0 : (K,) tensor.
    """
    layers = layers_without_dropout(model)
    if len(layers) == 1 and isinstance(layers[0], nn.Linear):
        lin = layers[0]
        d = lin.in_features
        eye = torch.eye(d, dtype=torch.float64)
        return eye, torch.zeros(d, dtype=torch.float64), None, *_weights(lin)
    kinds = [type(layer).__name__ for layer in layers]
    if len(layers) != 3 or not isinstance(layers[0], nn.Linear) or not isinstance(layers[2], nn.Linear):
        raise TypeError("the closed-form bound needs a one-hidden-layer network "
                        f"nn.Sequential(Linear, activation, Linear), got layers {kinds}")
    if not isinstance(layers[1], SMOOTH):
        raise TypeError(f"the closed-form bound needs a smooth activation (Softplus, Tanh or Sigmoid), "
                        f"got {kinds[1]}; ReLU's derivative jumps, so its gradients are not Lipschitz")
    U, b = _weights(layers[0])
    W, w0 = _weights(layers[2])
    return U, b, layers[1], W, w0


def layers_without_dropout(model):
    """The layers of ``model`` without its Dropout layers (the identity in eval mode).

    Parameters
    ----------
    model : nn.Sequential, or a single nn.Module (then a list of one).

    Returns
    -------
    list of nn.Module.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    layers = list(model) if isinstance(model, nn.Sequential) else [model]
    return [layer for layer in layers if not isinstance(layer, nn.Dropout)]


def _weights(linear):
    W = linear.weight.detach().double().cpu()
    b = linear.bias.detach().double().cpu() if linear.bias is not None else torch.zeros(linear.out_features,
                                                                                        dtype=torch.float64)
    return W, b


def activation_slope(activation, z):
    """σ'(z) elementwise, differentiable in z.

    Parameters
    ----------
    activation : nn.Softplus (torch's: the identity above its threshold), nn.Tanh, nn.Sigmoid, or
        None for the identity. Any other activation is a TypeError: its slope is not the sigmoid's.
    z : tensor of pre-activations.

    Returns
    -------
    tensor of z's shape.
    """
    if activation is None:
        return torch.ones_like(z)
    if isinstance(activation, nn.Softplus):
        beta = activation.beta
        return torch.where(beta * z > activation.threshold, torch.ones_like(z), torch.sigmoid(beta * z))
    if isinstance(activation, nn.Tanh):
        return 1 - torch.tanh(z) ** 2
    if not isinstance(activation, nn.Sigmoid):  # never fall through to the sigmoid's slope
        raise TypeError(f"activation must be None, Softplus, Tanh or Sigmoid, got {type(activation).__name__}")
    s = torch.sigmoid(z)
    return s * (1 - s)


def derivative_range(activation, lo, hi):
    """Smallest and largest σ'(z) over z in [lo, hi], elementwise (exact, not a bound).

    Softplus' derivative (a sigmoid) increases; those of tanh and the sigmoid are even and fall
    with |z|, so the largest value is at the point of [lo, hi] nearest 0.
    """
    if activation is None or isinstance(activation, nn.Softplus):
        return activation_slope(activation, lo), activation_slope(activation, hi)
    near = torch.where((lo <= 0) & (hi >= 0), torch.zeros_like(lo), torch.minimum(lo.abs(), hi.abs()))
    far = torch.maximum(lo.abs(), hi.abs())
    return activation_slope(activation, far), activation_slope(activation, near)


def gradient_difference_bound(model, x, radius, c):
    """Upper bound on max_{y ∈ B(x, R)} ‖∇f_c(y) − ∇f_j(y)‖₂ for every class j.

    With v = w_c − w_j, ∇(f_c − f_j)(y) = Σ_s v_s σ'(u_s·y + b_s) u_s, so its squared norm is
    Σ_{r,s} v_r v_s ⟨u_r, u_s⟩ t_r t_s with t_s = σ'(u_s·y + b_s) >= 0. Over the ball,
    u_s·y + b_s moves at most R‖u_s‖ from its value at x, which gives t_s ∈ [a_s, b_s], so
    t_r t_s ∈ [a_r a_s, b_r b_s]; each term is at most the larger of its values at the two ends.
    At R = 0 the bound is the exact gradient difference.

    Parameters
    ----------
    model : one-hidden-layer network (see :func:`one_hidden_layer`).
    x : (N, d) tensor.
    radius : float >= 0 or (N,) tensor of them, the R of each point.
    c : (N,) int tensor of classes.

    Returns
    -------
    (N, K) float64 tensor; entry [n, j] bounds the pair (c[n], j), and is 0 for j = c[n].
    """
    return _network_bound(model, x, c)(radius)


def _network_bound(model, x, c):
    """The bound of :func:`gradient_difference_bound` as a function of R; what does not depend
    on R is computed once.

    Write P = (v vᵀ) ∘ UUᵀ for the pair (c, j). Since 0 <= a_s <= b_s, the largest value of
    P_rs t_r t_s is P_rs b_r b_s where P_rs >= 0 and P_rs a_r a_s where it is negative, so the
    squared bound is bᵀP⁺b + aᵀP⁻a: two quadratic forms per pair, with P fixed for all R."""
    U, b, act, W, _ = one_hidden_layer(model)
    x = _rows(x, U.shape[1])
    c = _classes(c, len(x), len(W))
    norms, z, gram = U.norm(dim=1), x @ U.T + b, U @ U.T
    forms = {}
    for k in c.unique().tolist():
        v = W[k] - W  # (K, h): v[j] = w_c - w_j
        pair = v[:, :, None] * v[:, None, :] * gram  # (K, h, h)
        forms[k] = (pair.clamp_min(0), pair.clamp_max(0))

    def bound(radius):
        reach = _radii(radius, len(x))[:, None] * norms
        lo, hi = derivative_range(act, z - reach, z + reach)  # (N, h), 0 <= lo <= hi
        out = torch.empty(len(x), len(W), dtype=torch.float64)
        for k, (up, down) in forms.items():
            rows = c == k
            out[rows] = _quadratic_forms(up, hi[rows]) + _quadratic_forms(down, lo[rows])
        return out.clamp_min(0).sqrt()

    return bound


def _quadratic_forms(forms, t):
    """(n, K): entry [i, j] is t_iᵀ forms_j t_i, for forms (K, h, h) and t (n, h)."""
    return ((forms @ t.T) * t.T).sum(1).T


def cross_lipschitz_radius(model, x, y=None, steps=50):
    """Certified L2 radius of a one-hidden-layer smooth network at each point.

    No δ with ‖δ‖₂ below the radius changes the decision (the box [0, 1]^d is not used, so the
    guarantee holds for every δ in R^d). The radius is 0 where the point is misclassified
    (``y`` given) and exactly margin / ‖w_c − w_j‖ minimised over j for a linear model.

    Parameters
    ----------
    model : ``nn.Sequential(nn.Linear, nn.Softplus | nn.Tanh | nn.Sigmoid, nn.Linear)``, or a
        linear model.
    x : (N, d) tensor.
    y : optional (N,) labels; without them the guarantee is about the predicted class.
    steps : bisection steps on R.

    Returns
    -------
    (N,) float64 tensor of radii.

    Examples
    --------
    >>> from deepissues.nets import mlp
    >>> radius = cross_lipschitz_radius(mlp([4, 8, 3], "softplus"), torch.rand(5, 4))
    >>> radius.shape, bool((radius > 0).all())
    (torch.Size([5]), True)
    """
    return _certified_radius(lambda xs, c: _network_bound(model, xs, c), lambda xs: _logits(model, xs), x, y, steps)


def _certified_radius(make_bound, logits_of, x, y, steps):
    """Bisection on R for every point; ``make_bound(x, c)`` returns the gradient-difference bound
    as a function of R, built once."""
    positive_int("steps", steps)
    logits = logits_of(x)
    c = logits.argmax(1)
    rows = torch.arange(len(x))
    gaps = logits[rows, c][:, None] - logits  # (N, K), gaps[n, c] = 0
    others = torch.ones_like(gaps, dtype=torch.bool)
    others[rows, c] = False
    bound = make_bound(x, c)

    def ratio(radius):
        den = bound(radius)  # (N, K)
        g = torch.where(others, gaps / den.clamp_min(1e-300), torch.full_like(gaps, math.inf))
        return g.amin(1)

    lo = torch.zeros(len(x), dtype=torch.float64)
    hi = ratio(lo).clamp(max=1e6)  # g(R) <= g(0), so the crossing lies below g(0)
    for _ in range(steps):
        mid = (lo + hi) / 2
        ok = ratio(mid) >= mid
        lo, hi = torch.where(ok, mid, lo), torch.where(ok, hi, mid)
    if y is not None:
        y = torch.as_tensor(y)
        if y.shape != (len(x),):
            raise ValueError(f"y must have shape ({len(x)},), got {tuple(y.shape)}")
        lo = torch.where(c == y.to(c.device), lo, torch.zeros_like(lo))
    return lo


def _rows(x, d):
    if not torch.is_tensor(x) or x.dim() != 2 or x.shape[1] != d:
        raise ValueError(f"x must be a (N, {d}) tensor, got "
                         f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
    return x.detach().double().cpu()


def _radii(radius, n):
    """``radius`` as an (n,) float64 tensor of numbers >= 0."""
    radius = torch.as_tensor(radius, dtype=torch.float64)
    if radius.dim() > 1 or (radius.dim() == 1 and len(radius) != n) or bool((radius < 0).any()) \
            or bool(radius.isnan().any()):
        raise ValueError(f"radius must be a number >= 0 or ({n},) such numbers, got {radius.tolist()}")
    return radius.expand(n)


def _classes(c, n, k):
    """``c`` as (n,) class indices below k."""
    c = torch.as_tensor(c)
    if c.shape != (n,) or c.is_floating_point() or (n and (int(c.min()) < 0 or int(c.max()) >= k)):
        raise ValueError(f"c must be ({n},) class indices in [0, {k - 1}], got {c.tolist()}")
    return c.long()


def _logits(model, x):
    U, b, act, W, w0 = one_hidden_layer(model)
    h = _rows(x, U.shape[1]) @ U.T + b
    if act is not None:
        h = act(h)
    return h @ W.T + w0


class KernelMachine(nn.Module):
    """A Gaussian-kernel classifier f_r(x) = Σ_i α_ri exp(−γ‖x − z_i‖²) + b_r.

    Parameters
    ----------
    centers : (n, d) tensor, the z_i.
    coef : (K, n) tensor, the α.
    bias : (K,) tensor, the b.
    gamma : float > 0, the kernel's γ.
    """

    def __init__(self, centers, coef, bias, gamma):
        super().__init__()
        if coef.dim() != 2 or coef.shape[1] != len(centers) or bias.shape != (coef.shape[0],):
            raise ValueError(f"coef must be (K, {len(centers)}) and bias (K,), got {tuple(coef.shape)} "
                             f"and {tuple(bias.shape)}")
        self.register_buffer("centers", centers.detach().clone().float())
        self.coef = nn.Parameter(coef.detach().clone().float())
        self.bias = nn.Parameter(bias.detach().clone().float())
        self.gamma = nonnegative("gamma", float(gamma), strict=True)

    def kernel(self, x):
        """(N, n) kernel values exp(−γ‖x − z_i‖²)."""
        x = x.flatten(1)
        sq = (x * x).sum(1, keepdim=True) - 2 * x @ self.centers.T + (self.centers ** 2).sum(1)
        return torch.exp(-self.gamma * sq.clamp_min(0))

    def forward(self, x):
        return self.kernel(x) @ self.coef.T + self.bias


def one_vs_rest_svm(x, y, gamma, C=1.0):
    """Train K binary Gaussian-kernel SVMs (scikit-learn's ``SVC``), class k against the rest.

    Parameters
    ----------
    x : (N, d) tensor.
    y : (N,) labels 0, ..., K−1.
    gamma : float > 0, the kernel's γ.
    C : float > 0, the SVM's penalty.

    Returns
    -------
    :class:`KernelMachine` whose output k is SVM k's decision function.
    """
    from sklearn.svm import SVC

    nonnegative("gamma", gamma, strict=True)
    nonnegative("C", C, strict=True)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must hold the same positive number of rows, got {len(x)} and {len(y)}")
    x_np, y_np = x.detach().cpu().double().numpy(), np.asarray(y)
    classes = np.unique(y_np)
    coef, bias = np.zeros((len(classes), len(x_np))), np.zeros(len(classes))
    for k in classes:
        svm = SVC(kernel="rbf", gamma=gamma, C=C).fit(x_np, (y_np == k).astype(int))
        coef[k, svm.support_] = svm.dual_coef_[0]
        bias[k] = svm.intercept_[0]
    return KernelMachine(x.detach().cpu(), torch.from_numpy(coef), torch.from_numpy(bias), gamma)


def kernel_gradient_difference_bound(machine, x, radius, c):
    """Upper bound on max_{y ∈ B(x, R)} ‖∇f_c(y) − ∇f_j(y)‖₂ for a :class:`KernelMachine`.

    With β = α_c − α_j and g = f_c − f_j, the mean-value inequality gives
    ‖∇g(y)‖ <= ‖∇g(x)‖ + R · max_{B(x, R)} ‖∇²g‖. The first term is computed exactly. For the
    second, each kernel's Hessian k(y, z)[4γ²(y − z)(y − z)ᵀ − 2γI] has operator norm
    2γ·h(γt²) with t = ‖y − z‖ and h(u) = e^{−u} max(1, |2u − 1|), which falls on [0, 1],
    rises on [1, 3/2] and falls after; t ranges over [‖x − z‖ − R, ‖x − z‖ + R]. The sum over
    the kernels uses the triangle inequality. At R = 0 the bound is exact. The bound in Hein and
    Andriushchenko (2017) is built differently; this one is simpler and sound.

    Parameters
    ----------
    machine : :class:`KernelMachine`.
    x : (N, d) tensor.
    radius : float >= 0 or (N,) tensor of them.
    c : (N,) int tensor of classes.

    Returns
    -------
    (N, K) float64 tensor, entry [n, j] for the pair (c[n], j).
    """
    return _kernel_bound(machine, x, c)(radius)


def _kernel_bound(machine, x, c):
    """The bound of :func:`kernel_gradient_difference_bound` as a function of R; what does not
    depend on R is computed once."""
    if not isinstance(machine, KernelMachine):
        raise TypeError(f"expected a KernelMachine, got {type(machine).__name__}")
    centers, coef = machine.centers.double().cpu(), machine.coef.detach().double().cpu()
    x = _rows(x, centers.shape[1])
    c = _classes(c, len(x), len(coef))
    gamma = machine.gamma
    dist = torch.cdist(x, centers)  # (N, n)
    kern = torch.exp(-gamma * dist ** 2)
    beta = coef[c][:, None, :] - coef[None, :, :]  # (N, K, n)
    # ∇g(x) = −2γ Σ_i β_i k_i (x − z_i) = −2γ [(Σ_i β_i k_i) x − Σ_i β_i k_i z_i]
    weights = beta * kern[:, None, :]
    grad_at_x = (-2 * gamma * (weights.sum(2, keepdim=True) * x[:, None, :] - weights @ centers)).norm(dim=2)

    def h(u):
        return torch.exp(-u) * (2 * u - 1).abs().clamp_min(1)

    def bound(radius):
        radius = _radii(radius, len(x))
        u_lo = gamma * (dist - radius[:, None]).clamp_min(0) ** 2
        u_hi = gamma * (dist + radius[:, None]) ** 2
        peak = torch.minimum(torch.maximum(torch.full_like(u_lo, 1.5), u_lo), u_hi)
        curvature = 2 * gamma * torch.maximum(torch.maximum(h(u_lo), h(u_hi)), h(peak))  # (N, n)
        return grad_at_x + radius[:, None] * torch.einsum("bkn,bn->bk", beta.abs(), curvature)

    return bound


def cross_lipschitz_radius_kernel(machine, x, y=None, steps=50):
    """Certified L2 radius of a Gaussian-kernel machine at each point; see :func:`cross_lipschitz_radius`.

    Parameters
    ----------
    machine : :class:`KernelMachine`, e.g. from :func:`one_vs_rest_svm`.
    x : (N, d) tensor.
    y : (N,) labels or None; with labels the radius is 0 where the point is misclassified.
    steps : int >= 1, bisection steps on the radius.

    Returns
    -------
    (N,) float64 tensor.
    """
    if not isinstance(machine, KernelMachine):
        raise TypeError(f"expected a KernelMachine, got {type(machine).__name__}")

    def logits_of(xs):
        with torch.no_grad():
            return machine(xs.to(machine.coef.dtype)).double().cpu()

    x = _rows(x, machine.centers.shape[1])
    return _certified_radius(lambda xs, c: _kernel_bound(machine, xs, c), logits_of, x, y, steps)
