"""Chapters 07–10, the failures of gradient-based learning.

The four failure families of gradient-based deep learning (Shalev-Shwartz, Shamir and Shammah 2017).

1. Non-informative gradients: parities (:mod:`.parities`) and linear-periodic targets
   (:mod:`.periodic`).
2. Decomposition vs end-to-end: k-tuples of line segments and the stocks setting
   (:mod:`.decomposition`), with the gradient signal-to-noise ratio (:mod:`.snr`).
3. Architecture and conditioning: encoding piecewise-linear curves (:mod:`.conditioning`).
4. Flat activations: staircase targets and the forward-only update (:mod:`.flat`).
"""

from .conditioning import (PWLEncoder, kink_shift_error, pwl_autoencoder, pwl_condition_number, pwl_curves,
                           pwl_curves_from_code, pwl_matrix, random_pwl_code, random_pwl_curves,
                           second_difference_matrix, train_pwl_autoencoder, train_pwl_encoder, whitening)
from .decomposition import (TupleNet, k_tuples, line_segment_images, stocks_batch, stocks_gradients, stocks_market,
                            stocks_second_moment_ratio, stocks_snr_closed_form, train_stocks, train_tuples,
                            tuple_gradient_snr)
from .flat import (ForwardOnlyStaircase, StaircaseModel, TrueStaircase, smooth_staircase, staircase,
                   staircase_dataset, staircase_target, train_staircase, train_staircases)
from .parities import (harder_with_dimension, iterations_to_accuracy, parity, parity_dataset, parity_gradient_variance,
                       parity_net, random_subset, train_parity, walsh_hadamard)
from .periodic import (leading_order_variance, linear_periodic_dataset, linear_periodic_variance_closed_form,
                       periodic_gradient_variance, random_directions)
from .snr import gradient_snr, gradient_snr_stderr

__all__ = [
    "harder_with_dimension", "iterations_to_accuracy", "parity", "parity_dataset", "parity_gradient_variance", "parity_net", "random_subset",
    "train_parity",
    "walsh_hadamard", "gradient_snr", "gradient_snr_stderr",
    "leading_order_variance", "linear_periodic_dataset", "linear_periodic_variance_closed_form",
    "periodic_gradient_variance",
    "random_directions",
    "TupleNet", "k_tuples", "line_segment_images", "stocks_batch", "stocks_gradients", "stocks_market",
    "stocks_second_moment_ratio", "stocks_snr_closed_form", "train_stocks", "train_tuples", "tuple_gradient_snr",
    "PWLEncoder", "kink_shift_error", "pwl_autoencoder", "pwl_condition_number", "pwl_curves", "pwl_curves_from_code",
    "pwl_matrix", "random_pwl_code", "random_pwl_curves", "second_difference_matrix", "train_pwl_autoencoder",
    "train_pwl_encoder", "whitening",
    "ForwardOnlyStaircase", "StaircaseModel", "TrueStaircase", "smooth_staircase", "staircase", "staircase_dataset",
    "staircase_target", "train_staircase", "train_staircases",
]
