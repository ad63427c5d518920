"""Chapter 05, adversarial examples.

Spatial attacks: rotations and translations instead of additive noise."""

import math

import torch
from torch.nn import functional as F

from ..checks import nonnegative, positive_int
from .base import BoundedAttack, as_images, margin
from .. import repro

__all__ = ["rotate_translate", "Spatial"]


def rotate_translate(images, angles, shifts):
    """Rotate images about their centre, then shift them. Bilinear, with zeros outside the image, so
    values stay in [0, 1].

    Parameters
    ----------
    images : (N, C, H, W) tensor.
    angles : (N,) tensor of angles in degrees.
    shifts : (N, 2) tensor of shifts in pixels (down, right).

    Returns
    -------
    (N, C, H, W) tensor.
    """
    if images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W), got {tuple(images.shape)}")
    n, _, h, w = images.shape
    if angles.shape != (n,) or shifts.shape != (n, 2):
        raise ValueError(f"angles must have shape ({n},) and shifts ({n}, 2), got {tuple(angles.shape)} and "
                         f"{tuple(shifts.shape)}")
    a = torch.deg2rad(angles.to(images.dtype))
    cos, sin = torch.cos(a), torch.sin(a)
    # affine_grid maps output coordinates to input coordinates in [-1, 1]: the inverse transform
    theta = torch.zeros(n, 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = sin * w / h, cos
    theta[:, 0, 2] = -2 * shifts[:, 1].to(images.dtype) / w
    theta[:, 1, 2] = -2 * shifts[:, 0].to(images.dtype) / h
    grid = F.affine_grid(theta, images.shape, align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class Spatial(BoundedAttack):
    """Rotation and translation attack (Engstrom et al. 2019).

    Tries rotations in [−max_rotation, max_rotation] degrees and shifts of up to
    ``max_translation`` pixels in each direction (sub-pixel shifts too: the images are resampled
    bilinearly). With ``grid=True`` it tries every combination of ``n_rotations`` angles and
    ``n_translations`` shifts per axis (the paper's grid search); otherwise it draws ``k``
    random ones (the paper's worst-of-k).

    For each point it keeps the transformation with the smallest logit margin of the label over
    the best other class (the largest margin of the target, when targeted). A transformation
    that fools the model has a negative margin, so the attack fools a point whenever any
    transformation tried does: the robust accuracy it gives is exact over the transformations
    tried, a point being robust only if every one of them is classified correctly. (Engstrom et
    al. keep the one with the highest loss, which can miss a fooling transformation whose loss is
    lower.) After a call, ``params`` holds each point's (angle, shift down, shift right).

    Parameters
    ----------
    model : nn.Module returning logits.
    max_rotation : float >= 0, degrees.
    max_translation : float >= 0, pixels.
    grid : grid search (True) or worst-of-k random (False).
    n_rotations, n_translations : grid sizes.
    k : random draws when ``grid=False``.
    image_shape : (C, H, W) for flat inputs; see :class:`Square`.
    targeted : if True, ``y`` are targets.
    seed : int.

    Examples
    --------
    >>> from deepissues.nets import mlp
    >>> model, x, y = mlp([16, 8, 3]), torch.rand(3, 16), torch.tensor([0, 1, 2])   # 4 × 4 images, flat
    >>> Spatial(model, max_rotation=30, max_translation=1, n_rotations=5, n_translations=3)(x, y).shape
    torch.Size([3, 16])
    """

    def __init__(self, model, max_rotation=30.0, max_translation=3.0, grid=True, n_rotations=31,
                 n_translations=5, k=10, image_shape=None, targeted=False, seed=0):
        super().__init__(model, targeted)
        self.max_rotation = nonnegative("max_rotation", max_rotation)
        self.max_translation = nonnegative("max_translation", max_translation)
        self.grid = bool(grid)
        self.n_rotations = positive_int("n_rotations", n_rotations)
        self.n_translations = positive_int("n_translations", n_translations)
        self.k = positive_int("k", k)
        self.image_shape = image_shape
        self.seed = seed
        self.params = None

    def transformations(self, device=None):
        """(T, 3) candidate (angle, shift down, shift right); the identity is always among them."""
        if self.grid:
            angles = torch.linspace(-self.max_rotation, self.max_rotation, self.n_rotations)
            shifts = torch.linspace(-self.max_translation, self.max_translation, self.n_translations)
            cand = torch.cartesian_prod(angles, shifts, shifts)
        else:
            g = repro.generator(self.seed)
            scale = torch.tensor([self.max_rotation, self.max_translation, self.max_translation])
            cand = (torch.rand(self.k, 3, generator=g) * 2 - 1) * scale
        return torch.cat([torch.zeros(1, 3), cand]).to(device)

    def attack(self, x, y):
        img = as_images(x, self.image_shape)
        cand = self.transformations(x.device)
        best = img.clone()
        best_score = torch.full((len(x),), -math.inf, device=x.device)
        self.params = torch.zeros(len(x), 3, device=x.device)
        with torch.no_grad():
            for t in cand:
                moved = rotate_translate(img, t[0].expand(len(x)), t[1:].expand(len(x), 2))
                m = margin(self.model(moved.reshape(x.shape)), y)
                score = m if self.targeted else -m  # fooled exactly where the score is > 0
                better = score > best_score
                best[better], best_score[better], self.params[better] = moved[better], score[better], t
        return best.reshape(x.shape).clamp(0, 1)
