"""Croce and Hein's (2018) randomized gradient-free attack on ReLU networks.

A ReLU network is affine on each of its linear regions, so there the smallest change that
crosses the decision boundary is a convex program (an LP for L1 and L∞, a QP for L2). The attack
samples points near the best adversarial input found so far, on the segment from x to it and in a
ball around it, and solves the program on each sample's region.
"""

import numpy as np
import torch

from ..checks import nonnegative, positive_int
from ..certify.regions import crossing_step, norm_np, pattern_of, region_maps
from ..expressivity import relu_layers
from .base import Attack, check_norm
from .minimal import DeepFool


class RegionAttack(Attack):
    """The region attack: convex programs on sampled linear regions.

    Each point starts from the regions of x itself and, with ``init="deepfool"``, of DeepFool's
    adversarial input; the region of a DeepFool point holds DeepFool's own solution, so the
    attack never ends farther than DeepFool. Then, ``steps`` times, ``samples`` points are drawn:
    half on the segment from x to the best point so far, half uniformly in a ball of radius
    ``spread`` × ‖best − x‖ around it. Only the ``top_classes`` classes with the largest logits at
    a sample are tried as the new label.

    The program asks another logit to beat the prediction by a small margin, so that the
    returned point is adversarial in float32, not just on the boundary.

    Returns ``(x_adv, success)``, as foolbox does.

    Parameters
    ----------
    model : nn.Sequential of nn.Linear and nn.ReLU, returning logits; inputs (N, d) in [0, 1].
    norm : "l1", "l2" or "linf".
    steps, samples : int >= 1, rounds and samples per round.
    spread : float > 0, radius of the sampling ball relative to the current best norm.
    top_classes : int >= 1.
    init : "deepfool" or None.
    seed : int, fixes the samples.

    Example
    -------
    >>> x_adv, success = RegionAttack(model, norm="l2")(x, y)  # doctest: +SKIP
    """

    def __init__(self, model, norm="l2", steps=10, samples=10, spread=0.5, top_classes=3, init="deepfool",
                 seed=0):
        super().__init__(model)
        self.steps_ = relu_layers(model)  # checks the architecture
        self.norm = check_norm(norm)
        self.steps = positive_int("steps", steps)
        self.samples = positive_int("samples", samples)
        self.spread = nonnegative("spread", spread, strict=True)
        self.top_classes = positive_int("top_classes", top_classes)
        if init not in ("deepfool", None):
            raise ValueError(f"init must be 'deepfool' or None, got {init!r}")
        self.init = init
        self.seed = seed

    def __repr__(self):
        return (f"RegionAttack(norm={self.norm!r}, steps={self.steps}, samples={self.samples}, "
                f"spread={self.spread}, top_classes={self.top_classes}, init={self.init!r})")

    def attack(self, x, y):
        if x.dim() != 2:
            raise ValueError(f"the region attack takes flat inputs (N, d), got shape {tuple(x.shape)}")
        starts = [x]
        if self.init == "deepfool":
            starts.append(DeepFool(self.model, norm="l2" if self.norm == "l1" else self.norm)(x, y)[0])
        rng = np.random.default_rng(self.seed)
        x_np = x.detach().cpu().double().numpy()
        with torch.no_grad():
            scale = self.model(x).abs().amax(1).clamp_min(0.1).cpu().numpy()
        adv = x_np.copy()
        best = np.full(len(x), np.inf)
        labels = y.cpu().numpy()
        for i in range(len(x)):
            candidates = [s[i].detach().cpu().double().numpy() for s in starts]
            for step in range(self.steps + 1):
                for z in candidates:
                    delta = self._best_in_region(x_np[i], z, labels[i], 1e-5 * scale[i])
                    if delta is not None and norm_np(delta, self.norm) < best[i]:
                        best[i], adv[i] = norm_np(delta, self.norm), x_np[i] + delta
                if step < self.steps:
                    candidates = self._sample(rng, x_np[i], adv[i], best[i])
        x_adv = torch.from_numpy(adv).to(x.dtype).to(x.device).clamp(0, 1)
        success = self.is_adversarial(x_adv, y) & torch.from_numpy(np.isfinite(best)).to(x.device)
        return torch.where(success[:, None], x_adv, x), success

    def _best_in_region(self, x, z, label, margin):
        G, h, A, c = region_maps(self.steps_, pattern_of(self.steps_, z))
        logits = A @ z + c
        rivals = [j for j in np.argsort(-logits) if j != label][: self.top_classes]
        best = None
        for j in rivals:
            delta = crossing_step(G, h, A, c, x, label, j, self.norm, margin)
            if delta is not None and (best is None or norm_np(delta, self.norm) < norm_np(best, self.norm)):
                best = delta
        return best

    def _sample(self, rng, x, adv, best):
        d, half = len(x), self.samples // 2
        if not np.isfinite(best):  # nothing found yet: look around x at growing distances
            radius = rng.uniform(0, 1, self.samples) * np.sqrt(d)
            directions = rng.standard_normal((self.samples, d))
            directions /= np.linalg.norm(directions, axis=1, keepdims=True)
            return list(np.clip(x + radius[:, None] * directions, 0, 1))
        t = rng.uniform(0, 1, half)
        on_segment = x + t[:, None] * (adv - x)
        directions = rng.standard_normal((self.samples - half, d))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        radius = self.spread * np.linalg.norm(adv - x) * rng.uniform(0, 1, self.samples - half) ** (1 / d)
        around = adv + radius[:, None] * directions
        return list(np.clip(np.vstack([on_segment, around]), 0, 1))

