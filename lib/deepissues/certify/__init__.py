"""Chapters 06 and 14, robustness guarantees and margins.

Guarantees: certified radii and bounds that no attack can beat, and exact minimal perturbations.

- :mod:`.cross_lipschitz`: Hein and Andriushchenko's (2017) L2 guarantee for one-hidden-layer
  networks and Gaussian-kernel machines.
- :mod:`.intervals`: interval bound propagation (Gowal et al. 2018) for L∞ balls, and the
  accuracy and radii it (or CROWN) certifies.
- :mod:`.linear_bounds`: CROWN (Zhang et al. 2018), a backward linear relaxation of ReLU networks.
- :mod:`.milp`: exact worst-case margins by mixed-integer programming (Tjeng et al. 2019).
- :mod:`.ladder`: the ladder of certificates, IBP and CROWN against the exact answer and PGD.
- :mod:`.regions`: convex programs on the linear regions of ReLU networks and the exact minimal
  perturbation of small ones.
- :mod:`.far_away`: the confidence of a network far from the data (Hein et al. 2019).
"""

from .cross_lipschitz import (KernelMachine, cross_lipschitz_radius, cross_lipschitz_radius_kernel,
                              gradient_difference_bound, kernel_gradient_difference_bound, one_hidden_layer,
                              one_vs_rest_svm)
from .far_away import confidence_far_away
from .intervals import METHODS, certified_accuracy, certified_radius, interval_bounds, margin_lower_bounds
from .linear_bounds import crown_hidden_bounds, crown_margin_bounds
from .milp import exact_margins, exactly_robust
from .ladder import Ladder, certification_ladder
from .regions import crossing_step, exact_min_perturbation, min_norm_in_polyhedron, norm_np

__all__ = ["KernelMachine", "one_vs_rest_svm", "one_hidden_layer", "cross_lipschitz_radius",
           "cross_lipschitz_radius_kernel", "gradient_difference_bound", "kernel_gradient_difference_bound",
           "METHODS", "interval_bounds", "margin_lower_bounds", "certified_accuracy", "certified_radius",
           "crown_margin_bounds", "crown_hidden_bounds", "exact_margins", "exactly_robust", "Ladder", "certification_ladder",
           "exact_min_perturbation", "min_norm_in_polyhedron", "crossing_step", "norm_np", "confidence_far_away"]
