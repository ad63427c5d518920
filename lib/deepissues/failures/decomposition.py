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

import copy
import math

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from ..checks import nonnegative, one_of, positive_int
from .. import repro
from ..repro import default_device
from ..progress import progress_bar
from .parities import hinge
from .snr import gradient_snr, gradient_snr_stderr

__all__ = ["APPROACHES", "line_segment_images", "k_tuples", "TupleNet", "train_tuples", "tuple_accuracy",
           "tuple_gradient_snr",
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
    # count the points inside the segment that fall on each pixel, then cap the counts at 1: the
    # pixels with at least one such point, without selecting them first
    flat = (torch.arange(n)[:, None] * size + pixels[..., 0]) * size + pixels[..., 1]
    images = torch.zeros(n * size * size).index_put_((flat.flatten(),), inside.flatten().float(), accumulate=True)
    return images.clamp_(max=1).reshape(n, size, size), torch.where(theta < math.pi / 2, 1.0, -1.0)


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

    The convolutions keep their weights and inputs in channels-last memory format, which oneDNN
    runs about 1.5 times faster on a CPU for these small single-channel images; the values are
    those of the usual layout up to float rounding, and the initial weights are drawn as usual.

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
        self.score.to(memory_format=torch.channels_last)  # the conv weights only; their values are kept

    def features(self, images):
        """images (n, k, size, size) → the score network's last hidden layer, (n, k, 100)."""
        if images.dim() != 4 or images.shape[1:] != (self.k, self.size, self.size):
            raise ValueError(f"expected images of shape (n, {self.k}, {self.size}, {self.size}), "
                             f"got {tuple(images.shape)}")
        n = len(images)
        flat = images.reshape(n * self.k, 1, self.size, self.size).contiguous(memory_format=torch.channels_last)
        return self.score[:-1](flat).reshape(n, self.k, -1)

    def forward(self, images):
        """images (n, k, size, size) → (primary output (n,), per-image scores (n, k))."""
        scores = self.score[-1](self.features(images))[..., 0]
        return self.head(torch.sigmoid(scores))[:, 0], scores


def train_tuples(k, iterations, approach="end-to-end", size=28, channels=16, batch_size=200, lr=1e-3, seed=0,
                 progress=True, record_every=None, test_size=2000, device=None):
    """Train :class:`TupleNet` with Adam on fresh tuples, as in the paper: the hinge loss on the
    primary label, plus (for decomposition) the hinge loss of every score on its intermediate label.

    Given several approaches, it trains them side by side in one loop: each step's tuples and the
    test tuples are drawn once and serve every approach's network. Each network starts from the
    initialisation this ``seed`` draws, sees the same tuples and takes the same Adam steps (one
    optimiser holds all the networks; no weight is shared, so the gradient of the summed losses is
    each network's own): every run is exactly the one this function makes for its approach alone.

    Parameters
    ----------
    k : int >= 1, images per tuple.
    iterations : int >= 1.
    approach : "end-to-end" or "decomposition", or a sequence of distinct approaches to train side
        by side.
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
    With a sequence of approaches: a dict approach -> (net, curve).

    Examples
    --------
    >>> runs = train_tuples(1, 4, APPROACHES, size=14, channels=2, batch_size=8, progress=False, test_size=20)
    >>> [len(runs[a][1]) for a in APPROACHES]
    [4, 4]
    """
    approaches = _approaches(approach)
    positive_int("iterations", iterations)
    nonnegative("lr", lr, strict=True)
    every = max(1, iterations // 20) if record_every is None else positive_int("record_every", record_every)
    device = default_device() if device is None else torch.device(device)
    nets = {}
    for name in approaches:
        with repro.seeded(seed):
            nets[name] = TupleNet(k, size, channels).to(device)
    # the fused Adam: one kernel per weight; on a CPU the default's many small operations take twice as long
    opt = torch.optim.Adam([p for net in nets.values() for p in net.parameters()], lr=lr, betas=(0.9, 0.99),
                           eps=1e-5, fused=True)
    test_images, _, test_primary = (t.to(device) for t in k_tuples(test_size, k, size, seed=10_000 + seed))
    curves = {name: [] for name in approaches}
    for step in progress_bar(range(1, iterations + 1), f"k={k} {' and '.join(approaches)}", enabled=progress):
        images, intermediate, primary = (t.to(device) for t in
                                         k_tuples(batch_size, k, size, seed=seed * 1_000_003 + step))
        total = 0
        for name, net in nets.items():
            output, scores = net(images)
            loss = hinge(output, primary)
            total = total + (loss + hinge(scores.flatten(), intermediate.flatten()) if name == "decomposition"
                             else loss)
        opt.zero_grad()
        total.backward()
        opt.step()
        if step % every == 0 or step == iterations:
            for name, net in nets.items():
                curves[name].append((step, _accuracy(net, test_images, test_primary)))
    runs = {name: (nets[name], curves[name]) for name in approaches}
    return runs[approach] if isinstance(approach, str) else runs


def tuple_accuracy(k, seed=0, *, net=None, size=28, channels=16, test_size=2000):
    """Accuracy on the primary label of fresh test tuples: those on which :func:`train_tuples` with
    this ``seed`` records its curve.

    Parameters
    ----------
    k : int >= 1, images per tuple.
    seed : int, fixes the test tuples and, without ``net``, the initialisation (that of
        :func:`train_tuples` with this seed).
    net : :class:`TupleNet` with this ``k``, or None (a fresh one: the untrained network).
    size, channels : the fresh network's image side and width (``size`` must match ``net``'s).
    test_size : int >= 1, the number of test tuples.

    Returns
    -------
    float in [0, 1], the share of test tuples whose output has the primary label's sign.

    Examples
    --------
    >>> 0.4 < tuple_accuracy(2, size=14, channels=2, test_size=500) < 0.6  # untrained: chance
    True
    """
    positive_int("test_size", test_size)
    if net is None:
        with repro.seeded(seed):
            net = TupleNet(k, size, channels)
    elif not isinstance(net, TupleNet) or net.k != k:
        raise ValueError(f"net must be a TupleNet with k = {k}, got "
                         f"{f'k = {net.k}' if isinstance(net, TupleNet) else type(net).__name__}")
    device = next(net.parameters()).device
    images, _, primary = (t.to(device) for t in k_tuples(test_size, k, net.size, seed=10_000 + seed))
    return _accuracy(net, images, primary)


def _accuracy(net, images, primary):
    """The share of tuples whose output has the sign of their primary label."""
    with torch.no_grad():
        # in chunks of 500 tuples, whose activations stay in cache: a third faster on a CPU
        outputs = torch.cat([net(images[i:i + 500])[0] for i in range(0, len(images), 500)])
    return float((torch.sign(outputs) == primary).float().mean())


def _approaches(approach):
    """``approach`` as a tuple of distinct approaches: a name, or a non-empty sequence of names."""
    if isinstance(approach, str):
        one_of("approach", approach, APPROACHES)
        return (approach,)
    approaches = tuple(approach) if isinstance(approach, (list, tuple)) else ()
    if not approaches:
        raise ValueError(f"approach must be one of {APPROACHES} or a non-empty list or tuple of them, got "
                         f"{approach!r}")
    for name in approaches:
        one_of("approach", name, APPROACHES)
    if len(set(approaches)) != len(approaches):
        raise ValueError(f"approaches must be distinct, got {approaches}")
    return approaches


def tuple_gradient_snr(k, approach, seed=0, *, net=None, n_tuples=10_000, size=28, channels=16, chunk=1000,
                       groups=20):
    """The per-example SNR of the gradient with respect to the score network's last layer, as in the
    paper's Figure 5, with its standard error.

    The paper measures the gradient of one layer's weights: the last layer of the per-image score
    network. End-to-end's per-example loss is the hinge loss of the primary label; decomposition's
    is the paper's intermediate loss, defined on single images: the hinge loss of the tuple's first
    score on its own label (the paper's code takes the first image too). Both are measured at the
    same weights, on fresh tuples that no training run draws.

    Given several approaches, the tuples pass through the score network once for all of them: the
    features below the last layer do not depend on the loss, so only the backward pass through the
    head is repeated. Each value is the one the approach gets alone.

    Parameters
    ----------
    k : int >= 1, images per tuple.
    approach : "end-to-end" or "decomposition", whose gradient to measure, or a sequence of distinct
        approaches.
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
    With a sequence of approaches: a dict approach -> (snr, stderr).

    Examples
    --------
    >>> snr, stderr = tuple_gradient_snr(1, "decomposition", n_tuples=200, size=14, channels=2, groups=10)
    >>> stderr > 0
    True
    >>> both = tuple_gradient_snr(1, APPROACHES, n_tuples=200, size=14, channels=2, groups=10)
    >>> both["decomposition"] == (snr, stderr)
    True
    """
    approaches = _approaches(approach)
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
    parts = [_last_layer_gradients(net, approaches, images[i:i + chunk], intermediate[i:i + chunk],
                                   primary[i:i + chunk]) for i in range(0, n_tuples, chunk)]
    result = {}
    for name in approaches:
        grads = torch.cat([part[name] for part in parts])
        result[name] = gradient_snr(grads), gradient_snr_stderr(grads, groups)
    return result[approach] if isinstance(approach, str) else result


def _last_layer_gradients(net, approaches, images, intermediate, primary):
    """Per-example gradients (n, 100) of each approach's loss with respect to the score network's
    last weights, as a dict approach -> gradients.

    The score is s = w·φ + b with φ the features below the last layer, so example i's gradient is
    Σ_j (∂ℓ_i/∂s_ij) φ_ij: one forward pass for φ, shared by the approaches, and one backward pass
    through the head per approach, since ℓ_i depends on the scores of tuple i only.
    """
    last = net.score[-1]
    with torch.no_grad():
        features = net.features(images)
        scores = features @ last.weight[0] + last.bias
    grads = {}
    for approach in approaches:
        leaf = scores.detach().requires_grad_()
        if approach == "end-to-end":
            losses = torch.relu(1 - primary * net.head(torch.sigmoid(leaf))[:, 0])
        else:
            losses = torch.relu(1 - intermediate[:, 0] * leaf[:, 0])
        slopes, = torch.autograd.grad(losses.sum(), leaf)
        grads[approach] = torch.einsum("nk,nkh->nh", slopes, features)
    return grads


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
    ref, Z, Y = _stocks_draws(n, market, k, seed)
    return nn.functional.one_hot(ref, len(market)).float(), Z, Y


def _stocks_draws(n, market, k, seed):
    """:func:`stocks_batch` with the references as indices (n,) rather than one-hot rows."""
    g = repro.generator(seed)
    ref = torch.randint(0, len(market), (n,), generator=g)
    concerned = market[ref][:, None]
    Y = torch.zeros(n, k).scatter_(1, concerned, 1.0)                        # one-hot
    # the coin flips drawn straight as floats (the same draws as integers), then +1 where concerned
    Z = torch.randint(0, 2, (n, k), generator=g, dtype=torch.float32).mul_(2).sub_(1).scatter_(1, concerned, 1.0)
    return ref, Z, Y


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

    Given several approaches or step sizes, it trains one policy for each pair of a step size and an
    approach, side by side. Every run starts from the same initialisation and sees the same draws,
    as separate calls with this ``seed`` would; here each batch and the validation set are drawn
    once for all runs. The policy's product with one-hot references is computed as what it equals
    exactly, a gather of the weight columns the references pick, and one optimiser holds every
    run's parameters, with each step size's group of runs stacked in one tensor. Each run takes the
    updates it would take alone, up to float rounding: the order in which a batch's repeated
    references are summed, and the fused Adam kernel's, which rounds by an element's position.

    Parameters
    ----------
    approach : "end-to-end" or "decomposition", or a sequence of distinct approaches.
    iterations : int >= 1.
    d, k : ints >= 1, references and stocks.
    batch_size : int >= 1.
    lr : float > 0, or a sequence of distinct step sizes.
    optimizer : "adam" (betas (0.9, 0.99), eps 1e-5, as the paper's code; the fused kernel) or "sgd".
    seed : int, fixes the market, the initialisation and the draws.
    progress : show a progress bar.

    Returns
    -------
    policy : the trained :class:`StockPolicy`.
    curve : list of (iteration, −E[p·z]), the end-to-end loss both approaches are judged by, on
        5,000 fresh draws, 50 times along the way.
    With a sequence of approaches or of step sizes: a dict (lr, approach) -> (policy, curve) over
    every pair.

    Examples
    --------
    >>> runs = train_stocks(APPROACHES, 20, d=5, k=3, lr=[1.0, 10.0], optimizer="sgd", progress=False)
    >>> sorted(runs) == [(1.0, "decomposition"), (1.0, "end-to-end"), (10.0, "decomposition"), (10.0, "end-to-end")]
    True
    """
    approaches = _approaches(approach)
    single = isinstance(lr, (int, float)) and not isinstance(lr, bool)
    lrs = (lr,) if single else tuple(lr) if isinstance(lr, (list, tuple)) else ()
    if not lrs:
        raise ValueError(f"lr must be a number > 0 or a non-empty list or tuple of them, got {lr!r}")
    for value in lrs:
        nonnegative("lr", value, strict=True)
    if len(set(lrs)) != len(lrs):
        raise ValueError(f"the step sizes must be distinct, got {lrs}")
    positive_int("iterations", iterations)
    positive_int("batch_size", batch_size)
    one_of("optimizer", optimizer, ("adam", "sgd"))
    market = stocks_market(d, k, seed)
    with repro.seeded(seed):
        start = StockPolicy(d, k, init_std=d ** -0.5)
    # one (weight, bias) pair per step size, each stacking the approaches: W transposed, (A, d, k),
    # so that a reference's column of W is a contiguous row, and b, (A, k)
    stacks = [(start.linear.weight.detach().T.expand(len(approaches), d, k).contiguous().requires_grad_(),
               start.linear.bias.detach().expand(len(approaches), k).clone().requires_grad_()) for _ in lrs]
    groups = [{"params": list(stack), "lr": rate} for stack, rate in zip(stacks, lrs)]
    opt = torch.optim.Adam(groups, betas=(0.9, 0.99), eps=1e-5, fused=True) if optimizer == "adam" \
        else torch.optim.SGD(groups)
    end_to_end = torch.tensor([name == "end-to-end" for name in approaches])[:, None, None]
    ref_val, Z_val, _ = _stocks_draws(5000, market, k, seed=seed + 1)
    # −E[p·z] over the validation draws is Σ_j p(e_j)·(Σ of the gains drawn with reference j) / 5000:
    # one portfolio per reference rather than per draw
    gains_val = torch.zeros(d, k).index_add_(0, ref_val, Z_val) / len(ref_val)
    every = max(1, iterations // 50)
    curves = {(rate, name): [] for rate in lrs for name in approaches}
    # gradient buffers kept across steps: a fresh (A, d, k) one at every step costs more than its use;
    # only the rows of the last batch's references are nonzero, and only they are cleared
    for W, b in stacks:
        W.grad, b.grad = torch.zeros_like(W), torch.zeros_like(b)
    ref = torch.zeros(0, dtype=torch.long)
    for step in progress_bar(range(1, iterations + 1), f"stocks, {len(curves)} runs", enabled=progress):
        last = ref
        ref, Z, Y = _stocks_draws(batch_size, market, k, seed=seed * 1_000_003 + step + 1)
        gains = torch.where(end_to_end, Z, Y)                                  # (A, n, k)
        picked = [W.detach().index_select(1, ref).requires_grad_() for W, _ in stacks]   # W's columns ref
        loss = sum(-(torch.softmax(columns + b[:, None, :], -1) * gains).sum(-1).mean(-1)
                   for columns, (_, b) in zip(picked, stacks)).sum()
        grads = torch.autograd.grad(loss, picked + [b for _, b in stacks])
        for (W, b), columns_grad, b_grad in zip(stacks, grads, grads[len(stacks):]):
            W.grad.index_fill_(1, last, 0).index_add_(1, ref, columns_grad)  # index_select's backward
            b.grad.copy_(b_grad)
        opt.step()
        if step % every == 0 or step == iterations:
            with torch.no_grad():
                for (W, b), rate in zip(stacks, lrs):
                    portfolios = torch.softmax(W + b[:, None, :], -1)    # (A, d, k)
                    for name, value in zip(approaches, (-(portfolios * gains_val).sum((1, 2))).tolist()):
                        curves[rate, name].append((step, value))
    runs = {}
    for (W, b), rate in zip(stacks, lrs):
        for i, name in enumerate(approaches):
            policy = copy.deepcopy(start)
            with torch.no_grad():
                policy.linear.weight.copy_(W[i].T)
                policy.linear.bias.copy_(b[i])
            runs[rate, name] = policy, curves[rate, name]
    return runs[lr, approach] if single and isinstance(approach, str) else runs
