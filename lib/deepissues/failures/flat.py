"""Chapter 10, failures: flat activations.

Failure 4 of Shalev-Shwartz, Shamir and Shammah (2017): flat activations.

The target is y = u(w*·x + b*) with u a staircase: u(t) = z_i for z_i <= t < z_{i+1}. A model
ŷ = u(w·x + b) has the right form, but u' = 0 almost everywhere, so the true gradient of any
loss with respect to (w, b) is zero and gradient descent never moves. The remedies the paper
compares:

- ``"non-flat"``: replace each step by a steep sigmoid (still nearly flat, so slow, and
  sensitive to where the bias starts);
- ``"end-to-end"``: regress y with a ReLU network (blurs the jumps);
- ``"multi-class"``: classify the step with a ReLU network (ignores the order of the steps);
- ``"forward-only"``: use u in the forward pass and pass the gradient through it as if it were
  the identity (a straight-through estimator, Bengio et al. 2013). For the square loss this is
  the GLMtron/Isotron update w ← w − η (u(w·x + b) − y) x, which converges (the paper's appendix).
"""

import torch
from torch import nn

from ..checks import nonnegative, one_of, positive_int
from ..progress import progress_bar
from ..training import sample_batches, train_steps
from .. import repro

__all__ = ["STEPS", "METHODS", "staircase", "TrueStaircase", "ForwardOnlyStaircase", "smooth_staircase",
           "staircase_target", "staircase_dataset", "StaircaseModel", "train_staircase", "train_staircases"]

#: breakpoints z_i of the default staircase, relative to b*: wide and narrow steps, as in the paper.
STEPS = (-4.0, -3.0, -2.0, -1.2, -0.5, 0.0, 0.4, 0.6, 0.7, 1.5, 2.5, 4.0)
METHODS = ("true-gradient", "non-flat", "end-to-end", "multi-class", "forward-only")


def staircase(t, steps):
    """u(t) = the largest z in ``steps`` with z <= t (the first step below all of them).

    Parameters
    ----------
    t : tensor of any shape.
    steps : increasing 1-D tensor or sequence of at least 2 breakpoints.

    Returns
    -------
    tensor shaped like t. Its derivative is zero wherever it exists; use :class:`TrueStaircase`
    or :class:`ForwardOnlyStaircase` to differentiate through it.

    Examples
    --------
    >>> staircase(torch.tensor([-5.0, 0.5, 3.0]), [0.0, 1.0, 2.0]).tolist()
    [0.0, 0.0, 2.0]
    """
    return _floor(t, _as_steps(steps, t))


class TrueStaircase(torch.autograd.Function):
    """u(t) with its true derivative, 0 (the staircase is flat wherever it is differentiable)."""

    @staticmethod
    def forward(ctx, t, steps):
        return staircase(t, steps)

    @staticmethod
    def backward(ctx, grad_out):
        return torch.zeros_like(grad_out), None


class ForwardOnlyStaircase(TrueStaircase):
    """u(t) forward, the identity backward: the paper's "forward-only" update (straight-through)."""

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out, None


def smooth_staircase(t, steps, sharpness=5.0, L=10.0):
    """The paper's non-flat approximation: z_0 + Σ_i Δz_i σ(sharpness (t − m_i) L / Δz_i), with
    each sigmoid centred at m_i = z_{i+1} − Δz_i / (2L), just below its step.

    Parameters
    ----------
    t : tensor of any shape.
    steps : increasing 1-D tensor or sequence of breakpoints.
    sharpness : float > 0.
    L : float > 0.

    Returns
    -------
    tensor shaped like t.
    """
    nonnegative("sharpness", sharpness, strict=True)
    nonnegative("L", L, strict=True)
    z = _as_steps(steps, t)
    dz = z[1:] - z[:-1]
    centre = z[1:] - dz / (2 * L)
    return z[0] + (dz * torch.sigmoid(sharpness * (t[..., None] - centre) * L / dz)).sum(-1)


def staircase_target(d=100, seed=0, steps=STEPS):
    """A random target (w*, b*, z): w* ~ N(0, I_d), b* ~ N(0, 1), z = b* + steps.

    Parameters
    ----------
    d : int >= 1, the input dimension.
    seed : int.
    steps : increasing sequence, the staircase's breakpoints before the shift by b*.

    Returns
    -------
    w : (d,) tensor; b : float tensor; z : (K,) tensor.
    """
    positive_int("d", d)
    g = repro.generator(seed)
    w, b = torch.randn(d, generator=g), torch.randn(1, generator=g)
    return w, b, b + torch.as_tensor(steps, dtype=torch.float32)


def staircase_dataset(n, target, seed=0):
    """Points x ~ N(0, I_d / d) (so w*·x is about N(0, 1)) and labels y = u(w*·x + b*).

    Parameters
    ----------
    n : int >= 1, the number of points.
    target : (w*, b*, z) from :func:`staircase_target`.
    seed : int.

    Returns
    -------
    X : (n, d) tensor.
    y : (n,) tensor.
    t : (n,) tensor, the pre-activations w*·x + b*.
    """
    positive_int("n", n)
    w, b, z = target
    g = repro.generator(seed)
    X = torch.randn(n, len(w), generator=g) / len(w) ** 0.5
    t = X @ w + b
    return X, staircase(t, z), t


class StaircaseModel(nn.Module):
    """The model each method trains; ``forward`` returns the training output, ``predict`` ŷ.

    - true-gradient, non-flat, forward-only: a linear unit w·x + b followed by the staircase
      (true derivative, sigmoid approximation, identity backward);
    - end-to-end: a ReLU network d→100→100→100→1;
    - multi-class: a ReLU network d→100→100→K, one class a step, predicting z of the argmax.

    Parameters
    ----------
    method : one of :data:`METHODS`.
    d : int >= 1, the input dimension.
    steps : (K,) increasing tensor, the staircase's values z.
    bias_init : float, the linear unit's initial bias (to start on a flat stretch).
    """

    def __init__(self, method, d, steps, bias_init=0.0):
        super().__init__()
        one_of("method", method, METHODS)
        self.method = method
        self.register_buffer("z", torch.as_tensor(steps, dtype=torch.float32))
        if method == "end-to-end":
            self.net = _mlp(d, 1, 3)
        elif method == "multi-class":
            self.net = _mlp(d, len(self.z), 2)
        else:
            self.net = nn.Linear(d, 1)
            nn.init.trunc_normal_(self.net.weight, std=d ** -0.5, a=-2 * d ** -0.5, b=2 * d ** -0.5)
            nn.init.constant_(self.net.bias, bias_init)

    def forward(self, X):
        out = self.net(X)
        if self.method == "multi-class":
            return out
        t = out[:, 0]
        if self.method == "true-gradient":
            return TrueStaircase.apply(t, self.z)
        if self.method == "forward-only":
            return ForwardOnlyStaircase.apply(t, self.z)
        return smooth_staircase(t, self.z) if self.method == "non-flat" else t

    @torch.no_grad()
    def predict(self, X):
        out = self(X)
        if self.method == "multi-class":
            return self.z[out.argmax(1)]
        return staircase(self.net(X)[:, 0], self.z) if self.method == "non-flat" else out


def train_staircase(method, iterations, target=None, lr=None, batch_size=256, bias_init=0.0, seed=0, progress=True,
                    schedule="cosine", n_train=None):
    """Train one method on the staircase problem with Adam: on fresh batches (the paper's setup), or
    on a fixed training sample to measure what each method needs in samples.

    Parameters
    ----------
    method : one of :data:`METHODS`.
    iterations : int >= 1.
    target : (w*, b*, z) or None (:func:`staircase_target` with d = 100).
    lr : float > 0 or None: 0.01 for non-flat (the paper's); otherwise 1e-3 with the constant
        schedule (the paper's) and 3e-3 with the cosine one (the book's).
    batch_size : int >= 1.
    bias_init : float, the linear unit's initial bias.
    seed : int, fixes the initialisation and the batches.
    progress : show a progress bar.
    schedule : "cosine" (the rate decays to zero, the book's) or "constant" (the paper's).
    n_train : int >= 1 or None. With None every batch is fresh; otherwise the batches cycle over
        one fixed sample of ``n_train`` points, in a new order each pass.

    Returns
    -------
    model : the trained :class:`StaircaseModel`.
    curve : list of (iteration, validation mean squared error of ``model.predict``) on 2,000
        held-out points, recorded after the first step and 50 times along the way.

    Notes
    -----
    Adam has the paper's betas (0.9, 0.99) and eps 1e-5; it runs PyTorch's multi-tensor
    (``foreach``) implementation, the same update as the loop over tensors, faster on the CPU.
    """
    positive_int("iterations", iterations)
    positive_int("batch_size", batch_size)
    one_of("schedule", schedule, ("cosine", "constant"))
    target = staircase_target() if target is None else target
    if lr is None:
        lr = 0.01 if method == "non-flat" else (3e-3 if schedule == "cosine" else 1e-3)
    else:
        nonnegative("lr", lr, strict=True)
    with repro.seeded(seed):
        model = StaircaseModel(method, len(target[0]), target[2], bias_init)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-5, foreach=True)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iterations) if schedule == "cosine" else None
    X_val, y_val, _ = staircase_dataset(2000, target, seed=seed + 1)
    g = repro.generator(seed + 2)
    w_star, b_star = target[0], target[1]
    z = _as_steps(target[2], w_star)  # checked once; the batches below floor onto it directly

    def fresh_batch(step):
        X = torch.randn(batch_size, len(w_star), generator=g) / len(w_star) ** 0.5
        return X, _floor(X @ w_star + b_star, z)

    if n_train is not None:
        positive_int("n_train", n_train)
        X_train, y_train, _ = staircase_dataset(n_train, target, seed=seed + 3)
        fresh_batch = sample_batches((X_train, y_train), min(batch_size, n_train), seed=seed + 2)

    curve = train_steps(model, lambda net, batch: _loss(net, *batch), fresh_batch, iterations, opt, scheduler=decay,
                        record=lambda net: (net.predict(X_val) - y_val).pow(2).mean(), record_first=True,
                        progress=progress, description=f"staircase {method}")
    return model, curve


def train_staircases(runs, iterations, target=None, batch_size=256, seed=0, progress=True, schedule="cosine"):
    """Train several runs of :func:`train_staircase` side by side, in one loop.

    Each run is the run that :func:`train_staircase` trains with the same arguments, bit for bit:
    the same initialisation, the same batches, the same Adam updates, the same curve. The runs
    share what costs the most for such small models: the loop, the draw of each fresh batch,
    one backward pass (each run's loss depends on its own parameters only, so the gradient of
    their sum is each run's own gradient) and one Adam step for each learning rate and budget
    (Adam's update is elementwise, so it does not depend on which parameters it steps together).

    Parameters
    ----------
    runs : sequence of R dicts, one per run. Each has the key ``"method"`` (one of
        :data:`METHODS`) and may have ``"bias_init"``, ``"n_train"`` and ``"lr"``, the arguments of
        :func:`train_staircase`.
    iterations : int >= 1, the number of steps of every run, or a sequence of R of them.
    target : (w*, b*, z) or None (:func:`staircase_target` with d = 100).
    batch_size : int >= 1.
    seed : int, fixes the initialisation and the batches of every run, as in :func:`train_staircase`.
    progress : show a progress bar.
    schedule : "cosine" (the book's) or "constant" (the paper's), as in :func:`train_staircase`.

    Returns
    -------
    list of R (model, curve) pairs, in the order of ``runs``: what :func:`train_staircase` returns
    for each run.

    Examples
    --------
    >>> target = staircase_target(d=10)
    >>> runs = [{"method": "forward-only"}, {"method": "non-flat", "bias_init": -3.0}]
    >>> (_, fo_curve), (_, nf_curve) = train_staircases(runs, 20, target=target, progress=False)
    >>> train_staircase("non-flat", 20, target=target, bias_init=-3.0, progress=False)[1] == nf_curve
    True
    """
    if not isinstance(runs, (list, tuple)) or not runs:
        raise ValueError(f"runs must be a non-empty list of dicts, got {runs!r}")
    keys = {"method", "bias_init", "n_train", "lr"}
    for run in runs:
        if not isinstance(run, dict) or "method" not in run or set(run) - keys:
            raise ValueError(f"each run must be a dict with the key 'method' and optionally 'bias_init', 'n_train' "
                             f"and 'lr', got {run!r}")
        one_of("method", run["method"], METHODS)
    budgets = list(iterations) if isinstance(iterations, (list, tuple)) else [iterations] * len(runs)
    if len(budgets) != len(runs):
        raise ValueError(f"iterations must be an int or a sequence of one per run ({len(runs)}), got {len(budgets)}")
    for n in budgets:
        positive_int("iterations", n)
    positive_int("batch_size", batch_size)
    one_of("schedule", schedule, ("cosine", "constant"))
    target = staircase_target() if target is None else target
    w_star, b_star = target[0], target[1]
    z = _as_steps(target[2], w_star)
    X_val, y_val, _ = staircase_dataset(2000, target, seed=seed + 1)
    g = repro.generator(seed + 2)

    models, samples, groups = [], [], {}
    for run, n in zip(runs, budgets):
        lr = run.get("lr")
        if lr is None:
            lr = 0.01 if run["method"] == "non-flat" else (3e-3 if schedule == "cosine" else 1e-3)
        else:
            nonnegative("lr", lr, strict=True)
        with repro.seeded(seed):
            models.append(StaircaseModel(run["method"], len(w_star), target[2], run.get("bias_init", 0.0)))
        groups.setdefault((lr, n), []).extend(models[-1].parameters())
        if run.get("n_train") is None:
            samples.append(None)  # fresh batches, shared by every such run
        else:
            m = positive_int("n_train", run["n_train"])
            X_train, y_train, _ = staircase_dataset(m, target, seed=seed + 3)
            # the rows train_staircase's batches take, gathered with index_select (the same values)
            rows = sample_batches(torch.arange(m), min(batch_size, m), seed=seed + 2)
            samples.append((X_train, y_train, rows))
    steppers = []
    for (lr, n), params in groups.items():
        opt = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.99), eps=1e-5, foreach=True)
        decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n) if schedule == "cosine" else None
        steppers.append((n, opt, decay))

    def batch(i, step, fresh):
        if samples[i] is None:
            return fresh
        X_train, y_train, rows = samples[i]
        index = rows(step)
        return X_train.index_select(0, index), y_train.index_select(0, index)

    curves = [[] for _ in runs]
    for model in models:
        model.train()
    for step in progress_bar(range(1, max(budgets) + 1), "staircases", enabled=progress):
        active = [i for i, n in enumerate(budgets) if step <= n]
        fresh = None
        if any(samples[i] is None for i in active):
            X = torch.randn(batch_size, len(w_star), generator=g) / len(w_star) ** 0.5
            fresh = X, _floor(X @ w_star + b_star, z)
        total = sum(_loss(models[i], *batch(i, step, fresh)) for i in active)
        live = [(opt, decay) for n, opt, decay in steppers if step <= n]
        for opt, _ in live:
            opt.zero_grad()
        total.backward()
        for opt, decay in live:
            opt.step()
            if decay is not None:
                decay.step()
        with torch.no_grad():
            for i in active:
                if step % max(1, budgets[i] // 50) == 0 or step == budgets[i] or step == 1:
                    curves[i].append((step, float((models[i].predict(X_val) - y_val).pow(2).mean())))
    return list(zip(models, curves))


def _loss(model, X, y):
    out = model(X)
    if model.method == "multi-class":
        label = (torch.bucketize(y, model.z, right=True) - 1).clamp_min(0)
        return nn.functional.cross_entropy(out, label)
    return (out - y).pow(2).mean()


def _mlp(d, out, hidden_layers):
    layers, width = [], d
    for _ in range(hidden_layers):
        layers += [nn.Linear(width, 100), nn.ReLU()]
        width = 100
    return nn.Sequential(*layers, nn.Linear(width, out))


def _floor(t, z):
    """u(t) for checked breakpoints z (see :func:`staircase`)."""
    return z[(torch.bucketize(t.detach(), z, right=True) - 1).clamp_min(0)]


def _as_steps(steps, like):
    z = torch.as_tensor(steps, dtype=like.dtype, device=like.device)
    if z.dim() != 1 or len(z) < 2 or not bool((z[1:] > z[:-1]).all()):
        raise ValueError(f"steps must be a strictly increasing 1-D sequence of at least 2 breakpoints, got {z.tolist()}")
    return z
