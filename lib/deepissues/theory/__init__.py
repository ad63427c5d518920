"""Results from the mathematics of deep learning (Vidal, Bruna, Giryes and Soatto 2017), one
module per topic."""

from .factorisation import (dropout_loss_sample, dropout_objective, dropout_solution, dropout_threshold,
                            equalising_rotation, factorized_objective, factorized_solution, nuclear_norm_solution)

__all__ = ["nuclear_norm_solution", "factorized_objective", "factorized_solution", "dropout_objective",
           "dropout_loss_sample", "dropout_solution", "dropout_threshold", "equalising_rotation"]
