"""Chapter 08, failures: decomposition.

Failure 2 of Shalev-Shwartz, Shamir and Shammah (2017): decomposition vs end-to-end.

Two settings from the paper.

1. **k-tuples of line segments.** Each image shows one straight segment; its intermediate label
   says whether the segment slopes up (angle θ < π/2) or down. A tuple of k images gets the primary
   label +1 when an odd number of them slope up (a parity of the k intermediate labels). The same
   score network rates every image, and a small head combines the k scores. End-to-end training
   sees only the primary label; decomposition also supervises each score with its own label.
2. **Stocks.** A media reference x (one of d, one-hot) concerns one of k stocks. A linear softmax
   policy p = softmax(W x) spreads money over the stocks. End-to-end maximises the realised gain
   p·z, where the concerned stock gains +1 and every other one ±1 at random; decomposition
   maximises p_y, the weight on the concerned stock y. At W = 0 both gradients have the same
   mean, but the end-to-end one carries the other k − 1 stocks' noise: its second moment is k
   times larger, and its signal-to-noise ratio is 1/(kd − 1) against decomposition's 1/(d − 1).
"""

import math

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from ..checks import nonnegative, one_of, positive_int
from .. import repro
from ..repro import default_device
from ..training import train_steps
from .parities import hinge
from .snr import gradient_snr, gradient_snr_stderr

__all__ = ["APPROACHES", "line_segment_images", "k_tuples", "TupleNet", "train_tuples", "tuple_gradient_snr",
           "stocks_market",
           "stocks_batch", "StockPolicy", "stocks_loss", "stocks_gradients", "stocks_snr_closed_form",
           "stocks_second_moment_ratio", "train_stocks"]

APPROACHES = ("end-to-end", "decomposition")


# ----- k-tuples of line segments ------------------------------------------------------------------

def line_segment_images(n, size=28, seed=0):
    """Binary images, each with one straight segment, and their intermediate labels.

    As in the paper: θ ~ U(0, π), centre ~ U([0, size]²), length ~ U(5, size − 5) scaled with
    ``size``/28; the pixels along the segment, rounded down, are set to 1.

    Parameters
    ----------
    n : int >= 1, the number of images.
    size : int, their side.
    seed : int.

    Returns
    -------
    images : (n, size, size) float tensor in {0, 1}.
    labels : (n,) ±1, +1 when θ < π/2.
    """
    positive_int("n", n)
    positive_int("size", size, least=8)
    g = repro.generator(seed)
    theta = torch.rand(n, generator=g) * math.pi
    centre = torch.rand(n, 2, generator=g) * size
    scale = size / 28
    length = 5 * scale + torch.rand(n, generator=g) * (size - 10 * scale)
    steps = torch.arange(-size, size + 1, dtype=torch.float32) / 2           # half-pixel steps
    direction = torch.stack([theta.cos(), theta.sin()], 1)
    points = centre[:, None] + steps[None, :, None] * direction[:, None]      # (n, S, 2)
    inside = (steps[None].abs() <= length[:, None] / 2) & ((points >= 0) & (points < size)).all(-1)
    pixels = points.floor().long().clamp(0, size - 1)
    images = torch.zeros(n, size, size)
    rows = torch.arange(n)[:, None].expand_as(inside)
    images[rows[inside], pixels[..., 0][inside], pixels[..., 1][inside]] = 1.0
    return images, torch.where(theta < math.pi / 2, 1.0, -1.0)


def k_tuples(n, k, size=28, seed=0):
    """Tuples of k line-segment images with intermediate and primary labels.

    Parameters
    ----------
    n : int >= 1, the number of tuples.
    k : int >= 1, images per tuple.
    size : int, the images' side.
    seed : int.

    Returns
    -------
    images : (n, k, size, size) tensor.
    intermediate : (n, k) ±1 labels, one per image.
    primary : (n,) ±1, +1 when an odd number of the k segments slope up.
    """
    positive_int("k", k)
    positive_int("n", n)
    images, labels = line_segment_images(n * k, size, seed)
    intermediate = labels.reshape(n, k)
    primary = torch.where((intermediate > 0).sum(1) % 2 == 1, 1.0, -1.0)
    return images.reshape(n, k, size, size), intermediate, primary


class TupleNet(nn.Module):
    """The paper's network, scaled by ``channels``: a score network (two 5×5 conv + 2×2 max-pool
    blocks, then 50 and 100 ReLU units and one output) applied to each image, and a head
    (sigmoid of the k scores → 100 ReLU units → 1) that predicts the primary label.

    Parameters
    ----------
    k : int >= 1, images per tuple.
    size : int, the images' side (28 in the paper).
    channels : int >= 1, the conv layers' width.

    The forward pass maps images (n, k, size, size) to (output (n,), scores (n, k)).
    """

    def __init__(self, k, size=28, channels=16):
        super().__init__()
        positive_int("k", k)
        self.k, self.size = k, size
        flat = channels * (size // 4) ** 2
        self.score = nn.Sequential(
            nn.Conv2d(1, channels, 5, padding=2), nn.MaxPool2d(2), nn.Conv2d(channels, channels, 5, padding=2),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(flat, 50), nn.ReLU(), nn.Linear(50, 100), nn.ReLU(),
            nn.Linear(100, 1))
        self.head = nn.Sequential(nn.Linear(k, 100), nn.ReLU(), nn.Linear(100, 1))

    def forward(self, images):
        """images (n, k, size, size) → (primary output (n,), per-image scores (n, k))."""
        if images.dim() != 4 or images.shape[1:] != (self.k, self.size, self.size):
            raise ValueError(f"expected images of shape (n, {self.k}, {self.size}, {self.size}), "
                             f"got {tuple(images.shape)}")
        n = len(images)
        scores = self.score(images.reshape(n * self.k, 1, self.size, self.size)).reshape(n, self.k)
        return self.head(torch.sigmoid(scores))[:, 0], scores


def train_tuples(k, iterations, approach="end-to-end", size=28, channels=16, batch_size=200, lr=1e-3, seed=0,
                 progress=True, record_every=None, test_size=2000, device=None):
    """Train :class:`TupleNet` with Adam on fresh tuples, as in the paper: the hinge loss on the
    primary label, plus (for decomposition) the hinge loss of every score on its intermediate label.

    Parameters
    ----------
    k : int >= 1, images per tuple.
    iterations : int >= 1.
    approach : "end-to-end" or "decomposition".
    size : int, the images' side.
    channels : int >= 1, the conv layers' width.
    batch_size : int >= 1.
    lr : float > 0.
    seed : int, fixes the initialisation and the tuples.
    progress : show a progress bar.
    record_every : int or None (iterations // 20).
    test_size : int, fresh tuples the accuracy is measured on.
    device : torch device or None (a GPU when there is one).

    Returns
    -------
    net : the trained :class:`TupleNet`.
    curve : list of (iteration, accuracy on the primary label), every ``record_every`` steps and
        at the end.
    """
    positive_int("iterations", iterations)
    one_of("approach", approach, APPROACHES)
    nonnegative("lr", lr, strict=True)
    device = default_device() if device is None else torch.device(device)
    with repro.seeded(seed):
        net = TupleNet(k, size, channels).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-5)
    test_images, _, test_primary = (t.to(device) for t in k_tuples(test_size, k, size, seed=10_000 + seed))

    def fresh_batch(step):
        return tuple(t.to(device) for t in k_tuples(batch_size, k, size, seed=seed * 1_000_003 + step))

    def loss(model, batch):
        images, intermediate, primary = batch
        output, scores = model(images)
        value = hinge(output, primary)
        return value + hinge(scores.flatten(), intermediate.flatten()) if approach == "decomposition" else value

    def accuracy(model):
        return (torch.sign(model(test_images)[0]) == test_primary).float().mean()

    curve = train_steps(net, loss, fresh_batch, iterations, opt, record=accuracy,
                        record_every=record_every or max(1, iterations // 20), progress=progress,
                        description=f"k={k} {approach}")
    return net, curve


def tuple_gradient_snr(k, approach, seed=0, *, net=None, n_tuples=10_000, size=28, channels=16, chunk=1000,
                       groups=20):
    """The per-example SNR of the gradient with respect to the score network's last layer, as in the
    paper's Figure 5, with its standard error.

    The paper measures the gradient of one layer's weights: the last layer of the per-image score
    network. End-to-end's per-example loss is the hinge loss of the primary label; decomposition's
    is the paper's intermediate loss, defined on single images: the hinge loss of the tuple's first
    score on its own label (the paper's code takes the first image too). Both are measured at the
    same weights, on fresh tuples that no training run draws.

    Parameters
    ----------
    k : int >= 1, images per tuple.
    approach : "end-to-end" or "decomposition", whose gradient to measure.
    seed : int, fixes the tuples and, without ``net``, the initialisation (that of
        :func:`train_tuples` with this seed).
    net : :class:`TupleNet` with this ``k`` and ``size``, or None (a fresh one: the SNR at
        initialisation).
    n_tuples : int, the number of per-example gradients.
    size, channels : the fresh network's image side and width (``size`` must match ``net``'s).
    chunk : int >= 1, tuples per forward pass (memory only).
    groups : int, the jackknife's groups for the standard error.

    Returns
    -------
    snr : float, :func:`gradient_snr` of the n_tuples per-example gradients of the 100 weights.
    stderr : float, :func:`gradient_snr_stderr` of the same.

    Examples
    --------
    >>> snr, stderr = tuple_gradient_snr(1, "decomposition", n_tuples=200, size=14, channels=2, groups=10)
    >>> stderr > 0
    True
    """
    one_of("approach", approach, APPROACHES)
    positive_int("n_tuples", n_tuples, least=2 * groups)
    positive_int("chunk", chunk)
    if net is None:
        with repro.seeded(seed):
            net = TupleNet(k, size, channels)
    elif not isinstance(net, TupleNet) or net.k != k or net.size != size:
        raise ValueError(f"net must be a TupleNet with k = {k} and size = {size}, got "
                         f"{f'k = {net.k}, size = {net.size}' if isinstance(net, TupleNet) else type(net).__name__}")
    device = next(net.parameters()).device
    images, intermediate, primary = (t.to(device) for t in k_tuples(n_tuples, k, size, seed=30_000 + seed))
    grads = torch.cat([_last_layer_gradients(net, approach, images[i:i + chunk], intermediate[i:i + chunk],
                                             primary[i:i + chunk]) for i in range(0, n_tuples, chunk)])
    return gradient_snr(grads), gradient_snr_stderr(grads, groups)


def _last_layer_gradients(net, approach, images, intermediate, primary):
    """Per-example gradients (n, 100) of the loss with respect to the score network's last weights.

    The score is s = w·φ + b with φ the features below the last layer, so example i's gradient is
    Σ_j (∂ℓ_i/∂s_ij) φ_ij: one forward pass for φ and one backward pass through the head, since
    ℓ_i depends on the scores of tuple i only.
    """
    n, k, size = len(images), net.k, net.size
    last = net.score[-1]
    with torch.no_grad():
        features = net.score[:-1](images.reshape(n * k, 1, size, size)).reshape(n, k, -1)
        scores = features @ last.weight[0] + last.bias
    scores.requires_grad_()
    if approach == "end-to-end":
        losses = torch.relu(1 - primary * net.head(torch.sigmoid(scores))[:, 0])
    else:
        losses = torch.relu(1 - intermediate[:, 0] * scores[:, 0])
    slopes, = torch.autograd.grad(losses.sum(), scores)
    return torch.einsum("nk,nkh->nh", slopes, features)


# ----- stocks -------------------------------------------------------------------------------------

def stocks_market(d, k, seed=0):
    """The stock that each of the d media references concerns.

    Parameters
    ----------
    d : int >= 1, references.
    k : int >= 1, stocks.
    seed : int.

    Returns
    -------
    (d,) int tensor in [0, k).
    """
    positive_int("d", d)
    positive_int("k", k)
    return torch.randint(0, k, (d,), generator=repro.generator(seed))


def stocks_batch(n, market, k, seed=0):
    """Draws of (reference, gains, concerned stock).

    Parameters
    ----------
    n : int >= 1, the number of draws.
    market : (d,) int tensor from :func:`stocks_market`, in [0, k).
    k : int >= 1, the number of stocks.
    seed : int.

    Returns
    -------
    X : (n, d) one-hot references.
    Z : (n, k) gains, +1 for the concerned stock and ±1 at random for the others.
    Y : (n, k) one-hot of the concerned stock.
    """
    positive_int("n", n)
    positive_int("k", k)
    if market.dim() != 1 or market.min() < 0 or market.max() >= k:
        raise ValueError(f"market must be a 1-D tensor of stocks in [0, {k}), got {market.tolist()[:10]}…")
    g = repro.generator(seed)
    ref = torch.randint(0, len(market), (n,), generator=g)
    X = nn.functional.one_hot(ref, len(market)).float()
    Y = nn.functional.one_hot(market[ref], k).float()
    Z = torch.where(Y > 0, 1.0, torch.randint(0, 2, (n, k), generator=g).float() * 2 - 1)
    return X, Z, Y


class StockPolicy(nn.Module):
    """The portfolio p = softmax(W x + b), with W (k, d) and b (k,); zero by default (the uniform
    portfolio).

    Parameters
    ----------
    d : int >= 1, the number of media references.
    k : int >= 1, the number of stocks.
    init_std : float >= 0, the standard deviation of W's initial entries (0: W = 0).
    """

    def __init__(self, d, k, init_std=0.0):
        super().__init__()
        positive_int("d", d)
        positive_int("k", k)
        nonnegative("init_std", init_std)
        self.linear = nn.Linear(d, k)
        nn.init.normal_(self.linear.weight, std=init_std) if init_std else nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, X):
        return torch.softmax(self.linear(X), -1)


def stocks_loss(policy, X, Z, Y, approach):
    """The loss of a portfolio on a batch.

    Parameters
    ----------
    policy : :class:`StockPolicy`.
    X, Z, Y : a batch from :func:`stocks_batch`.
    approach : "end-to-end" (−E[p·z], the realised gain) or "decomposition" (−E[p·y], the
        concerned stock).

    Returns
    -------
    scalar tensor.
    """
    one_of("approach", approach, APPROACHES)
    return -(policy(X) * (Z if approach == "end-to-end" else Y)).sum(-1).mean()


def stocks_gradients(approach, n, d, k, seed=0, policy=None):
    """Per-sample gradients of :func:`stocks_loss` with respect to W, by autograd.

    Parameters
    ----------
    approach : "end-to-end" or "decomposition".
    n : int >= 1, the number of draws.
    d, k : ints >= 1, references and stocks.
    seed : int, fixes the market and the draws.
    policy : :class:`StockPolicy` or None (W = 0, where the closed forms hold).

    Returns
    -------
    (n, k·d) tensor.
    """
    one_of("approach", approach, APPROACHES)
    market = stocks_market(d, k, seed)
    X, Z, Y = stocks_batch(n, market, k, seed=seed + 1)
    if policy is None:
        with repro.seeded(seed):  # nn.Linear draws initial weights before they are zeroed
            policy = StockPolicy(d, k)
    params = {name: p.detach() for name, p in policy.named_parameters()}

    def loss(prm, x, z, y):
        return functional_call(policy, prm, (x[None],)).mul(z if approach == "end-to-end" else y).sum().neg()

    return vmap(grad(loss), in_dims=(None, 0, 0, 0))(params, X, Z, Y)["linear.weight"].reshape(n, -1)


def stocks_snr_closed_form(d, k):
    """SNR ‖E g‖² / E‖g − E g‖² of the per-sample gradient at W = 0 (references uniform over d).

    Both have mean (1/(kd)) Σ_i (e_{y_i} − 𝟙/k) e_iᵀ, with ‖mean‖² = (k − 1)/(k³ d). Decomposition's
    second moment is (k − 1)/k³, end-to-end's (k − 1)/k², so SNR = 1/(d − 1) and 1/(kd − 1).

    Parameters
    ----------
    d : int >= 2, references.
    k : int >= 2, stocks.

    Returns
    -------
    dict with keys "end-to-end" and "decomposition".

    Examples
    --------
    >>> stocks_snr_closed_form(11, 2)["decomposition"]
    0.1
    """
    positive_int("d", d, least=2)
    positive_int("k", k, least=2)
    return {"decomposition": 1 / (d - 1), "end-to-end": 1 / (k * d - 1)}


def stocks_second_moment_ratio(k):
    """E‖g_e2e‖² / E‖g_dec‖² at W = 0, in closed form: exactly k.

    Parameters
    ----------
    k : int >= 2, the number of stocks.

    Returns
    -------
    float.
    """
    positive_int("k", k, least=2)
    return float(k)


def train_stocks(approach, iterations, d=1000, k=100, batch_size=100, lr=0.1, optimizer="adam", seed=0,
                 progress=True):
    """Train :class:`StockPolicy` on the end-to-end or decomposition loss, by default as in the paper
    (Adam, d = 1000, k = 100, batch 100, learning rate 0.1), on fresh draws at every step.

    Parameters
    ----------
    approach : "end-to-end" or "decomposition".
    iterations : int >= 1.
    d, k : ints >= 1, references and stocks.
    batch_size : int >= 1.
    lr : float > 0.
    optimizer : "adam" or "sgd".
    seed : int, fixes the market, the initialisation and the draws.
    progress : show a progress bar.

    Returns
    -------
    policy : the trained :class:`StockPolicy`.
    curve : list of (iteration, −E[p·z]), the end-to-end loss both approaches are judged by, on
        5,000 fresh draws, 50 times along the way.
    """
    positive_int("iterations", iterations)
    nonnegative("lr", lr, strict=True)
    market = stocks_market(d, k, seed)
    one_of("optimizer", optimizer, ("adam", "sgd"))
    with repro.seeded(seed):
        policy = StockPolicy(d, k, init_std=d ** -0.5)
    opt = torch.optim.Adam(policy.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-5) if optimizer == "adam" \
        else torch.optim.SGD(policy.parameters(), lr=lr)
    X_val, Z_val, Y_val = stocks_batch(5000, market, k, seed=seed + 1)
    curve = train_steps(policy, lambda model, batch: stocks_loss(model, *batch, approach),
                        lambda step: stocks_batch(batch_size, market, k, seed=seed * 1_000_003 + step + 1), iterations,
                        opt, record=lambda model: stocks_loss(model, X_val, Z_val, Y_val, "end-to-end"),
                        progress=progress, description=f"stocks {approach}")
    return policy, curve
