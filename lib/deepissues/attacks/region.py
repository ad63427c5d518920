"""Chapter 06, robustness guarantees.

Croce and Hein's (2018) randomized gradient-free attack on ReLU networks.

A ReLU network is affine on each of its linear regions, so there the smallest change that
crosses the decision boundary is a convex program (an LP for L1 and L∞, a QP for L2). The attack
samples points near the best adversarial input found so far, on the segment from x to it and in a
ball around it, and solves the program on each sample's region.
"""

import numpy as np
import torch

from ..checks import check_norm, nonnegative, one_of, positive_int
from ..certify.regions import crossing_step, norm_np
from ..expressivity import activation_pattern, region_maps, relu_layers
from .base import MinimalNormAttack, norm_of
from .minimal import DeepFool
from .. import repro

__all__ = ["RegionAttack"]


class RegionAttack(MinimalNormAttack):
    """The region attack: convex programs on sampled linear regions.

    Each point starts from the regions of x itself and, with ``init="deepfool"``, of DeepFool's
    adversarial input, which is also the first best point: the attack never ends farther than
    DeepFool. Then, ``steps`` times, ``samples`` points are drawn:
    half on the segment from x to the best point so far, half uniformly in a ball of radius
    ``spread`` × ‖best − x‖ around it. Only the ``top_classes`` classes with the largest logits at
    a sample are tried as the new label.

    The program asks another logit to beat the prediction by a small margin, and a solution
    counts only if the model, in its own precision, gets the point wrong.

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

    Examples
    --------
    >>> from deepissues.nets import mlp
    >>> model, x, y = mlp([4, 8, 3]), torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
    >>> x_adv, success = RegionAttack(model, norm="l2", steps=2, samples=4)(x, y)
    >>> bool((model(x_adv[success]).argmax(1) != y[success]).all())   # every success is real
    True
    """

    def __init__(self, model, norm="l2", steps=10, samples=10, spread=0.5, top_classes=3, init="deepfool",
                 seed=0):
        super().__init__(model)
        self._layers = relu_layers(model)  # also checks the architecture
        self.norm = check_norm(norm)
        self.steps = positive_int("steps", steps)
        self.samples = positive_int("samples", samples)
        self.spread = nonnegative("spread", spread, strict=True)
        self.top_classes = positive_int("top_classes", top_classes)
        one_of("init", init, ("deepfool", None))
        self.init = init
        self.seed = seed

    def attack(self, x, y):
        if x.dim() != 2:
            raise ValueError(f"the region attack takes flat inputs (N, d), got shape {tuple(x.shape)}")
        x_adv, best = x.clone(), torch.full((len(x),), float("inf"), dtype=torch.float64)
        starts = [x]
        if self.init == "deepfool":
            x_df, ok = DeepFool(self.model, norm="l2" if self.norm == "l1" else self.norm)(x, y)
            x_adv[ok] = x_df[ok]
            best[ok] = norm_of(x_df[ok] - x[ok], self.norm).double().cpu()
            starts.append(x_df)
        rng = repro.numpy_rng(self.seed)
        x_np = x.detach().cpu().double().numpy()
        with torch.no_grad():
            scale = self.model(x).abs().amax(1).clamp_min(0.1).cpu().numpy()
        labels = y.cpu().numpy()
        for i in range(len(x)):
            candidates = [s[i].detach().cpu().double().numpy() for s in starts]
            solved = {}  # samples often share a region: its programs are solved once per point
            for step in range(self.steps + 1):
                for z in candidates:
                    delta = self._best_in_region(x_np[i], z, labels[i], 1e-5 * scale[i], solved)
                    if delta is None or norm_np(delta, self.norm) >= best[i]:
                        continue
                    # keep only points the model really gets wrong in its own precision
                    point = torch.from_numpy(x_np[i] + delta).to(x).clamp(0, 1)[None]
                    if self.is_adversarial(point, y[i:i + 1])[0]:
                        best[i], x_adv[i] = norm_np(delta, self.norm), point[0]
                if step < self.steps:
                    candidates = self._sample(rng, x_np[i], x_adv[i].detach().cpu().double().numpy(), float(best[i]))
        success = best.isfinite().to(x.device)
        return x_adv, success

    def _best_in_region(self, x, z, label, margin, solved):
        """The smallest crossing step from x within z's region, towards the ``top_classes`` classes
        with the largest logits at z. A region's maps and crossing steps depend on the region, x
        and the classes alone, so ``solved`` keeps them for x, by activation pattern."""
        pattern = activation_pattern(self._layers, z[None])[0].numpy()
        key = pattern.tobytes()
        if key not in solved:
            solved[key] = (region_maps(self._layers, pattern), {})
        (G, h, A, c), steps = solved[key]
        logits = A @ z + c
        rivals = [j for j in np.argsort(-logits) if j != label][: self.top_classes]
        best = None
        for j in rivals:
            if j not in steps:
                steps[j] = crossing_step(G, h, A, c, x, label, j, self.norm, margin)
            delta = steps[j]
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

