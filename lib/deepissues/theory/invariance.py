"""Chapter 14, invariance (Sokolić, Giryes, Sapiro and Rodrigues 2017).

A classifier invariant to a group of T transformations sees a base space about T times smaller
than its input space, and their bound on its generalisation error is smaller by about √T. Here the
group is the 64 cyclic shifts of an 8 × 8 image: a network of circular convolutions followed by
global pooling is exactly invariant to them, and a fully connected network is not.
"""

import torch
from torch import nn

from ..checks import positive_int
from .. import repro

__all__ = ["random_cyclic_shifts", "CyclicInvariantNet"]


def random_cyclic_shifts(images, side, seed=0):
    """Each image rolled cyclically by its own random shift in both directions.

    Parameters
    ----------
    images : (n, side·side) tensor of flattened square images.
    side : int >= 1, the images' side.
    seed : int.

    Returns
    -------
    (n, side·side) tensor, image i rolled by (a_i, b_i) with a_i, b_i uniform in {0, …, side − 1}.

    Examples
    --------
    >>> shifted = random_cyclic_shifts(torch.arange(4.0)[None], 2, seed=1)
    >>> sorted(shifted[0].tolist())  # the same pixels, moved
    [0.0, 1.0, 2.0, 3.0]
    """
    positive_int("side", side)
    if not torch.is_tensor(images) or images.dim() != 2 or images.shape[1] != side * side:
        raise ValueError(f"images must be a (n, {side * side}) tensor for side {side}, got "
                         f"{tuple(images.shape) if torch.is_tensor(images) else type(images).__name__}")
    n = len(images)
    shifts = torch.randint(0, side, (n, 2), generator=repro.generator(seed))
    rows = (torch.arange(side)[None, :] - shifts[:, :1]) % side                  # (n, side): source row
    cols = (torch.arange(side)[None, :] - shifts[:, 1:]) % side
    grid = images.reshape(n, side, side)
    return grid[torch.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]].reshape(n, side * side)


class CyclicInvariantNet(nn.Module):
    """Circular convolutions, then the mean and the maximum of each channel over the image: a
    classifier exactly invariant to cyclic shifts of its input.

    Parameters
    ----------
    side : int >= 1, the input images' side.
    classes : int >= 1.
    channels : int >= 1.
    layers : int >= 1, convolutions, each followed by a ReLU.
    kernel : odd int >= 1, the convolutions' size.

    The forward pass maps flattened images (n, side·side) to logits (n, classes).
    """

    def __init__(self, side, classes, channels=32, layers=2, kernel=5):
        super().__init__()
        for name, value in (("side", side), ("classes", classes), ("channels", channels), ("layers", layers)):
            positive_int(name, value)
        if not isinstance(kernel, int) or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel must be an odd int >= 1, got {kernel!r}")
        self.side = side
        convolutions, width = [], 1
        for _ in range(layers):
            convolutions += [nn.Conv2d(width, channels, kernel, padding=kernel // 2, padding_mode="circular"),
                             nn.ReLU()]
            width = channels
        self.features = nn.Sequential(*convolutions)
        self.head = nn.Linear(2 * channels, classes)

    def forward(self, x):
        """x (n, side·side) → logits (n, classes)."""
        maps = self.features(x.reshape(-1, 1, self.side, self.side))
        return self.head(torch.cat([maps.mean((2, 3)), maps.amax((2, 3))], 1))
