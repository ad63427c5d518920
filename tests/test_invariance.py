"""Cyclic shifts and a network exactly invariant to them."""

import pytest
import torch

from deepissues import nets, repro
from deepissues.theory import CyclicInvariantNet, random_cyclic_shifts


def test_random_cyclic_shifts_equal_torch_roll_image_by_image():
    images = torch.randn(6, 25, generator=torch.Generator().manual_seed(0))
    shifted = random_cyclic_shifts(images, 5, seed=3)
    shifts = torch.randint(0, 5, (6, 2), generator=repro.generator(3))
    for image, out, (a, b) in zip(images, shifted, shifts):
        assert torch.equal(out, torch.roll(image.reshape(5, 5), (int(a), int(b)), (0, 1)).flatten())
    # Control: another seed moves the images elsewhere.
    assert not torch.equal(random_cyclic_shifts(images, 5, seed=4), shifted)


def test_the_invariant_network_gives_every_cyclic_shift_the_same_logits_and_an_mlp_does_not():
    with repro.seeded(0):
        invariant, mlp = CyclicInvariantNet(8, 10, channels=4), nets.mlp([64, 16, 10])
    x = torch.rand(3, 64, generator=torch.Generator().manual_seed(1))
    for a in range(8):
        for b in range(8):
            rolled = torch.roll(x.reshape(3, 8, 8), (a, b), (1, 2)).reshape(3, 64)
            torch.testing.assert_close(invariant(rolled), invariant(x), rtol=1e-5, atol=1e-6)
    rolled = torch.roll(x.reshape(3, 8, 8), (1, 3), (1, 2)).reshape(3, 64)
    assert (mlp(rolled) - mlp(x)).abs().max() > 1e-3  # Control: not invariant
