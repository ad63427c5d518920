"""Chapter 06, robustness guarantees.

Fooling images (Nguyen, Yosinski and Clune 2015): inputs that look like nothing, classified
with near certainty."""

import torch

from ..checks import nonnegative, positive_int
from ..autodiff import eval_mode
from .. import repro

__all__ = ["fooling_images"]


def fooling_images(model, targets, shape, steps=200, lr=0.05, seed=0):
    """Images that look like nothing yet get a chosen class with high confidence (Nguyen et al. 2015).

    Start from uniform noise and ascend the log-probability of each target class, staying in
    [0, 1] (projected Adam steps). Nothing keeps the image near any training input.

    Parameters
    ----------
    model : nn.Module returning logits; its parameters decide the dtype and device.
    targets : (N,) int tensor, the class wanted for each image, in [0, K).
    shape : tuple, the shape of one input, e.g. (64,) or (1, 8, 8).
    steps : int >= 1.
    lr : float > 0, Adam's step size.
    seed : int, fixes the starting noise (drawn in float32 on the CPU, so it is the same in every
        dtype and on every device).

    Returns
    -------
    images : (N, *shape) tensor in [0, 1].
    confidence : (N,) tensor, the softmax probability of the target at each image.

    Examples
    --------
    >>> from deepissues.nets import mlp
    >>> images, confidence = fooling_images(mlp([4, 8, 3]), torch.tensor([0, 2]), (4,), steps=20)
    >>> images.shape, bool(images.min() >= 0 and images.max() <= 1)
    (torch.Size([2, 4]), True)
    """
    positive_int("steps", steps)
    nonnegative("lr", lr, strict=True)
    if not torch.is_tensor(targets) or targets.dim() != 1 or targets.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"targets must be a 1-D integer tensor, got {getattr(targets, 'shape', targets)!r}")
    classes = _output_size(model, shape)
    if len(targets) == 0 or int(targets.min()) < 0 or int(targets.max()) >= classes:
        raise ValueError(f"targets must be class indices in [0, {classes - 1}] for a model with {classes} outputs, "
                         f"got {targets.tolist()}")
    parameter = next(model.parameters(), None)
    dtype, device = (parameter.dtype, parameter.device) if parameter is not None else (torch.float32, targets.device)
    # the noise is drawn in float32 on the CPU, so that a seed gives the same start in every dtype and on every device
    x = torch.rand((len(targets), *shape), generator=repro.generator(seed)).to(device, dtype).requires_grad_(True)
    targets = targets.to(device)
    opt = torch.optim.Adam([x], lr=lr)
    with eval_mode(model), torch.enable_grad():
        for _ in range(steps):
            loss = -model(x).log_softmax(1).gather(1, targets.long()[:, None]).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
        with torch.no_grad():
            conf = model(x).softmax(1).gather(1, targets.long()[:, None])[:, 0]
    return x.detach(), conf


def _output_size(model, shape):
    """The number of logits ``model`` returns for one input of ``shape``."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module returning logits, got {type(model).__name__}")
    parameter = next(model.parameters(), None)
    probe = torch.zeros((1, *shape), dtype=parameter.dtype if parameter is not None else torch.float32,
                        device=parameter.device if parameter is not None else "cpu")
    with torch.no_grad(), eval_mode(model):
        out = model(probe)
    if out.dim() != 2:
        raise ValueError(f"model must return logits (N, K) for inputs of shape {tuple(shape)}, got {tuple(out.shape)}")
    return out.shape[1]
