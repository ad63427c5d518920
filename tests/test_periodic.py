"""Linear-periodic targets: the gradient variance against Stein's closed form and its leading-order term."""

import numpy as np
import pytest
import torch

from deepissues import failures as F


def test_linear_periodic_gradient_variance_matches_steins_closed_form():
    for r in (0.1, 0.25, 0.4):
        got = F.periodic_gradient_variance(8, r, model="linear")
        assert got["variance"] == pytest.approx(F.linear_periodic_variance_closed_form(r),
                                                abs=3 * got["resolution"], rel=0.05)


def test_linear_periodic_variance_falls_below_the_estimators_resolution_for_large_r():
    small = F.periodic_gradient_variance(8, 0.1)
    large = F.periodic_gradient_variance(8, 1.5)
    assert small["variance"] > 100 * small["resolution"]
    assert abs(large["variance"]) < 3 * large["resolution"]


@pytest.mark.parametrize("init", ["default", "he"])
def test_the_networks_small_r_variance_is_the_leading_order_term_for_either_initialisation(init):
    # at r = 0.02 the next order is a relative 4π²r² ≈ 1.6%; the sampled variance must agree within 5%
    leading = F.leading_order_variance(10, 0.02, init=init)
    sampled = F.periodic_gradient_variance(10, 0.02, init=init)
    assert sampled["variance"] == pytest.approx(leading["variance"], rel=0.05)
    # negative control: at r = 0.5 the leading order overstates the variance many times over
    assert F.periodic_gradient_variance(10, 0.5, init=init)["variance"] < 0.2 * F.leading_order_variance(10, 0.5, init=init)["variance"]


def test_the_alignment_of_the_initialisations_differs_and_leaves_the_global_generator_alone():
    torch.manual_seed(7)
    default = F.leading_order_variance(10, 0.1)["alignment"]
    after = torch.rand(2)
    torch.manual_seed(7)
    assert torch.equal(torch.rand(2), after)  # the seeded network was drawn from a forked generator
    he = F.leading_order_variance(10, 0.1, init="he")["alignment"]
    assert he > 3 * default  # Kaiming-normal's larger output weights align the gradient more with x


def test_linear_periodic_dataset_has_the_asked_radius_and_labels():
    X, y, w = F.linear_periodic_dataset(200, 5, 2.0, seed=3)
    assert float(w.norm()) == pytest.approx(2.0, rel=1e-6)
    np.testing.assert_allclose(y.numpy(), np.sin(2 * np.pi * X.numpy() @ w.numpy()), atol=1e-5)
