"""Auer et al.'s single neuron: the number of local minima against the construction's prediction."""

import itertools

import numpy as np
import pytest

from deepissues.local_minima import (
    auer_dataset,
    auer_local_minima,
    neuron_loss,
    predicted_minima,
)


@pytest.mark.parametrize("n_per_axis, d", [(5, 1), (7, 1), (5, 2), (3, 2)])
def test_auer_construction_has_the_predicted_number_of_minima(n_per_axis, d):
    X, y = auer_dataset(n_per_axis, d, spacing=2.0)
    minima = auer_local_minima(X, y, np.linspace(-14, 4, 500 if d == 1 else 260))
    assert len(minima) == predicted_minima(n_per_axis * d, d) == n_per_axis ** d
    # each minimum sits near one dip per coordinate, w_j · exp(spacing · t) ≈ logit(0.8), and
    # every combination of dips appears once
    logit = np.log(0.8 / 0.2)
    dips = {tuple(np.round((np.log(logit) - np.log(w)) / 2.0).astype(int)) for w in minima}
    assert dips == set(itertools.product(range(n_per_axis), repeat=d))


def test_close_examples_merge_the_minima():
    # negative control of the construction: at spacing 0.5 the five dips of each axis merge into
    # one, so the plane holds a single minimum, not 5^2
    for d, grid in ((1, np.linspace(-14, 4, 500)), (2, np.linspace(-14, 4, 260))):
        assert len(auer_local_minima(*auer_dataset(5, d, spacing=0.5), grid)) == 1


@pytest.mark.parametrize("spacing", [1.5, 2.0])
def test_minima_in_the_plane_are_the_products_of_the_minima_on_an_axis(spacing):
    # the loss separates across coordinates, so the count in d = 2 is the square of that in d = 1,
    # also where only some dips have merged
    on_axis = len(auer_local_minima(*auer_dataset(5, 1, spacing), np.linspace(-14, 4, 260)))
    in_plane = len(auer_local_minima(*auer_dataset(5, 2, spacing), np.linspace(-14, 4, 260)))
    assert in_plane == on_axis ** 2


def test_neuron_loss_is_the_square_loss_of_a_logistic_neuron():
    X, y = auer_dataset(3, 2, 1.0)
    w = np.array([0.3, -1.2])
    expected = sum((1 / (1 + np.exp(-w @ x)) - 0.8) ** 2 for x in X.numpy())
    assert float(neuron_loss(w, X, y)) == pytest.approx(expected, rel=1e-12)


def test_auer_inputs_are_checked():
    with pytest.raises(ValueError, match="spacing"):
        auer_dataset(3, 2, 0.0)
    with pytest.raises(ValueError, match="increasing"):
        auer_local_minima(*auer_dataset(3, 1, 2.0), np.array([1.0, 0.0, 2.0]))
