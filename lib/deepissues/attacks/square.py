"""Chapters 05–06, adversarial examples and robustness guarantees.

The Square attack: score-based and black-box, with random square-shaped updates."""

import functools
import math

import torch

from ..checks import check_norm, nonnegative, positive_int
from .base import BoundedAttack, as_images, margin
from .. import repro

__all__ = ["Square"]


class Square(BoundedAttack):
    """Square attack (Andriushchenko et al. 2020) in the L∞ or L2 ball, intersected with [0, 1]^d.

    It uses only the model's outputs (no gradients): each query changes one random square window
    of the image and is kept if it lowers the margin (label logit minus best other logit; for a
    target, the reverse). The window shrinks on the paper's schedule. After a call,
    ``queries`` holds, for each point, the number of model evaluations it used (its initial
    query included); a point stops querying once it is misclassified.

    Parameters
    ----------
    model : nn.Module returning logits, used as a black box.
    eps : float >= 0, the budget in ``norm``.
    n_queries : int >= 1, the most queries per point.
    norm : "linf" or "l2".
    p_init : float in (0, 1], the initial share of pixels in a window.
    image_shape : (C, H, W) to read flat inputs as images; inferred for (N, C, H, W) inputs and
        for flat inputs whose length is a square (one channel).
    targeted : if True, ``y`` are targets.
    seed : int.

    Examples
    --------
    >>> from deepissues.nets import mlp
    >>> model, x, y = mlp([4, 8, 3]), torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
    >>> x_adv = Square(model, eps=0.2, n_queries=50)(x, y)
    >>> bool((x_adv - x).abs().max() <= 0.2 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1)
    True
    """

    def __init__(self, model, eps=8 / 255, n_queries=1000, norm="linf", p_init=0.8, image_shape=None,
                 targeted=False, seed=0):
        super().__init__(model, targeted)
        self.eps = nonnegative("eps", eps)
        self.n_queries = positive_int("n_queries", n_queries)
        self.norm = check_norm(norm, ("linf", "l2"))
        if not 0 < p_init <= 1:
            raise ValueError(f"p_init must be in (0, 1], got {p_init!r}")
        self.p_init = p_init
        self.image_shape = image_shape
        self.seed = seed
        self.queries = None

    def attack(self, x, y):
        img = as_images(x, self.image_shape)
        g = repro.generator(self.seed, x.device)
        init = self._init_linf if self.norm == "linf" else self._init_l2
        best = (img + init(img, g)).clamp(0, 1)
        best = self._project(best, img, self._projection(img.flatten(1)))
        score = self._score(best, x.shape[1:], y)
        self.queries = torch.ones(len(x), dtype=torch.long, device=x.device)
        propose = self._propose_linf if self.norm == "linf" else self._propose_l2
        todo = None
        for i in range(1, self.n_queries):
            if todo is None:
                # the points still standing change only when one falls: gather what their
                # queries need once per change, not once per query
                todo = (score >= 0).nonzero()[:, 0]
                if len(todo) == 0:
                    break
                img_t, y_t, best_t, score_t, first = img[todo], y[todo], best[todo], score[todo], i
                project = self._projection(img_t.flatten(1))
            side = self._side(i, img.shape)
            cand = self._project(propose(best_t - img_t, img_t, side, g), img_t, project)
            new = self._score(cand, x.shape[1:], y_t)
            better = new < score_t
            best_t[better] = cand[better]
            score_t[better] = new[better]
            if i == self.n_queries - 1 or bool((new < 0).any()):
                best[todo], score[todo] = best_t, score_t
                self.queries[todo] += i - first + 1
                todo = None
        return best.reshape(x.shape)

    def _score(self, imgs, shape, y):
        """The margin of each image, fed to the model as inputs of ``shape`` (one input's)."""
        with torch.no_grad():
            m = margin(self.model(imgs.reshape(len(imgs), *shape)), y)
        return -m if self.targeted else m

    def _project(self, cand, img, project):
        """Guard against float rounding: the result stays in the ball and in [0, 1] (``project``
        is :meth:`_projection` of the images, flattened)."""
        return (img.flatten(1) + project((cand - img).flatten(1))).view_as(img)

    def _side(self, i, shape):
        """Window side from the paper's schedule: p halves at fixed fractions of 10 000 queries."""
        it = int(i / self.n_queries * 10000)
        halvings = sum(it > t for t in (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000))
        p = self.p_init / 2 ** halvings
        c, h, w = shape[1:]
        side = max(int(round(math.sqrt(p * h * w))), 1)
        if self.norm == "l2":
            side = max(side, 3) + (1 - max(side, 3) % 2)   # odd, at least 3
        return min(side, h - 1, w - 1) if min(h, w) > 1 else 1

    def _signs(self, n, c, g, device):
        return torch.randint(0, 2, (n, c, 1, 1), generator=g, device=device).float() * 2 - 1

    def _init_linf(self, img, g):
        n, c, h, w = img.shape
        return self.eps * (torch.randint(0, 2, (n, c, 1, w), generator=g, device=img.device).float() * 2 - 1)

    def _propose_linf(self, delta, img, side, g):
        n, c, h, w = img.shape
        rows = torch.randint(0, h - side + 1, (n,), generator=g, device=img.device)
        cols = torch.randint(0, w - side + 1, (n,), generator=g, device=img.device)
        mask = _window(rows, cols, side, h, w)
        new = self.eps * self._signs(n, c, g, img.device)
        delta = torch.where(mask, new.expand_as(delta), delta)
        return img + delta

    def _init_l2(self, img, g):
        n, c, h, w = img.shape
        s = max(h // 5, 1)
        delta = torch.zeros_like(img)
        start_h, start_w = (h - s * (h // s)) // 2, (w - s * (w // s)) // 2
        for top in range(start_h, start_h + s * (h // s), s):
            for left in range(start_w, start_w + s * (w // s), s):
                bump = _meta_gaussian(s, g, img.device)
                delta[:, :, top:top + s, left:left + s] += bump * self._signs(n, c, g, img.device)
        return delta / delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1) * self.eps

    def _propose_l2(self, delta, img, side, g):
        n, c, h, w = img.shape
        dev = img.device
        r1 = torch.randint(0, h - side + 1, (n,), generator=g, device=dev)
        c1 = torch.randint(0, w - side + 1, (n,), generator=g, device=dev)
        r2 = torch.randint(0, h - side + 1, (n,), generator=g, device=dev)
        c2 = torch.randint(0, w - side + 1, (n,), generator=g, device=dev)
        m1, m2 = _window(r1, c1, side, h, w), _window(r2, c2, side, h, w)
        norm_img = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        norm_w1 = (delta * m1).pow(2).sum((2, 3), keepdim=True).sqrt()
        norm_both = (delta * (m1 | m2)).pow(2).sum((2, 3), keepdim=True).sqrt()
        window = _window_index(r1, c1, side, c)
        old = delta[window] / (norm_w1 + 1e-10)
        new = _meta_gaussian(side, g, dev) * self._signs(n, c, g, dev) + old
        budget = ((self.eps ** 2 - norm_img ** 2).clamp_min(0) / c + norm_both ** 2).sqrt()
        new = new / new.pow(2).sum((2, 3), keepdim=True).sqrt().clamp_min(1e-12) * budget
        delta = delta.masked_fill(m2, 0.0)
        delta[window] = new   # the first window gets the new values
        delta = delta / delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1) * self.eps
        return img + delta


def _window(rows, cols, side, h, w):
    """(N, 1, H, W) masks of the side×side squares with top-left corners (rows, cols)."""
    table = _windows(side, h, w, str(rows.device))
    if table is not None:  # every window of this side, built once: one gather per query
        return table[rows * (w - side + 1) + cols][:, None]
    r = torch.arange(h, device=rows.device)
    c = torch.arange(w, device=rows.device)
    in_r = (r[None] >= rows[:, None]) & (r[None] < rows[:, None] + side)
    in_c = (c[None] >= cols[:, None]) & (c[None] < cols[:, None] + side)
    return (in_r[:, :, None] & in_c[:, None, :])[:, None]


@functools.lru_cache(maxsize=64)
def _windows(side, h, w, device, limit=2 ** 24):
    """((H − side + 1)·(W − side + 1), H, W) bool: the mask of every side×side window, row by row
    of its top-left corner; None where that would hold more than ``limit`` entries."""
    corners_r, corners_c = h - side + 1, w - side + 1
    if corners_r * corners_c * h * w > limit:
        return None
    rows = torch.arange(corners_r, device=device).repeat_interleave(corners_c)
    cols = torch.arange(corners_c, device=device).repeat(corners_r)
    r = torch.arange(h, device=device)
    c = torch.arange(w, device=device)
    in_r = (r[None] >= rows[:, None]) & (r[None] < rows[:, None] + side)
    in_c = (c[None] >= cols[:, None]) & (c[None] < cols[:, None] + side)
    return in_r[:, :, None] & in_c[:, None, :]


def _window_index(rows, cols, side, channels):
    """Indices of the side×side windows at (rows, cols) in every channel, for (N, C, H, W) images:
    indexing with them reads (N, C, side, side) blocks, assigning to them writes such blocks."""
    offsets = torch.arange(side, device=rows.device)
    idx_r = (rows[:, None] + offsets)[:, None, :, None]
    idx_c = (cols[:, None] + offsets)[:, None, None, :]
    n = len(rows)
    return (torch.arange(n, device=rows.device)[:, None, None, None],
            torch.arange(channels, device=rows.device)[None, :, None, None], idx_r, idx_c)


def _rings(rows, cols, device):
    """Centred bumps: concentric rectangles weighted 1/(k+1)², unit L2 norm (the paper's
    pseudo-Gaussian). Every L2 query needs two; they depend on the shape alone, so each is built once."""
    return _rings_cpu(rows, cols).to(device, copy=True)  # a copy: the cached one must never change


@functools.lru_cache(maxsize=None)
def _rings_cpu(rows, cols):
    bump = torch.zeros(rows, cols)
    cr, cc = rows // 2, cols // 2
    for k in range(max(cr, cc) + 1):
        bump[max(cr - k, 0):min(cr + k + 1, rows), max(cc - k, 0):min(cc + k + 1, cols)] += 1.0 / (k + 1) ** 2
    return bump / bump.norm()


def _meta_gaussian(side, g, device):
    """Two bumps of opposite signs side by side, randomly transposed, unit L2 norm."""
    bump = _meta_bump(side, str(device))
    return bump.T if torch.rand(1, generator=g, device=device).item() > 0.5 else bump


@functools.lru_cache(maxsize=None)
def _meta_bump(side, device):
    """The meta-Gaussian before its random transposition: it depends on the side alone, so it is
    built once per side (callers only read it)."""
    half = side // 2
    bump = torch.cat([_rings(half, side, device), -_rings(side - half, side, device)]) if half else _rings(side, side, device)
    return bump / bump.norm()
