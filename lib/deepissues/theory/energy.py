"""Chapter 13, the energy landscape.

The energy landscape seen at a scale: local entropy, Entropy-SGD (Chaudhari et al. 2017) and
measures of flatness.

The local entropy of a loss f at x, at inverse temperature β and scope γ, is

    F(x; γ) = log ∫ exp(−β f(x') − β γ/2 ‖x − x'‖²) dx' − (d/2) log(2π / (βγ))
            = log E_{x' ~ N(x, I/(βγ))} exp(−β f(x')),

normalised here so that a flat loss f ≡ 0 has F = 0. −F/β is a smoothed loss: a wide valley keeps
it low, a sharp one does not, even if the sharp one is deeper. Its gradient is
∇F = −βγ (x − ⟨x'⟩), the mean taken under the Gibbs measure ∝ exp(−β f(x') − βγ/2‖x − x'‖²),
which Entropy-SGD estimates with a few steps of stochastic-gradient Langevin dynamics.
"""

import math

import torch

from ..checks import nonnegative, one_of, positive_int, xy_pair
from ..curvature import Hessian
from ..progress import progress_bar
from .. import repro

__all__ = ["EntropySGD", "local_entropy", "sharpness", "flat_loss", "double_well", "double_well_finals",
           "landscape_finals", "sharp_and_wide", "fit_entropy_sgd", "flatness"]


class EntropySGD(torch.optim.Optimizer):
    """Entropy-SGD, Algorithm 1 of Chaudhari et al. (2017), in the ``torch.optim`` style.

    Each ``step(closure)`` runs ``langevin_steps`` steps of SGLD on x' from x,

        x' ← x' − η' (∇f(x') − γ (x − x')) + √η' · noise · N(0, I),     μ ← (1 − α) μ + α x',

    each calling ``closure`` (which should draw a fresh minibatch, zero the gradients, compute the
    loss at the current parameters, call backward and return it), then moves the weights back to x
    and takes the local-entropy step x ← x − lr (x − μ), along ∇F/(βγ). The scope grows as
    γ_t = gamma (1 + scoping)^t with the number t of steps taken ("γ scoping").

    The outer step follows the authors' code: the paper writes x ← x − η γ (x − μ), and the code
    folds γ into the learning rate, so that lr = 1 moves x to μ whatever the scope. Unlike their
    code, there is no momentum or weight decay (add a penalty to the loss instead).

    Parameters
    ----------
    params : iterable of parameters or parameter groups.
    lr : float > 0, the outer learning rate η.
    gamma : float > 0, the initial scope γ_0.
    scoping : float >= 0, γ_1, the scope's growth per step.
    langevin_steps : int >= 1, the inner steps L.
    langevin_lr : float > 0, the inner step η'.
    noise : float >= 0, ε, the thermal noise (SGLD samples the Gibbs measure at temperature ε²/2).
    alpha : float in (0, 1], the weight of the newest x' in the running mean μ.
    generator : optional ``torch.Generator`` on the parameters' device for the Langevin noise;
        by default the global one, as ``torch.optim`` does.

    Examples
    --------
    >>> w = torch.zeros(2, requires_grad=True)
    >>> opt = EntropySGD([w], lr=1.0, gamma=0.03, noise=0.0)
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = ((w - 1) ** 2).sum()
    ...     loss.backward()
    ...     return loss
    >>> first = opt.step(closure)
    >>> bool(0 < w[0] < 1)   # a step towards the minimum at 1
    True
    """

    def __init__(self, params, lr=1.0, gamma=0.03, scoping=1e-3, langevin_steps=20, langevin_lr=0.1,
                 noise=1e-4, alpha=0.75, generator=None):
        nonnegative("lr", lr, strict=True)
        nonnegative("gamma", gamma, strict=True)
        nonnegative("scoping", scoping)
        positive_int("langevin_steps", langevin_steps)
        nonnegative("langevin_lr", langevin_lr, strict=True)
        nonnegative("noise", noise)
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        self.generator = generator
        super().__init__(params, dict(lr=lr, gamma=gamma, scoping=scoping, langevin_steps=langevin_steps,
                                      langevin_lr=langevin_lr, noise=noise, alpha=alpha))

    @torch.no_grad()
    def step(self, closure=None):
        """One outer step; returns the mean of the losses the closure returned."""
        if closure is None:
            raise ValueError("EntropySGD needs a closure that recomputes the loss: step(closure)")
        losses = []
        for group in self.param_groups:
            params = [p for p in group["params"] if p.requires_grad]
            state = self.state[params[0]] if params else {}
            gamma = group["gamma"] * (1 + group["scoping"]) ** state.get("t", 0)
            anchors = [p.detach().clone() for p in params]
            means = [p.detach().clone() for p in params]
            for _ in range(group["langevin_steps"]):
                with torch.enable_grad():
                    losses.append(float(closure().detach()))
                for p, x, mu in zip(params, anchors, means):
                    drift = (p.grad if p.grad is not None else torch.zeros_like(p)) - gamma * (x - p)
                    p.add_(drift, alpha=-group["langevin_lr"])
                    noise = torch.randn(p.shape, generator=self.generator, device=p.device, dtype=p.dtype)
                    p.add_(noise, alpha=math.sqrt(group["langevin_lr"]) * group["noise"])
                    mu.mul_(1 - group["alpha"]).add_(p, alpha=group["alpha"])
            for p, x, mu in zip(params, anchors, means):
                p.copy_(x - group["lr"] * (x - mu))
            if params:
                state["t"] = state.get("t", 0) + 1
        return sum(losses) / len(losses) if losses else None


def local_entropy(loss, x, gamma, beta=1.0, samples=4096, seed=0):
    """Monte Carlo estimate of the normalised local entropy F(x; γ) = log E exp(−β f(x')),
    x' ~ N(x, I / (βγ)).

    Parameters
    ----------
    loss : callable taking a (S, d) tensor of points to their (S,) losses.
    x : (d,) tensor.
    gamma : float > 0, the scope.
    beta : float > 0, the inverse temperature.
    samples : int >= 2.
    seed : int, fixes the draws.

    Returns
    -------
    F : float.
    standard_error : float, the delta-method one, from the spread of the weights exp(−β f).
    """
    x = _point(x)
    nonnegative("gamma", gamma, strict=True)
    nonnegative("beta", beta, strict=True)
    positive_int("samples", samples, least=2)
    generator = repro.generator(seed)
    points = x + torch.randn(samples, len(x), generator=generator, dtype=x.dtype) / math.sqrt(beta * gamma)
    with torch.no_grad():
        values = torch.as_tensor(loss(points), dtype=torch.float64).reshape(-1)
    if len(values) != samples:
        raise ValueError(f"loss must map (S, d) points to (S,) losses, got {len(values)} values for S={samples}")
    log_weights = -beta * values
    estimate = torch.logsumexp(log_weights, 0) - math.log(samples)
    weights = torch.exp(log_weights - log_weights.max())
    standard_error = weights.std() / (weights.mean() * math.sqrt(samples))
    return float(estimate), float(standard_error)


def sharpness(loss, x, radius, steps=50, restarts=4, seed=0):
    """The largest rise of the loss on a Euclidean ball, max_{‖δ‖ ≤ radius} f(x + δ) − f(x), found by
    projected gradient ascent from random starts (a lower bound: every value is one the loss
    takes), as in Keskar et al. (2017) but with an L2 ball.

    Parameters
    ----------
    loss : callable taking a (d,) tensor to a scalar tensor (differentiable).
    x : (d,) tensor.
    radius : float > 0.
    steps : int >= 1, ascent steps per start.
    restarts : int >= 1, random starts.
    seed : int, fixes the starts.

    Returns
    -------
    float.

    Examples
    --------
    >>> round(sharpness(lambda z: (z ** 2).sum(), torch.zeros(3), 0.5), 3)   # the bowl rises by r²
    0.25
    """
    x = _point(x)
    nonnegative("radius", radius, strict=True)
    positive_int("steps", steps)
    positive_int("restarts", restarts)
    generator = repro.generator(seed)
    base = float(loss(x))
    best = 0.0
    for _ in range(restarts):
        delta = torch.randn(len(x), generator=generator, dtype=x.dtype)
        delta *= radius / delta.norm()
        for _ in range(steps):
            delta.requires_grad_(True)
            grad, = torch.autograd.grad(loss(x + delta), delta)
            with torch.no_grad():
                delta = delta + radius * grad / grad.norm().clamp_min(1e-30)
                delta *= (radius / delta.norm()).clamp(max=1.0)
        with torch.no_grad():
            best = max(best, float(loss(x + delta)) - base)
    return best


def flat_loss(model, loss_fn, data):
    """The training loss as a function of a flat parameter vector, for :func:`local_entropy` and
    :func:`sharpness`. The model is not changed.

    Parameters
    ----------
    model : nn.Module.
    loss_fn : callable(outputs, targets) -> scalar tensor.
    data : (x, y).

    Returns
    -------
    loss_at : callable taking (d,) or (S, d) vectors to their losses.
    x0 : (d,) float64 tensor, the model's current parameters, flattened.
    """
    x, y = xy_pair("data", data)
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    x0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double()

    def one(vector):
        parts = torch.split(vector.to(x.dtype), [math.prod(s) for s in shapes])
        params = {n: part.reshape(s) for n, part, s in zip(names, parts, shapes)}
        return loss_fn(torch.func.functional_call(model, params, (x,)), y)

    def loss_at(vectors):
        if vectors.dim() == 1:
            return one(vectors)
        return torch.stack([one(v) for v in vectors])

    return loss_at, x0


def _point(x):
    x = torch.as_tensor(x)
    if x.dim() != 1 or len(x) == 0:
        raise ValueError(f"x must be a (d,) vector, got shape {tuple(x.shape)}")
    return x.double() if not x.is_floating_point() else x


def double_well(x, sharp=(-1.0, 0.3, 1.2), wide=(2.0, 1.5, 1.0)):
    """A 1-D loss with a sharp, deeper minimum and a wide, shallower one: minus the sum of two
    Gaussian bumps. Works elementwise on tensors.

    Parameters
    ----------
    x : tensor of positions.
    sharp, wide : (centre, width, depth) of each bump, width > 0.

    Returns
    -------
    tensor shaped like x.
    """
    for name, well in (("sharp", sharp), ("wide", wide)):
        if len(well) != 3 or not well[1] > 0:
            raise ValueError(f"{name} must be (centre, width, depth) with width > 0, got {tuple(well)!r}")
    bump = lambda c, w, h: h * torch.exp(-(x - c) ** 2 / (2 * w ** 2))
    return -bump(*sharp) - bump(*wide)


def double_well_finals(method, start, trials=200, rounds=50, langevin_steps=20, lr=0.05, noise=1e-4,
                       gradient_noise=1.0, seed=0, outer_lr=1.0, **entropy_sgd):
    """Where ``trials`` independent runs on :func:`double_well` end, all from ``start``: the 1-D case
    of :func:`landscape_finals`.

    Parameters
    ----------
    method : "sgd", "langevin" or "entropy-sgd".
    start : float, the starting position.
    trials, rounds, langevin_steps : ints >= 1.
    lr : float > 0, the step of SGD and Langevin dynamics, and Entropy-SGD's inner Langevin step.
    noise : float >= 0, the thermal noise.
    gradient_noise : float >= 0, the minibatch-like noise on every gradient.
    seed : int.
    outer_lr : float > 0, Entropy-SGD's outer step (1 moves x to the running mean μ).
    **entropy_sgd : passed to :class:`EntropySGD` (gamma, scoping, alpha).

    Returns
    -------
    (trials,) float64 tensor of final positions.
    """
    return landscape_finals(method, double_well, float(start), trials, rounds, langevin_steps, lr, noise,
                            gradient_noise, seed, outer_lr=outer_lr, **entropy_sgd)


def landscape_finals(method, loss, start, trials=200, rounds=50, langevin_steps=20, lr=0.05, noise=1e-4,
                     gradient_noise=1.0, seed=0, outer_lr=1.0, **entropy_sgd):
    """Where ``trials`` independent runs on a loss end, all from ``start``, with the same number
    (rounds × langevin_steps) of noisy gradients each.

    Parameters
    ----------
    method : "sgd" (step ``lr``), "langevin" (SGD plus the same thermal noise as Entropy-SGD's
        inner loop, √lr · noise · N(0, I)), "entropy-sgd" (:class:`EntropySGD` with the inner
        step langevin_lr=lr, the outer step lr=outer_lr, the thermal ``noise`` and the keyword
        arguments ``entropy_sgd``) or "local-entropy" (1-D losses only: Entropy-SGD's outer loop
        with the exact mean of the Gibbs measure, by quadrature, in place of the chain's
        estimate, at the chain's temperature noise²/2; deterministic, so every run ends alike;
        it takes gamma and scoping from ``entropy_sgd`` and ignores lr, langevin_steps and
        gradient_noise).
    loss : callable mapping positions (trials, *shape) to one loss per run, (trials,); a 1-D loss
        such as :func:`double_well` works elementwise on (trials,).
    start : float or tensor of shape ``shape``, the starting position.
    trials : int >= 1.
    rounds : int >= 1, outer steps.
    langevin_steps : int >= 1, gradients per outer step.
    lr : float > 0, the step of SGD and Langevin dynamics, and Entropy-SGD's inner Langevin step.
    noise : float >= 0, the thermal noise.
    gradient_noise : float >= 0; every gradient coordinate gets gradient_noise · N(0, 1) · x added,
        as a minibatch would.
    seed : int.
    outer_lr : float > 0, Entropy-SGD's outer step x ← x − outer_lr (x − μ); 1 (the default, as in
        the authors' code) moves x to the running mean μ of the inner chain. Unused by the others.
    **entropy_sgd : passed to :class:`EntropySGD` (gamma, scoping, alpha); its steps are set by
        ``lr`` and ``outer_lr``.

    Returns
    -------
    (trials, *shape) float64 tensor of final positions.

    Examples
    --------
    >>> bowl = lambda x: 0.5 * (x ** 2).sum(-1)
    >>> finals = landscape_finals("sgd", bowl, torch.ones(3), trials=4, gradient_noise=0.0)
    >>> finals.shape, bool(finals.abs().max() < 1e-4)
    (torch.Size([4, 3]), True)
    """
    one_of("method", method, ("sgd", "langevin", "entropy-sgd", "local-entropy"))
    if not callable(loss):
        raise TypeError(f"loss must be a callable, got {type(loss).__name__}")
    positive_int("trials", trials)
    positive_int("rounds", rounds)
    nonnegative("gradient_noise", gradient_noise)
    nonnegative("outer_lr", outer_lr, strict=True)
    for name in ("lr", "langevin_lr", "langevin_steps", "noise"):
        if name in entropy_sgd:
            raise TypeError(f"set Entropy-SGD's {name} through landscape_finals' own arguments "
                            f"(lr is the inner step, outer_lr the outer one), not through "
                            f"**entropy_sgd")
    start = torch.as_tensor(start, dtype=torch.float64)
    if method == "local-entropy":
        if start.dim() != 0:
            raise ValueError(f"method 'local-entropy' works on 1-D losses: start must be a float, "
                             f"got shape {tuple(start.shape)}")
        return _local_entropy_descent(loss, start.expand(trials).clone(), rounds, outer_lr,
                                      noise=noise, **entropy_sgd)
    with repro.seeded(seed):
        x = start.expand(trials, *start.shape).clone().requires_grad_(True)
        if method == "entropy-sgd":
            optimiser = EntropySGD([x], lr=outer_lr, langevin_steps=langevin_steps, langevin_lr=lr,
                                   noise=noise, **entropy_sgd)
        else:
            optimiser = None  # plain steps below: what torch.optim.SGD does, without its overhead

        def closure():  # the runs are independent: each row of x is one run
            x.grad = None
            total = loss(x).sum() + gradient_noise * (torch.randn(x.shape, dtype=torch.float64) * x).sum()
            total.backward()
            return total

        for _ in range(rounds if method == "entropy-sgd" else rounds * langevin_steps):
            if method == "entropy-sgd":
                optimiser.step(closure)
            else:
                closure()
                with torch.no_grad():
                    x.add_(x.grad, alpha=-lr)
            if method == "langevin":
                with torch.no_grad():
                    x.add_(torch.randn(x.shape, dtype=torch.float64), alpha=math.sqrt(lr) * noise)
    return x.detach()


def _gibbs_mean(loss, x, gamma, beta=1.0, grid=None):
    """The mean ⟨x'⟩ of the Gibbs measure ∝ exp(−β f(x') − βγ/2 (x − x')²) of a 1-D loss, by
    quadrature on a grid: the quantity whose estimate drives Entropy-SGD, ∇F = −βγ (x − ⟨x'⟩).

    Parameters
    ----------
    loss : callable, a 1-D loss working elementwise on tensors (such as :func:`double_well`).
    x : (n,) tensor or float, the anchors.
    gamma : float > 0, the scope.
    beta : float > 0, the inverse temperature.
    grid : optional (m,) tensor of equally spaced x'; default 4001 points on [−10, 10].

    Returns
    -------
    (n,) float64 tensor.

    Examples
    --------
    >>> bowl = lambda z: 2.0 * z ** 2            # h = 4: the mean is γ x / (h + γ)
    >>> round(float(_gibbs_mean(bowl, 1.0, gamma=1.0)[0]), 4)
    0.2
    """
    nonnegative("gamma", gamma, strict=True)
    nonnegative("beta", beta, strict=True)
    x = torch.as_tensor(x, dtype=torch.float64).reshape(-1)
    if grid is None:
        grid = torch.linspace(-10, 10, 4001, dtype=torch.float64)
    grid = grid.double().reshape(-1)
    log_weights = -beta * loss(grid)[None, :] - beta * gamma / 2 * (x[:, None] - grid[None, :]) ** 2
    weights = torch.softmax(log_weights, dim=1)
    return (weights * grid).sum(1)


def _local_entropy_descent(loss, start, rounds=50, outer_lr=1.0, gamma=0.03, scoping=1e-3,
                           noise=1.0, grid=None):
    """Entropy-SGD's outer loop on a 1-D loss with the exact Gibbs mean (:func:`_gibbs_mean`) in
    place of the Langevin chain's estimate: x ← x − outer_lr (x − ⟨x'⟩), with the scope
    γ_t = gamma (1 + scoping)^t and the temperature noise²/2 of :class:`EntropySGD`'s chain
    (β = 2 / noise²). It shows where descent on the local entropy itself goes.

    Parameters
    ----------
    loss : callable, a 1-D loss working elementwise on tensors.
    start : float or (n,) tensor.
    rounds : int >= 1.
    outer_lr : float > 0.
    gamma : float > 0.
    scoping : float >= 0.
    noise : float > 0, the thermal noise ε of the chain it replaces.
    grid : optional (m,) tensor, as in :func:`_gibbs_mean`.

    Returns
    -------
    (n,) float64 tensor of final positions.
    """
    positive_int("rounds", rounds)
    nonnegative("outer_lr", outer_lr, strict=True)
    nonnegative("scoping", scoping)
    nonnegative("noise", noise, strict=True)
    x = torch.as_tensor(start, dtype=torch.float64).reshape(-1).clone()
    for t in range(rounds):
        mean = _gibbs_mean(loss, x, gamma * (1 + scoping) ** t, 2 / noise ** 2, grid)
        x = x - outer_lr * (x - mean)
    return x


def sharp_and_wide(x, sharp_centre, sharp_width=0.3, sharp_depth=2.0, curvature=0.05):
    """A d-dimensional loss with a wide valley and a sharp, deeper well off its floor:
    ½ q ‖x‖² − h exp(−‖x − c‖² / (2 w²)).

    Parameters
    ----------
    x : (..., d) tensor of positions.
    sharp_centre : (d,) tensor c, the sharp well's centre.
    sharp_width : float > 0, w.
    sharp_depth : float > 0, h.
    curvature : float > 0, q, the wide valley's curvature (its minimum, 0, is at the origin).

    Returns
    -------
    tensor of shape x.shape[:-1].

    Examples
    --------
    >>> c = torch.tensor([2.0, 0.0])
    >>> float(sharp_and_wide(c, c)) < float(sharp_and_wide(torch.zeros(2), c))  # the sharp well is deeper
    True
    """
    for name, value in (("sharp_width", sharp_width), ("sharp_depth", sharp_depth), ("curvature", curvature)):
        nonnegative(name, value, strict=True)
    centre = torch.as_tensor(sharp_centre, dtype=x.dtype)
    if centre.shape != x.shape[-1:]:
        raise ValueError(f"sharp_centre must have shape {tuple(x.shape[-1:])}, got {tuple(centre.shape)}")
    bowl = 0.5 * curvature * (x ** 2).sum(-1)
    return bowl - sharp_depth * torch.exp(-((x - centre) ** 2).sum(-1) / (2 * sharp_width ** 2))


def fit_entropy_sgd(model, x, y, rounds, batch_size=32, loss_fn=torch.nn.functional.cross_entropy, seed=0,
                    progress=True, stop=None, **entropy_sgd):
    """Train ``model`` with :class:`EntropySGD` for at most ``rounds`` outer steps; every inner step
    draws a fresh random minibatch from (x, y).

    Parameters
    ----------
    model : nn.Module.
    x : (N, ...) inputs.
    y : (N,) targets.
    rounds : int >= 1.
    batch_size : int >= 1.
    loss_fn : callable(outputs, targets) -> scalar tensor.
    seed : int, fixes the minibatches and the Langevin noise.
    progress : show a progress bar.
    stop : optional callable(model) -> bool, asked after every round, as in ``training.fit``.
    **entropy_sgd : passed to :class:`EntropySGD`.

    Returns
    -------
    list of floats, the mean inner loss of each round run.
    """
    positive_int("rounds", rounds)
    positive_int("batch_size", batch_size)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must hold the same positive number of examples, got {len(x)} and {len(y)}")
    generator = repro.generator(seed)  # minibatches and Langevin noise from seeds, not the global stream
    device = next(model.parameters()).device
    optimiser = EntropySGD(model.parameters(), generator=repro.generator(seed + 1, device=device), **entropy_sgd)

    def closure():
        batch = torch.randint(len(x), (batch_size,), generator=generator)
        optimiser.zero_grad()
        loss = loss_fn(model(x[batch]), y[batch])
        loss.backward()
        return loss

    model.train()
    losses = []
    for _ in progress_bar(range(rounds), "Entropy-SGD", enabled=progress):
        losses.append(optimiser.step(closure))
        if stop is not None and stop(model):
            break
    return losses


def flatness(model, loss_fn, data, gamma=100.0, radius=0.5, seed=0):
    """Four measures of how flat the loss is at the model's parameters: the top Hessian eigenvalue
    and the Hessian trace (``curvature.Hessian``), the sharpness on an L2 ball of ``radius`` and
    the local entropy at scope ``gamma`` (β = 1).

    Parameters
    ----------
    model : nn.Module.
    loss_fn : callable(outputs, targets) -> scalar tensor.
    data : (x, y).
    gamma : float > 0.
    radius : float > 0.
    seed : int.

    Returns
    -------
    dict of floats: "top eigenvalue", "trace", "sharpness", "local entropy".
    """
    hessian = Hessian(model, loss_fn, data)
    loss_at, x0 = flat_loss(model, loss_fn, data)
    return {"top eigenvalue": float(hessian.eigenvalues(top_n=1, seed=seed)[0][0]),
            "trace": hessian.trace(probes=50, seed=seed)[0],
            "sharpness": sharpness(loss_at, x0, radius, steps=20, restarts=2, seed=seed),
            "local entropy": local_entropy(loss_at, x0, gamma, samples=256, seed=seed)[0]}
