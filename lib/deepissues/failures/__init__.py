"""The four failure families of gradient-based deep learning (Shalev-Shwartz, Shamir and Shammah 2017).

So far: non-informative gradients for parities (:mod:`.parities`) and the gradient
signal-to-noise ratio (:mod:`.snr`).
"""

from .parities import (parity, parity_dataset, parity_gradient_variance, parity_net, random_subset, train_parity,
                       walsh_hadamard)
from .snr import gradient_snr

__all__ = ["parity", "parity_dataset", "parity_gradient_variance", "parity_net", "random_subset", "train_parity",
           "walsh_hadamard", "gradient_snr"]
