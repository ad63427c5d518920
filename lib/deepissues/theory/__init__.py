"""Chapters 11–15, the mathematics of deep learning.

Results from the mathematics of deep learning (Vidal, Bruna, Giryes and Soatto 2017), one
module per topic."""

from .risk_decomposition import error_decomposition, least_squares_gradient_descent, random_relu_features, tanh_teacher
from .energy import (EntropySGD, double_well, double_well_finals, fit_entropy_sgd, flat_loss, flatness,
                     landscape_finals, local_entropy, sharp_and_wide, sharpness)
from .factorisation import (dropout_loss_sample, dropout_objective, dropout_sgd, dropout_solution, dropout_threshold,
                            equalising_rotation, factorized_objective, factorized_solution, nuclear_norm_solution)
from .margins import (jacobian_margin_bound, jacobian_norm, jacobian_penalty, lipschitz_upper_bound, margin_report,
                      output_margin)
from .random_weights import (angle_through_depth, angles_through_network, angles_through_random_layers,
                             class_angle_ratios, pairwise_angles, random_relu_layer_stats, relu_layer_cosine,
                             relu_layer_distance)
from .mean_width import gaussian_mean_width, relu_embedding_distortion
from .invariance import CyclicInvariantNet, random_cyclic_shifts
from .homogeneous import (fit_homogeneous_relu, polar_certificate, relu_net_objective, relu_net_outputs, relu_polar,
                          spectral_certificate)

__all__ = ["jacobian_norm", "jacobian_penalty", "output_margin", "jacobian_margin_bound",
           "lipschitz_upper_bound", "margin_report",
           "EntropySGD", "double_well", "double_well_finals", "landscape_finals", "sharp_and_wide", "flat_loss",
           "local_entropy", "sharpness",
           "fit_entropy_sgd", "flatness",
           "error_decomposition", "least_squares_gradient_descent", "random_relu_features", "tanh_teacher",
           "relu_layer_cosine", "relu_layer_distance", "angle_through_depth", "random_relu_layer_stats",
           "pairwise_angles", "angles_through_random_layers", "angles_through_network", "class_angle_ratios",
           "gaussian_mean_width", "relu_embedding_distortion", "random_cyclic_shifts", "CyclicInvariantNet",
           "relu_net_outputs", "relu_net_objective", "fit_homogeneous_relu", "relu_polar", "polar_certificate",
           "spectral_certificate",
           "nuclear_norm_solution", "factorized_objective", "factorized_solution", "dropout_objective",
           "dropout_loss_sample", "dropout_solution", "dropout_threshold", "equalising_rotation", "dropout_sgd"]
