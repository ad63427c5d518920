"""Chapter 15, random weights.

What a random Gaussian ReLU layer does to distances and angles (Giryes, Sapiro and Bronstein
2016), in closed form and by Monte Carlo.

For a layer z ↦ max(0, Wz) with i.i.d. N(0, 1/m) weights (m units) and two inputs at angle θ,
as m grows (the arc-cosine kernel of Cho and Saul 2009):
- ‖relu(Wx)‖² → ‖x‖²/2;
- ⟨relu(Wx), relu(Wy)⟩ → ‖x‖‖y‖ (sin θ + (π − θ) cos θ) / (2π);
so the cosine of the output angle is (sin θ + (π − θ) cos θ)/π and the squared distance is
(‖x‖² + ‖y‖²)/2 − ‖x‖‖y‖ (sin θ + (π − θ) cos θ)/π. Angles shrink: every layer pulls points
together, but small angles *less* in relative terms (θ_out/θ falls from 1 at θ = 0 to 1/2 at
θ = π), as Gülcü and Güngör's comment (2019) points out against Giryes et al.'s Theorem 3.
"""

import numpy as np

from ..checks import nonnegative, positive_int
from .. import repro

__all__ = ["relu_layer_cosine", "relu_layer_distance", "angle_through_depth", "random_relu_layer_stats",
           "pairwise_angles", "angles_through_random_layers", "angles_through_network", "class_angle_ratios"]


def relu_layer_cosine(theta):
    """Expected cosine between the outputs of a wide random Gaussian ReLU layer for inputs at angle θ:
    (sin θ + (π − θ) cos θ)/π.

    Parameters
    ----------
    theta : float or array in [0, π].

    Returns
    -------
    float or array.

    Examples
    --------
    >>> round(float(relu_layer_cosine(np.pi / 2)), 4)   # orthogonal inputs come out at cosine 1/π
    0.3183
    """
    theta = _angle(theta)
    return (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / np.pi


def relu_layer_distance(norm_x, norm_y, theta):
    """Expected squared distance between the outputs of a random ReLU layer (weights N(0, 1/m)).

    Parameters
    ----------
    norm_x, norm_y : floats >= 0, the inputs' norms.
    theta : float in [0, π], their angle.

    Returns
    -------
    float.
    """
    nonnegative("norm_x", norm_x)
    nonnegative("norm_y", norm_y)
    theta = _angle(theta)
    return (norm_x ** 2 + norm_y ** 2) / 2 - norm_x * norm_y * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / np.pi


def angle_through_depth(theta, depth):
    """The angle after each of ``depth`` wide random ReLU layers, by iterating the cosine map
    :func:`relu_layer_cosine`.

    Parameters
    ----------
    theta : float in [0, π], the input angle.
    depth : int >= 0.

    Returns
    -------
    (depth + 1,) array of angles, the first being θ.
    """
    positive_int("depth", depth, least=0)
    angles = [float(_angle(theta))]
    for _ in range(depth):
        angles.append(float(np.arccos(np.clip(relu_layer_cosine(angles[-1]), -1, 1))))
    return np.array(angles)


def random_relu_layer_stats(theta, width, trials=200, dim=50, seed=0):
    """Monte Carlo over random layers: for two unit inputs at angle θ in R^dim and ``trials`` draws of
    W (width × dim, entries N(0, 1/width)), the mean and standard error of the output cosine and of
    the squared output distance.

    Parameters
    ----------
    theta : float in [0, π].
    width : int >= 1.
    trials : int >= 2.
    dim : int >= 2.
    seed : int.

    Returns
    -------
    dict of floats: "cosine", "cosine_se", "distance", "distance_se".
    """
    theta = _angle(theta)
    positive_int("width", width)
    positive_int("trials", trials, least=2)
    positive_int("dim", dim, least=2)
    rng = repro.numpy_rng(seed)
    x = np.zeros(dim)
    x[0] = 1.0
    y = np.zeros(dim)
    y[0], y[1] = np.cos(theta), np.sin(theta)
    W = rng.normal(scale=1 / np.sqrt(width), size=(trials, width, dim))
    fx, fy = np.maximum(W @ x, 0), np.maximum(W @ y, 0)
    # the cosine of one layer's outputs; both norms are positive unless every unit is off
    norms = np.linalg.norm(fx, axis=1) * np.linalg.norm(fy, axis=1)
    cosine = np.sum(fx * fy, axis=1) / np.where(norms > 0, norms, 1.0)
    distance = np.sum((fx - fy) ** 2, axis=1)
    return {"cosine": cosine.mean(), "cosine_se": cosine.std(ddof=1) / np.sqrt(trials),
            "distance": distance.mean(), "distance_se": distance.std(ddof=1) / np.sqrt(trials)}


def _angle(theta):
    theta = np.asarray(theta, dtype=float)
    if np.any(theta < -1e-12) or np.any(theta > np.pi + 1e-12):
        raise ValueError(f"theta must be an angle in [0, pi], got {theta}")
    return np.clip(theta, 0, np.pi)


def pairwise_angles(z):
    """Angles between all pairs of rows of z.

    Parameters
    ----------
    z : (N, d) array, N >= 2.

    Returns
    -------
    (N(N − 1)/2,) array over i < j.

    Examples
    --------
    >>> pairwise_angles(np.array([[1.0, 0.0], [0.0, 2.0]])).round(4).tolist()
    [1.5708]
    """
    z = np.asarray(z, dtype=float)
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    if z.ndim != 2 or len(z) < 2 or np.any(norms == 0):
        raise ValueError(f"z must hold at least two non-zero rows (N, d), got shape {z.shape}")
    unit = z / norms
    return np.arccos(np.clip(unit @ unit.T, -1, 1))[np.triu_indices(len(z), 1)]


def angles_through_random_layers(x, depth, width, seed=0):
    """Push the rows of x through ``depth`` random ReLU layers of ``width`` units (weights
    N(0, 1/fan_in), no bias) and return the pairwise angles before and after each layer.

    Parameters
    ----------
    x : (N, d) array or tensor, N >= 2.
    depth : int >= 0.
    width : int >= 1.
    seed : int.

    Returns
    -------
    list of depth + 1 flat arrays, in the order of :func:`pairwise_angles`.
    """
    positive_int("depth", depth, least=0)
    positive_int("width", width)
    rng = repro.numpy_rng(seed)
    z = np.asarray(x, dtype=float)
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"x must be (N, d) with N >= 2 points, got shape {z.shape}")
    angles = [pairwise_angles(z)]
    for _ in range(depth):
        z = np.maximum(z @ rng.normal(scale=1 / np.sqrt(z.shape[1]), size=(z.shape[1], width)), 0)
        angles.append(pairwise_angles(z))
    return angles


def angles_through_network(model, x):
    """Pairwise angles of the rows of x before a network and after each of its activations.

    The trained counterpart of :func:`angles_through_random_layers`: the network is an
    ``nn.Sequential`` and every layer that is an ``nn.ReLU`` marks one representation.

    Parameters
    ----------
    model : nn.Sequential with at least one nn.ReLU.
    x : (N, d) tensor, N >= 2.

    Returns
    -------
    list of 1 + (number of ReLUs) flat arrays, in the order of :func:`pairwise_angles`.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False), torch.nn.ReLU())
    >>> with torch.no_grad():
    ...     _ = model[0].weight.copy_(torch.eye(2))
    >>> [a.round(4).tolist() for a in angles_through_network(model, torch.tensor([[1.0, 0.0], [1.0, 1.0]]))]
    [[0.7854], [0.7854]]
    """
    import torch

    if not isinstance(model, torch.nn.Sequential) or not any(isinstance(m, torch.nn.ReLU) for m in model):
        raise ValueError(f"model must be an nn.Sequential with at least one nn.ReLU, got {type(model).__name__}")
    z = torch.as_tensor(x)
    angles = [pairwise_angles(z.double().numpy())]
    with torch.no_grad():
        for layer in model:
            z = layer(z)
            if isinstance(layer, torch.nn.ReLU):
                angles.append(pairwise_angles(z.double().numpy()))
    return angles


def class_angle_ratios(angles, labels):
    """The median share θ_l/θ_0 of their input angle that pairs keep at each layer, for pairs of
    one class and pairs of two classes.

    Parameters
    ----------
    angles : list of L + 1 flat arrays of pairwise angles, the input's first, in the order of
        :func:`pairwise_angles` (as :func:`angles_through_network` or
        :func:`angles_through_random_layers` return them).
    labels : (N,) array of class labels, with at least one pair of each kind.

    Returns
    -------
    dict with "within" and "between": (L,) arrays of medians over the pairs with a non-zero
    input angle.

    Examples
    --------
    >>> before, after = np.array([0.2, 1.0, 1.0]), np.array([0.1, 1.0, 1.0])  # pairs (0,1), (0,2), (1,2)
    >>> {k: v.tolist() for k, v in class_angle_ratios([before, after], [0, 0, 1]).items()}
    {'within': [0.5], 'between': [1.0]}
    """
    labels = np.asarray(labels)
    i, j = np.triu_indices(len(labels), 1)
    if len(angles) < 2 or any(np.shape(a) != i.shape for a in angles):
        raise ValueError(f"angles must be at least two arrays of {len(i)} pairwise angles for {len(labels)} labels, "
                         f"got shapes {[np.shape(a) for a in angles]}")
    same, moved = labels[i] == labels[j], angles[0] > 0
    if same.all() or not same.any():
        raise ValueError("labels must give at least one pair within a class and one between classes")
    ratios = np.array(angles[1:])[:, moved] / angles[0][moved]
    return {"within": np.median(ratios[:, same[moved]], axis=1), "between": np.median(ratios[:, ~same[moved]], axis=1)}
