"""Chapters 05–06, adversarial examples and robustness guarantees.

Adversarial attacks, verified against closed forms and peer libraries.

Conventions as in torchattacks: inputs in [0, 1], the model returns logits, each attack is a
class configured in its constructor and called as ``atk(x, y)``. A :class:`BoundedAttack` returns
``x_adv``; a :class:`MinimalNormAttack` returns ``(x_adv, success)`` as foolbox does.
"""

from .base import NORMS, Attack, BoundedAttack, MinimalNormAttack, margin, norm_of
from .carlini import CarliniWagnerL2
from .evaluation import (Transfer, WorstCase, minimal_norms, perturbation_norms, robust_accuracy, transfer_attack,
                         worst_case_accuracy)
from .gradient import FGSM, PGD
from .masking import MaskingSigns, gradient_masking_signs
from .minimal import DeepFool, MinimalPerturbation
from .projections import min_norm_step, project_l1_box
from .fooling import fooling_images
from .region import RegionAttack
from .spatial import Spatial, rotate_translate
from .square import Square
from .targeted import APGDT

__all__ = ["NORMS", "norm_of", "Attack", "BoundedAttack", "MinimalNormAttack", "margin", "FGSM", "PGD",
           "DeepFool", "CarliniWagnerL2", "MinimalPerturbation", "RegionAttack", "fooling_images", "Square",
           "Spatial", "rotate_translate", "transfer_attack", "Transfer", "robust_accuracy",
           "worst_case_accuracy", "WorstCase", "perturbation_norms", "minimal_norms", "min_norm_step",
           "project_l1_box", "gradient_masking_signs", "MaskingSigns", "APGDT"]
