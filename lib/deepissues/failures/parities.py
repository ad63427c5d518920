"""Chapter 07, failures: parities.

Failure 1 of Shalev-Shwartz, Shamir and Shammah (2017): parities have non-informative gradients.

A parity on d bits is χ_v(x) = Π_{i: v_i = 1} x_i for x in {±1}^d. The 2^d parities are
orthonormal under the uniform distribution, so (Theorem 1 of the paper) the gradient of the loss,
as a function of which parity is the target, varies by at most G²/2^d: it carries almost no
information about the target once d is moderate.
"""

import math

import torch

from ..autodiff import per_sample_gradients
from ..checks import one_of, positive_int
from ..nets import mlp
from ..training import train_steps
from .. import repro

__all__ = ["parity_dataset", "random_subset", "parity", "parity_net", "train_parity", "iterations_to_accuracy",
           "harder_with_dimension", "parity_gradient_variance", "walsh_hadamard", "subset_of_index", "hinge"]

LOSSES = ("square", "hinge")


def parity_dataset(n, d, subset=None, seed=0):
    """n uniform points of {±1}^d and their parity on ``subset``.

    Parameters
    ----------
    n, d : ints >= 1.
    subset : (d,) 0/1 tensor or sequence v*; by default a uniformly random one (fixed by seed).
    seed : int.

    Returns
    -------
    X : (n, d) float tensor of ±1; y : (n,) float tensor of ±1, y = Π_{i: v*_i = 1} x_i.
    """
    positive_int("n", n)
    positive_int("d", d)
    g = repro.generator(seed)
    v = random_subset(d, seed) if subset is None else _as_subset(subset, d)
    X = torch.randint(0, 2, (n, d), generator=g).float() * 2 - 1
    return X, parity(X, v)


def random_subset(d, seed=0):
    """A uniformly random v* in {0, 1}^d (as the paper draws it).

    Parameters
    ----------
    d : int >= 1.
    seed : int.

    Returns
    -------
    (d,) int64 tensor of 0s and 1s.
    """
    positive_int("d", d)
    g = repro.generator(seed + 7919)
    return torch.randint(0, 2, (d,), generator=g)


def parity(X, subset):
    """The ±1 parity of the rows of X on the coordinates where subset is 1.

    Parameters
    ----------
    X : (n, d) tensor in {±1}.
    subset : (d,) 0/1 vector.

    Returns
    -------
    (n,) tensor of ±1.

    Examples
    --------
    >>> parity(torch.tensor([[1.0, -1.0, -1.0]]), torch.tensor([1, 1, 0])).tolist()
    [-1.0]
    """
    v = _as_subset(subset, X.shape[1])
    return torch.where(v.bool(), X, torch.ones_like(X)).prod(1)


def parity_net(d, width=None, init="default"):
    """The paper's network: one fully connected ReLU layer and one linear output unit.

    Parameters
    ----------
    d : int >= 1, the number of bits.
    width : int or None (10·d), the hidden units.
    init : "default" (PyTorch's) or "he" (Kaiming-normal, zero biases; see ``nets.mlp``).

    Returns
    -------
    nn.Sequential mapping (n, d) to (n, 1).
    """
    positive_int("d", d)
    width = 10 * d if width is None else positive_int("width", width)
    return mlp([d, width, 1], "relu", init=init)


def train_parity(d, iterations, batch_size=128, lr=0.01, width=None, seed=0, test_size=10_000, progress=True,
                 record_every=None, subset=None):
    """Train :func:`parity_net` with the hinge loss and plain SGD on fresh mini-batches of a random
    parity, as in the paper.

    Parameters
    ----------
    d : int >= 1, the number of bits.
    iterations : int >= 1.
    batch_size : int >= 1.
    lr : float, SGD's step.
    width : int or None (10·d).
    seed : int, fixes v*, the initialisation, the test set and the batches.
    test_size : int, fresh samples the accuracy is measured on.
    progress : show a progress bar.
    record_every : int or None.
    subset : (d,) 0/1 vector fixing v*, or None (:func:`random_subset` of ``seed``).

    Returns
    -------
    float, the test accuracy; or, with ``record_every``, the list of (iteration, accuracy) pairs
    measured along the way on the same test set, ending with the final accuracy.
    """
    positive_int("iterations", iterations)
    positive_int("batch_size", batch_size)
    with repro.seeded(seed):
        v = random_subset(d, seed) if subset is None else _as_subset(subset, d)
        net = parity_net(d, width)
    X_test, y_test = parity_dataset(test_size, d, v, seed=seed + 1)
    g = repro.generator(seed + 2)

    def fresh_batch(step):
        return torch.randint(0, 2, (batch_size, d), generator=g).float() * 2 - 1

    curve = train_steps(net, lambda model, X: hinge(model(X)[:, 0], parity(X, v)), fresh_batch, iterations,
                        torch.optim.SGD(net.parameters(), lr=lr), progress=progress, description=f"parity d={d}",
                        record=(lambda model: _accuracy(model, X_test, y_test)) if record_every else None,
                        record_every=record_every)
    return curve if record_every else _accuracy(net, X_test, y_test)


def iterations_to_accuracy(curve, level):
    """The first recorded iteration at which a :func:`train_parity` curve reaches ``level`` accuracy.

    Parameters
    ----------
    curve : list of (iteration, accuracy).
    level : float in (0, 1].

    Returns
    -------
    int, or ``math.inf`` if the curve never reaches it.

    Examples
    --------
    >>> iterations_to_accuracy([(100, 0.6), (200, 0.95), (300, 0.99)], 0.9)
    200
    """
    if not 0 < level <= 1:
        raise ValueError(f"level must be an accuracy in (0, 1], got {level!r}")
    return next((it for it, accuracy in curve if accuracy >= level), math.inf)


def harder_with_dimension(curves, level=0.75):
    """Whether learning gets harder as d grows: the iterations to reach ``level`` accuracy grow
    strictly with d over every dimension but the largest, and the largest never gets there.

    Parameters
    ----------
    curves : dict {d: list of (iteration, accuracy)}, :func:`train_parity` curves, at least two.
    level : float in (0, 1], the accuracy to reach.

    Returns
    -------
    (bool, dict {d: iterations}), the verdict and :func:`iterations_to_accuracy` of each curve,
    in increasing d (``math.inf`` where a curve never gets there).

    Examples
    --------
    >>> harder_with_dimension({5: [(100, 0.9)], 10: [(100, 0.6), (200, 0.8)], 30: [(100, 0.5), (200, 0.5)]})
    (True, {5: 100, 10: 200, 30: inf})
    >>> harder_with_dimension({5: [(100, 0.9)], 10: [(100, 0.9)], 30: [(100, 0.5)]})[0]
    False
    """
    if not isinstance(curves, dict) or len(curves) < 2:
        raise ValueError(f"curves must be a dict {{d: curve}} of at least two dimensions, got {curves!r:.80}")
    needed = {d: iterations_to_accuracy(curves[d], level) for d in sorted(curves)}
    *smaller, largest = needed.values()
    grows = all(a < b for a, b in zip(smaller, smaller[1:])) and math.isfinite(smaller[0])
    return grows and largest == math.inf, needed


def parity_gradient_variance(d, width=None, loss="square", seed=0, n_parities=None, n_samples=None,
                             sample_seed=None):
    """Variance, over the target parity, of the loss gradient at a random initialisation, and the
    bound G²/2^d of Theorem 1, with G² = E_x ‖∇_w p_w(x)‖².

    For d <= 12 (and no sampling asked for) everything is exact: all 2^d inputs, all 2^d parities.
    With labels ±1 the loss derivative is ℓ'(p, h) = a(x) + h·b(x), so the gradient for target
    χ_v is a constant plus E_x[χ_v(x) b(x) ∇p(x)]: a Walsh–Hadamard transform of b·∇p over the
    cube, computed for all v at once. For square loss b = −1; for hinge, b = −1 where |p| < 1.

    Otherwise (d > 12, or ``n_parities``/``n_samples`` given) it samples ``n_parities`` random
    parities and ``n_samples`` random inputs, and estimates E_v ‖E_x[χ_v b ∇p]‖² with the
    unbiased U-statistic (all pairs of distinct samples), so the estimate has no bias from the
    finite sample; the mean gradient's norm, ‖b(𝟙)∇p(𝟙)‖²/4^d, is exact and subtracted.

    Parameters
    ----------
    d : int >= 1, the number of bits.
    width : int or None (10·d), the hidden width of :func:`parity_net`.
    loss : "square" or "hinge".
    seed : int, fixes the network's initialisation.
    n_parities : int or None (256 when sampling), parities sampled.
    n_samples : int or None (4096 when sampling), inputs sampled.
    sample_seed : int or None (``seed``), fixes the sampled inputs and parities.

    Returns
    -------
    dict with ``variance``, ``bound`` (G²/2^d), ``G2``, ``exact`` (bool) and ``signal``, the
    mean squared norm of the whole gradient over targets (what a single target's gradient looks
    like: not small).
    """
    positive_int("d", d)
    one_of("loss", loss, LOSSES)
    with repro.seeded(seed):
        net = parity_net(d, width).double()
    exact = d <= 12 and n_parities is None and n_samples is None
    if exact:
        X = _cube(d)
    else:
        n_samples = n_samples or 4096
        sample_seed = seed if sample_seed is None else sample_seed
        X = torch.randint(0, 2, (n_samples, d), generator=repro.generator(sample_seed)).double() * 2 - 1
    p, g = per_sample_gradients(net, X)
    a, b = _loss_derivative_parts(p, loss)
    G2 = float(g.pow(2).sum(1).mean())
    weighted = b[:, None] * g
    ones = torch.ones(1, d, dtype=torch.float64)
    p1, g1 = per_sample_gradients(net, ones)
    mean_term = float((_loss_derivative_parts(p1, loss)[1][:, None] * g1).pow(2).sum()) / 4 ** d
    base = (a[:, None] * g).mean(0)
    if exact:
        coeffs = walsh_hadamard(weighted) / 2 ** d      # row v: E_x[χ_v(x) b(x) ∇p(x)]
        second = float(coeffs.pow(2).sum(1).mean())
        signal = float((base[None] + coeffs).pow(2).sum(1).mean())
    else:
        V = torch.randint(0, 2, (n_parities or 256, d), generator=repro.generator(sample_seed + 1))
        chi = torch.stack([parity(X, v) for v in V])                     # (m, n)
        n = len(X)
        total = (chi @ weighted).pow(2).sum(1)                           # ‖Σ_i χ_v(x_i) w_i‖²
        diagonal = weighted.pow(2).sum()                                 # Σ_i ‖w_i‖², as χ² = 1
        per_parity = (total - diagonal) / (n * (n - 1))                  # unbiased for ‖E_x[...]‖²
        second = float(per_parity.mean())
        signal = float(base.pow(2).sum()) + second
    return {"variance": second - mean_term, "bound": G2 / 2 ** d, "G2": G2, "exact": exact, "signal": signal}


def walsh_hadamard(values):
    """The unnormalised Walsh–Hadamard transform along axis 0: row v of the result is
    Σ_x χ_v(x)·values[x], the rows of ``values`` indexed by the points of the cube {±1}^d (bit i
    of the index set means x_i = −1).

    Parameters
    ----------
    values : (2^d, ...) tensor.

    Returns
    -------
    tensor of the same shape.

    Examples
    --------
    >>> walsh_hadamard(torch.tensor([1.0, 0.0, 0.0, 0.0])).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    n = values.shape[0]
    d = int(round(math.log2(n)))
    if 2 ** d != n:
        raise ValueError(f"the first axis must have length 2^d, got {n}")
    out = values.reshape(*([2] * d), -1)
    for axis in range(d):
        first, second = out.select(axis, 0), out.select(axis, 1)
        out = torch.stack([first + second, first - second], dim=axis)
    return out.reshape(values.shape)


def _cube(d):
    """All 2^d points of {±1}^d; bit i of the row index set means x_i = −1 (the order that makes
    :func:`walsh_hadamard`'s row v the parity on the bits of v, most significant first)."""
    idx = torch.arange(2 ** d)
    bits = (idx[:, None] >> torch.arange(d - 1, -1, -1)) & 1
    return (1 - 2 * bits).double()


def subset_of_index(v, d):
    """The 0/1 subset whose parity is row v of :func:`walsh_hadamard` (bit i, most significant first).

    Parameters
    ----------
    v : int in [0, 2^d).
    d : int >= 1.

    Returns
    -------
    (d,) int64 tensor.

    Examples
    --------
    >>> subset_of_index(5, 3).tolist()
    [1, 0, 1]
    """
    positive_int("d", d)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2 ** d:
        raise ValueError(f"v must be an int in [0, {2 ** d}) for d = {d}, got {v!r}")
    return (torch.tensor(v) >> torch.arange(d - 1, -1, -1)) & 1


def _loss_derivative_parts(p, loss):
    """ℓ'(p, h) = a + h·b for labels h = ±1."""
    if loss == "square":   # ℓ = (p − h)²/2, ℓ' = p − h
        return p, -torch.ones_like(p)
    # hinge ℓ = max(0, 1 − h p): ℓ' = −h where h p < 1
    d_plus = torch.where(p < 1, -torch.ones_like(p), torch.zeros_like(p))
    d_minus = torch.where(-p < 1, torch.ones_like(p), torch.zeros_like(p))
    return (d_plus + d_minus) / 2, (d_plus - d_minus) / 2


def hinge(output, label):
    """Mean hinge loss max(0, 1 − label · output) for ±1 labels.

    Parameters
    ----------
    output, label : tensors of one shape.

    Returns
    -------
    scalar tensor.
    """
    if output.shape != label.shape:
        raise ValueError(f"output and label must have one shape, got {tuple(output.shape)} and {tuple(label.shape)}")
    return (1 - output * label).clamp_min(0).mean()


def _accuracy(net, X, y):
    with torch.no_grad():
        return float((torch.sign(net(X)[:, 0]) == y).float().mean())


def _as_subset(subset, d):
    v = torch.as_tensor(subset)
    if v.shape != (d,) or not bool(((v == 0) | (v == 1)).all()):
        raise ValueError(f"subset must be a 0/1 vector of length d={d}, got shape {tuple(v.shape)}")
    return v.long()

