"""Every public callable rejects bad input with a clear error that names the argument.

The table below holds at least one bad call for every callable in every module's ``__all__``
(dataclasses, exceptions and callables without parameters are exempt), and a test fails when a
new public callable arrives without one. Each case names the error and a pattern its message
must match: the argument's name, and where it helps what was expected.
"""

import inspect
from dataclasses import is_dataclass
from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from deepissues import attacks as A, certify as C, checks, claims, curvature, data, defenses, expressivity as E
from deepissues import failures as F, fairness, generalisation, glue, landscape, local_minima, nets, overparam
from deepissues import plotting, progress, repro, selfsupervised, spin_glass, stats, theory as T, training, widgets
from deepissues import autodiff
from deepissues.attacks import base, projections
from deepissues.certify import cross_lipschitz
from deepissues.failures import conditioning, decomposition, flat, parities

from .test_public_api import public_callables

with repro.seeded(0):  # fixed models and inputs, without moving the global stream of other tests
    NET = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    SMOOTH = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
    X = torch.rand(5, 4)
    IMAGE_NET = nn.Sequential(nn.Linear(16, 3))
Y = torch.tensor([0, 1, 2, 0, 1])
CE = nn.functional.cross_entropy
TARGET = F.staircase_target(5)
MACHINE = C.KernelMachine(torch.ones(3, 4) / 2, torch.ones(2, 3), torch.zeros(2), 1.0)


def case(fn, *args, error=ValueError, match, **kwargs):
    return fn, partial(fn, *args, **kwargs), error, match


def entered(context):
    """A context manager's bad input shows when it is entered."""
    def run():
        with context():
            pass
    return run


CASES = [
    # ----- attacks
    case(A.Attack, "not a model", error=TypeError, match="model must be a torch.nn.Module"),
    case(A.BoundedAttack, lambda x: x, error=TypeError, match="model must be a torch.nn.Module"),
    case(A.MinimalNormAttack, None, error=TypeError, match="model must be a torch.nn.Module"),
    case(base.as_images, torch.rand(2, 15), None, match="cannot read inputs of shape"),
    case(base.check_inputs, NET, X * 2, Y, match=r"x must lie in \[0, 1\]"),
    case(A.APGDT, NET, n_target_classes=0, match="n_target_classes must be an int >= 1"),
    case(T.margins.fit_mlps, [4, 3], X, Y, seeds=[0, 0], match="without repeats"),
    case(A.margin, torch.rand(5, 3), Y[:4], match="y must have shape"),
    case(A.norm_of, X, "L2", match="norm must be one of"),
    case(base.shrink_to_boundary, A.DeepFool(NET), X, X[:3], Y, torch.ones(5, dtype=torch.bool),
         match="x_adv must have"),
    case(A.CarliniWagnerL2, NET, steps=0, match="steps must be an int >= 1"),
    case(A.minimal_norms, [], X, Y, match="attacks must hold at least one"),
    case(A.perturbation_norms, X, X[:2], match="x and x_adv must have the same shape"),
    case(A.robust_accuracy, NET, A.FGSM(NET), X, Y, eps=0.1, match="eps and norm go together"),
    case(A.transfer_attack, NET, SMOOTH, A.FGSM(SMOOTH), X, Y, match="attack must be built on source_model"),
    case(A.gradient_masking_signs, NET, X, Y, 0.0, match="eps must be a number > 0"),
    case(A.worst_case_accuracy, NET, [A.FGSM(NET, eps=0.1)], X, Y, eps=0.2, norm="linf",
         match="every bounded attack must attack the threat model"),
    case(A.fooling_images, IMAGE_NET, torch.tensor([5]), (16,), match="targets must"),
    case(A.FGSM, NET, eps=-0.1, match="eps must be a number >= 0"),
    case(A.PGD, NET, norm="L2", match="norm must be one of"),
    case(A.DeepFool, NET, overshoot=-1, match="overshoot must be a number >= 0"),
    case(A.MinimalPerturbation, NET, restarts=-1, match="restarts must be an int >= 0"),
    case(projections.min_norm_step, torch.rand(2, 3), torch.rand(3), torch.zeros(2, 3), torch.ones(2, 3), "l2",
         match="b must have shape"),
    case(projections.project_ball_box, X, 0.1, "l3", X, match="norm must be one of"),
    case(A.project_l1_box, X, -1.0, -X, 1 - X, match="eps must be a number >= 0"),
    case(A.RegionAttack, NET, init="pgd", match="init must be one of"),
    case(A.Spatial, NET, n_rotations=0, match="n_rotations must be an int >= 1"),
    case(A.rotate_translate, torch.rand(2, 1, 4, 4), torch.zeros(3), torch.zeros(2, 2), match="angles must have shape"),
    case(A.Square, NET, p_init=1.5, match="p_init must be"),
    # ----- autodiff
    (autodiff.eval_mode, entered(partial(autodiff.eval_mode, "net")), TypeError, "model must be a torch.nn.Module"),
    case(autodiff.logits_and_jacobian, NET, torch.zeros(5, 4, dtype=torch.long), match="x must be a floating-point"),
    case(autodiff.per_sample_gradients, NET, X, match="one output per input"),
    # ----- certify
    case(C.KernelMachine, torch.rand(3, 4), torch.rand(2, 2), torch.zeros(2), 1.0, match=r"coef must be \(K, 3\)"),
    case(cross_lipschitz.activation_slope, nn.ReLU(), torch.zeros(2), error=TypeError,
         match="activation must be None, Softplus, Tanh or Sigmoid, got ReLU"),  # it returned the sigmoid's slope
    case(C.cross_lipschitz_radius, NET, X, error=TypeError, match="activation"),
    case(C.cross_lipschitz_radius_kernel, MACHINE, X, steps=0, match="steps must be an int >= 1"),
    case(C.gradient_difference_bound, SMOOTH, X, -1.0, torch.zeros(5, dtype=torch.long), match="radius must be a number >= 0"),
    case(C.kernel_gradient_difference_bound, MACHINE, X, 0.1, torch.full((5,), 2), match=r"c must be \(5,\) class"),
    case(cross_lipschitz.layers_without_dropout, "net", error=TypeError, match="model must be"),
    case(C.one_hidden_layer, NET[:2], error=TypeError, match="one-hidden-layer network"),
    case(C.one_vs_rest_svm, X, Y, -1.0, match="gamma must be a number > 0"),
    case(C.confidence_far_away, NET, X, [-1.0], match="alphas must"),
    case(C.certified_accuracy, NET, X, Y, -0.1, match="eps must be a number >= 0"),
    case(C.certified_radius, NET, X, Y, steps=0, match="steps must be an int >= 1"),
    case(C.interval_bounds, NET, X * 2, 0.1, match=r"x must lie in the box \[0, 1\]"),
    case(C.margin_lower_bounds, NET, X, Y[:2], 0.1, match=r"y must be \(5,\) integer labels"),
    case(C.margin_lower_bounds, NET, X, Y, 0.1, method="LP", match="method must be one of"),
    case(C.margin_lower_bounds, SMOOTH, X, Y, 0.1, method="CROWN", error=TypeError, match="alternating nn.Linear"),
    case(C.crown_margin_bounds, NET, X, X[:, :3], Y, match=r"lo and hi must both be \(N, 4\)"),
    case(C.crown_hidden_bounds, NET, X + 0.1, X, match="lo must be <= hi"),
    case(C.exact_margins, NET, X, Y, -0.1, match="eps must be a number >= 0"),
    case(C.certification_ladder, NET, X, Y, [0.0, -0.1], match="eps must be a number >= 0"),
    case(C.exact_margins, NET, X, Y.float(), 0.1, match=r"y must be \(5,\) int64 labels"),
    case(C.exactly_robust, NET, X, Y.float(), 0.1, match=r"y must be \(5,\) int64 labels"),
    case(C.crossing_step, np.zeros((1, 4)), np.zeros(1), np.zeros((3, 4)), np.zeros(3), np.zeros(4), 0, 0, "l2",
         match="other must differ from cls"),
    case(C.exact_min_perturbation, NET, X, norm="l0", match="norm must be one of"),
    case(C.min_norm_in_polyhedron, np.zeros((1, 4)), np.zeros(1), np.full(4, 0.5), np.ones(4), "l2",
         match="lower must be <= 0 <= upper"),
    case(C.norm_np, np.zeros(3), "max", match="norm must be one of"),
    # ----- checks
    case(checks.check_norm, "L2", match="norm must be one of"),
    case(checks.has_shape, "x", [1, 2], ("N",), error=TypeError, match="x must be a tensor or array"),
    case(checks.nonnegative, "eps", float("nan"), match="eps must be a number >= 0"),
    case(checks.one_of, "norm", "L2", ("l2",), match="norm must be one of"),
    case(checks.positive_int, "steps", True, match="steps must be an int >= 1"),
    case(checks.xy_pair, "data", (X, Y[:2]), match=r"data must be a pair \(x, y\)"),
    # ----- claims, data, glue, progress, plotting, widgets, repro
    case(claims.chapter, "", match="name must be"),
    case(claims.check, "x", True, kind="proves", match="kind of claim 'x' must be one of"),
    case(claims.Control, " ", False, match="what must name the control run"),
    case(claims.claims_dir, 3, error=TypeError, match="start must be"),
    case(claims.records, 3, error=TypeError, match="name must be"),
    case(data.digits, test_fraction=1.5, match="test_fraction must be"),
    case(data.mnist_5k, test_fraction=0.0, match=r"test_fraction must be in \(0, 1\)"),
    case(data.mnist, registry={"bad": "entry"}, match="registry must"),
    case(data.read_idx, "/nonexistent/file.idx", error=FileNotFoundError, match="nonexistent"),
    case(glue.glue, "", 1.0, match="name must be"),
    case(progress.progress_bar, range(3), 3, error=TypeError, match="desc must be a str"),
    case(plotting.plot_regions, [1, 2], error=TypeError, match="regions must be"),
    case(plotting.png_with_alt_text, "not a figure", error=TypeError, match="fig must be a matplotlib Figure"),
    case(plotting.describe, "not a figure", "A sentence long enough to pass the test.", error=TypeError,
         match="fig must be a matplotlib Figure"),
    case(widgets.interactive_figure, "plot", {}, error=TypeError, match="plot must be a callable"),
    case(widgets.static_note, {"a": 1}, {"b": (0, 1)}, match="controls and defaults must name the same"),
    case(widgets.move_each_control, {"slope": 1.0}, error=TypeError, match="figure must be a LiveFigure"),
    case(repro.generator, -1, match="seed must be a non-negative int"),
    case(repro.numpy_rng, 1.5, match="seed must be a non-negative int"),
    case(repro.offset_seed, "3", match="seed must be a non-negative int"),
    case(repro.seed_everything, -2, match="seed must be a non-negative int"),
    (repro.seeded, entered(partial(repro.seeded, -1)), ValueError, "seed must be a non-negative int"),
    # ----- curvature
    case(curvature.Hessian, NET, CE, (X,), match=r"data must be a pair \(x, y\)"),
    case(curvature.hvp, NET(X).sum(), list(NET.parameters()), [torch.zeros(1)], match="v must"),
    case(curvature.largest_gap, [3.0, 1.0], skip=5, match=r"values must be at least skip \+ 2"),
    case(curvature.smoothed_density, torch.ones(2), torch.ones(3), torch.linspace(0, 1, 5), 0.1,
         match="nodes and weights must"),
    # ----- defenses
    case(defenses.adversarial_training, NET, X, Y, A.DeepFool(NET), error=TypeError, match="must be a BoundedAttack"),
    case(defenses.cross_lipschitz_penalty, SMOOTH, X, method="exact", match="method must be one of"),
    case(defenses.distill, NET, SMOOTH, X, 0.0, match="temperature must be a number > 0"),
    case(defenses.interval_bound_training, NET, X, Y, 0.1, 10, kappa=1.5, match=r"kappa must be a number in \[0, 1\]"),
    case(defenses.interval_bound_training, NET, X, Y, 0.0, 10, match="eps must be a number > 0"),
    case(defenses.soft_cross_entropy, -1.0, match="temperature must be a number > 0"),
    # ----- expressivity
    case(E.activation_pattern, NET, torch.zeros(3, 5), match=r"x must have shape \(N, 4\)"),
    case(E.count_linear_regions_1d, NET, torch.zeros(4), torch.zeros(3), match="a and b must"),
    case(E.count_linear_regions_2d, NET, (0, 1, 0, 1), match="2 inputs"),
    case(E.deep_lower_bound, [0, 3], 2, match="every width must be an int >= 1"),
    case(E.deep_upper_bound, [3, 3], 0, match="n0 must be an int >= 1"),
    case(E.fit_side_by_side, [NET], torch.zeros(3, 5), torch.zeros(3, 3), 10, match=r"x must be an \(N, 4\)"),
    case(E.linear_pieces_1d, NET, torch.zeros(4), torch.zeros(4), match="a and b must"),
    case(E.linear_regions_2d, nn.Sequential(nn.Linear(2, 3), nn.ReLU()), (1, 0, 0, 1), match="box"),
    case(E.montufar_net, -1, 2, match="folds must be an int >= 0"),
    case(E.region_maps, NET, [True, False], match="pattern must have one entry per ReLU"),
    case(E.relu_layers, SMOOTH, error=TypeError, match="only nn.Linear and nn.ReLU"),
    case(E.sawtooth_net, 0, match="k must be an int >= 1"),
    case(E.shallow_interpolant, [0.0, 1.0], [1.0], match="knots and values must"),
    case(E.shallow_max_regions, -1, 2, match="n must be an int >= 0"),
    # ----- failures
    case(F.PWLEncoder, 10, "sparse", match="kind must be one of"),
    case(conditioning.filter_inputs, torch.zeros(5), match=r"f must be a \(m, n\) batch of curves"),
    case(F.kink_shift_error, torch.zeros(2, 3), torch.zeros(2, 3), -1, match="shift must be a number >= 0"),
    case(F.pwl_autoencoder, code=0, match="code must be an int >= 1"),
    case(F.pwl_condition_number, 1, match="n must be an int >= 2"),
    case(F.pwl_curves, 0, match="m must be an int >= 1"),
    case(F.pwl_curves_from_code, torch.zeros(2, 3), torch.zeros(2, 2), match="theta and c must"),
    case(F.pwl_matrix, 0, match="n must be an int >= 1"),
    case(F.random_pwl_code, 3, pieces=0, match="pieces must be an int >= 1"),
    case(F.random_pwl_curves, 3, n=0, match="n must be an int >= 1"),
    case(F.second_difference_matrix, 0, match="n must be an int >= 1"),
    case(F.train_pwl_autoencoder, 0, match="iterations must be an int >= 1"),
    case(F.train_pwl_encoder, "bogus", 10, match="kind must be one of"),
    case(F.train_pwl_encoder, "conv", 10, data="noise", match="data must be one of"),
    case(F.whitening, torch.zeros(3, 5), match="covariance is singular"),  # it returned inf
    case(decomposition.StockPolicy, 0, 3, match="d must be an int >= 1"),
    case(F.TupleNet, 0, match="k must be an int >= 1"),
    case(F.k_tuples, 2, 0, match="k must be an int >= 1"),
    case(F.line_segment_images, 0, match="n must be an int >= 1"),
    case(F.stocks_batch, 4, torch.tensor([0, 5]), 3, match="market must"),
    case(F.stocks_gradients, "both", 4, 5, 3, match="approach must be one of"),
    case(decomposition.stocks_loss, decomposition.StockPolicy(4, 3), torch.zeros(2, 4), torch.zeros(2, 3),
         torch.zeros(2, 3), "joint", match="approach must be one of"),
    case(F.stocks_market, 5, 0, match="k must be an int >= 1"),
    case(F.stocks_second_moment_ratio, 1, match="k must be an int >= 2"),
    case(F.stocks_snr_closed_form, 1, 3, match="d must be an int >= 2"),
    case(F.train_stocks, "end-to-end", 5, optimizer="rmsprop", match="optimizer must be one of"),
    case(F.train_tuples, 2, 5, approach="joint", match="approach must be one of"),
    case(F.tuple_gradient_snr, 2, "joint", match="approach must be one of"),
    case(F.tuple_gradient_snr, 2, "end-to-end", net=F.TupleNet(3, 14, 2), size=14, match="net must be a TupleNet"),
    case(F.tuple_gradient_snr, 2, "end-to-end", n_tuples=10, match="n_tuples must be an int >= 40"),
    case(F.decomposition.tuple_accuracy, 2, net=F.TupleNet(3, 14, 2), match="net must be a TupleNet with k = 2, got k = 3"),
    case(F.decomposition.tuple_accuracy, 2, test_size=0, match="test_size must be an int >= 1"),
    (flat.ForwardOnlyStaircase, partial(flat.ForwardOnlyStaircase.apply, torch.zeros(3), torch.tensor([1.0, 0.0])),
     ValueError, "steps must be a strictly increasing"),
    (flat.TrueStaircase, partial(flat.TrueStaircase.apply, torch.zeros(3), torch.tensor([0.0])),
     ValueError, "steps must be a strictly increasing"),
    case(F.StaircaseModel, "exact", 5, TARGET[2], match="method must be one of"),
    case(F.smooth_staircase, torch.zeros(3), TARGET[2], sharpness=0, match="sharpness must be a number > 0"),
    case(F.staircase, torch.zeros(3), [2.0, 1.0], match="steps must be a strictly increasing"),
    case(F.staircase_dataset, 0, TARGET, match="n must be an int >= 1"),
    case(F.staircase_target, 0, match="d must be an int >= 1"),
    case(F.train_staircase, "forward-only", 5, target=TARGET, schedule="step", match="schedule must be one of"),
    case(F.train_staircase, "forward-only", 5, target=TARGET, n_train=0, match="n_train must be an int >= 1"),
    case(F.train_staircases, [{"method": "forward-only"}], [5, 5], target=TARGET,
         match=r"iterations must be an int or a sequence of one per run \(1\), got 2"),
    case(parities.hinge, torch.zeros(3), torch.zeros(2), match="output and label must"),
    case(F.iterations_to_accuracy, [(1, 0.5)], 1.5, match=r"level must be an accuracy in \(0, 1\]"),
    case(F.parity, torch.ones(3, 4), torch.tensor([1, 0]), match="subset must be a 0/1 vector"),
    case(F.parity_dataset, 0, 4, match="n must be an int >= 1"),
    case(F.parity_gradient_variance, 4, loss="logistic", match="loss must be one of"),
    case(F.parity_net, 0, match="d must be an int >= 1"),
    case(F.random_subset, 0, match="d must be an int >= 1"),
    case(parities.subset_of_index, 8, 3, match=r"v must be an int in \[0, 8\)"),
    case(F.train_parity, 4, 0, match="iterations must be an int >= 1"),
    case(F.walsh_hadamard, torch.zeros(6, 2), match="the first axis must have length 2"),
    case(F.leading_order_variance, 3, -0.1, match="r must be a number >= 0"),
    case(F.linear_periodic_dataset, 4, 0, 0.1, match="d must be an int >= 1"),
    case(F.linear_periodic_variance_closed_form, -1.0, match="r must be a number >= 0"),
    case(F.periodic_gradient_variance, 3, 0.1, model="tree", match="model must be one of"),
    case(F.periodic_gradient_variance, 3, 0.1, psi="cos", match="psi must be one of"),
    case(F.harder_with_dimension, {5: [(50, 0.8)]}, match="at least two dimensions"),
    case(F.random_directions, 0, 3, 0.1, match="m must be an int >= 1"),
    case(F.gradient_snr, torch.zeros(1, 3), match="grads must"),
    case(F.gradient_snr_stderr, torch.zeros(10, 3), groups=6, match="groups must be at most"),
    # ----- fairness
    case(fairness.calibrated_scores, [1.5], match="base_rates must"),
    case(fairness.calibration_by_group, [0, 1], [0.2, 1.3], sensitive_features=[0, 0], match="scores must"),
    case(fairness.chouldechova_fpr, 1.0, 0.5, 0.1, match=r"base_rate must lie in \(0, 1\)"),  # it divided by zero
    case(fairness.chouldechova_fpr, 0.9, 0.2, 0.1, match="no classifier has these rates"),
    case(fairness.demographic_parity_difference, [0, 1], [0, 1, 1], sensitive_features=[0, 1],
         match="labels, predictions and groups must be non-empty and of one length"),
    case(fairness.equalized_odds_difference, [0, 2], [0, 1], sensitive_features=[0, 1],
         match="y_true must hold binary labels 0/1"),
    case(fairness.group_confusion, [0, 1], [0, 1], [0], match="must be non-empty and of one length"),
    case(fairness.confusion_rates, [[1, 2, 3], [4, 5, 6]], match=r"confusion must be a 2x2 array"),
    case(fairness.group_rates, [0, 1], [0, 3], [0, 1], match="y_pred must hold binary labels 0/1"),
    case(fairness.shortcut_accuracies, [0, 1], [0, 1], [0], match="must be non-empty and of one length"),
    case(fairness.shortcut_counts, [0, 1], [0, 1], [0, 2], match="groups must hold binary groups 0/1"),
    case(fairness.permuted_groups, {"a": [[1, -1], [0, 2]]}, match="non-negative integer counts"),
    case(fairness.spurious_digits, 1.5, match="strength must"),
    # ----- generalisation, landscape, local minima, nets, overparam
    case(generalisation.corrupt, X, Y, "random_labels", classes=2, match="classes must exceed every label"),
    case(generalisation.train_until_memorised, NET, X, Y, max_epochs=0, match="max_epochs must be an int >= 1"),
    case(landscape.interpolate, NET, SMOOTH, CE, (X, Y), extend=-0.5, match="extend must be a number >= 0"),
    case(landscape.loss_line, NET, [torch.zeros(1)], CE, (X, Y), match="direction must"),
    case(landscape.loss_plane, NET, None, None, CE, (X, Y), steps=0, match="steps must be an int >= 2"),
    case(landscape.random_direction, NET, normalization="filters", match="normalization must be one of"),
    case(local_minima.auer_dataset, 0, 2, 1.0, match="n_per_axis must be an int >= 1"),
    case(local_minima.auer_local_minima, torch.zeros(3, 2), torch.zeros(2), 3, match="log_grid must be an increasing"),
    case(local_minima.neuron_loss, torch.zeros(3), torch.zeros(4, 2), torch.zeros(4), match="w must"),
    case(local_minima.predicted_minima, 10, 0, match="d must be an int >= 1"),
    case(nets.he_init_, NET, bias_std=-1, match="bias_std must be a number >= 0"),
    case(nets.mlp, [4], match="widths must"),
    case(nets.n_neurons, "net", error=TypeError, match="model must be"),
    case(overparam.SkipNet, 4, 3, n_skip=-1, match="n_skip must be an int >= 0"),
    case(overparam.bottleneck_loss, Y.float(), 2, match=r"y must be \(N,\) non-negative int labels"),
    case(overparam.train_to_zero_error, lambda: SMOOTH, X, Y, [0], steps=5, lr=0.1, batch_size=6,
         match="batch_size must be at most the 5 training points, got 6"),
    case(overparam.train_to_zero_error, lambda: SMOOTH, X, Y, [0, 0], steps=5, lr=0.1, match="seeds must be"),
    case(overparam.train_to_zero_error, lambda: SMOOTH, X, Y, [0], steps=5, lr=0.1, tol=1, match=r"tol must lie in \(0, 1\)"),
    case(overparam.train_to_zero_error, lambda: nn.Linear(4, 2), X, Y, [0], steps=5, lr=0.1, progress=False,
         match="y's labels must lie below the networks' 2 outputs, got label 2"),
    case(overparam.feature_rank, NET, X, tol=-1, match="tol must be a number >= 0"),
    case(overparam.rank_from_singular_values, torch.tensor([2.0, 1.0]), (5, 3), match="shape must be"),
    case(overparam.sgd_to_zero_error, [nn.Linear(4, 3)], X, Y, [0.1, 0.2], epochs=1,
         match="lrs must give one step size per model"),
    case(overparam.train_architectures_to_zero_error, [lambda: SMOOTH], X, Y, [0], steps=5, lr=0.1,
         match="make_models must be a non-empty dict"),
    case(overparam.feature_singular_values, NET, X, layer=10, match="layer must"),
    case(overparam.fit_output_layer, NET, X, Y, error=TypeError, match="model must have a features"),
    case(overparam.prune_by_magnitude, NET, 1.5, match=r"fraction must be in \[0, 1\)"),
    case(overparam.random_features, 0, "relu", 4, match="width must be an int >= 1"),
    case(overparam.random_features_fit, 5, "gelu", X, Y, match="activation must be one of"),
    # ----- selfsupervised, stats
    case(selfsupervised.autoencoder, 4, 0, match="code must be an int >= 1"),
    case(selfsupervised.few_labels, [0, 1, 1], 0, match="per_class must be an int >= 1"),
    case(selfsupervised.linear_probe, np.zeros((3, 2)), [0, 1], np.zeros((2, 2)), [0, 1], match="same number"),
    case(selfsupervised.pretrain_autoencoder, torch.zeros(4), match=r"x must be \(N, d\)"),
    case(selfsupervised.untrained_encoder, 0, match="d_in must be an int >= 1"),
    case(selfsupervised.supervised_encoder, torch.zeros(4, 3), torch.zeros(5, dtype=torch.long), match=r"x must be \(N, d\)"),
    # ----- spin_glass
    case(spin_glass.threshold_energy, 1, match="p must be an int >= 2"),
    case(spin_glass.couplings, 1, match="n must be an int >= 2"),
    case(spin_glass.energy_and_gradient, torch.zeros(3, 3, 4), torch.zeros(2, 3), match="S must be an"),
    case(spin_glass.energy_and_gradient, torch.zeros(3, 3, 3), torch.zeros(2, 4), match=r"sigma must be an \(m, 3\)"),
    case(spin_glass.descend, torch.zeros(3, 3, 3), torch.ones(2, 3), lr=0, match="lr must be a number > 0"),
    case(spin_glass.spin_glass_minima, 10, 0, match="starts must be an int >= 1"),
    case(spin_glass.spin_glass_minima, 10, 2, dtype=torch.int64, match="dtype must be a torch floating"),
    case(stats.correlation_drop_p, 1.5, 10, 0.5, 10, match="r_before must"),
    case(stats.mean_excess_p, [1.0], [1.0, 2.0], match="at least 2"),
    case(stats.proportion_excess_p, 5, 3, 1, 3, match="hits_a must"),
    case(stats.spread_excess_p, [1.0, 2.0], [3.0], match="at least 2"),
    case(stats.sign_test_p, -1, 3, match="wins must be an int >= 0"),
    case(stats.fisher_exact_p, 3, 2, 0, 5, match="hits_a must be at most n_a=2"),
    case(stats.binomial_tail_p, 1, 0, 0.5, match="n must be"),
    case(stats.paired_permutation_p, [1.0, 2.0], [1.0], match="a and b must be paired"),
    case(stats.smallest_paired_p, 0, match="n must be"),
    case(stats.equivalence_p, [1.0, 2.0], [1.0, 3.0], -0.1, match="margin must be a finite number > 0"),
    # ----- theory
    case(T.EntropySGD, NET.parameters(), alpha=0, match=r"alpha must be in \(0, 1\]"),
    case(T.double_well, torch.zeros(2), sharp=(1.0, 0.3), match=r"sharp must be \(centre, width, depth\)"),
    case(T.landscape_finals, "sgd", 3.0, 0.0, match="loss must be a callable", error=TypeError),
    case(T.sharp_and_wide, torch.zeros(3), torch.zeros(2), match="sharp_centre must have shape"),
    case(T.double_well_finals, "adam", 0.0, match="method must be one of"),
    case(T.fit_entropy_sgd, NET, X, Y[:2], 1, match="x and y must"),
    case(T.flat_loss, NET, CE, (X,), match=r"data must be a pair \(x, y\)"),
    case(T.flatness, NET, CE, (X, Y), radius=0, match="radius must be a number > 0"),
    case(T.local_entropy, lambda z: z.sum(-1), torch.zeros(2), 0.0, match="gamma must be a number > 0"),
    case(T.sharpness, lambda z: z.sum(), torch.zeros(2), -1.0, match="radius must be a number > 0"),
    case(T.dropout_loss_sample, torch.zeros(3, 3), torch.zeros(3, 2), torch.zeros(3, 2), 1.5, np.random.default_rng(0),
         match="retain_prob must be"),
    case(T.dropout_objective, torch.zeros(3, 3), torch.zeros(3, 2), torch.zeros(4, 2), 0.5, match=r"U must be \(3, r\)"),
    case(T.dropout_solution, torch.zeros(3, 3), 0.0, 2, match="retain_prob must be"),
    case(T.dropout_sgd, torch.zeros(3, 3), 0.5, 2, steps=0, match="steps must be an int >= 1"),
    case(T.dropout_threshold, torch.ones(3), 0.5, 0, match="r must be an int >= 1"),
    case(T.equalising_rotation, torch.tensor([1.0, -1.0]), match="weights must"),
    case(T.factorized_objective, np.zeros((3, 3)), np.zeros((3, 2)), np.zeros((3, 2)), -1.0,
         match="lam must be a number >= 0"),
    case(T.factorized_solution, torch.zeros(3, 3), 0.1, 0, match="r must be an int >= 1"),
    case(T.nuclear_norm_solution, torch.zeros(3), 0.1, match="X must"),
    case(T.jacobian_margin_bound, NET, X, Y, jacobian_bound=-1.0, match="jacobian_bound must be"),
    case(T.jacobian_norm, NET, X, ord="nuc", match="ord must be one of"),
    case(T.jacobian_penalty, NET, "x", match="x must be a floating-point"),
    case(T.lipschitz_upper_bound, nn.Sequential(nn.Linear(2, 2), nn.ELU()), error=TypeError,
         match="only Linear layers and 1-Lipschitz activations"),
    case(T.margin_report, NET, X, Y, steps=0, match="steps must be an int >= 1"),
    case(T.output_margin, torch.rand(5, 3), Y[:4], match=r"logits must be \(N, K\)"),
    case(T.angle_through_depth, 4.0, 2, match=r"theta must be an angle in \[0, pi\]"),
    case(T.angles_through_random_layers, X, 1, 0, match="width must be an int >= 1"),
    case(T.pairwise_angles, torch.zeros(1, 3), match="z must"),
    case(T.angles_through_network, nn.Linear(2, 2), torch.zeros(3, 2), match="model must be an nn.Sequential"),
    case(T.class_angle_ratios, [np.ones(3), np.ones(3)], [0, 0, 0], match="labels must give at least one pair"),
    case(T.gaussian_mean_width, np.zeros(5), match="points must be a finite"),
    case(T.random_cyclic_shifts, torch.zeros(3, 10), 3, match=r"images must be a \(n, 9\) tensor"),
    case(T.CyclicInvariantNet, 8, 10, kernel=4, match="kernel must be an odd int"),
    case(T.relu_net_outputs, np.zeros((3, 2)), np.zeros((3, 4)), np.zeros(4), match="W must be"),
    case(T.relu_net_objective, np.zeros((3, 2)), np.zeros(3), np.zeros((2, 1)), np.zeros(1), -1.0,
         match="lam must be"),
    case(T.fit_homogeneous_relu, np.zeros((3, 2)), np.zeros(3), 0, 0.1, match="r must be an int >= 1"),
    case(T.relu_polar, np.zeros((3, 1)), np.zeros(3), match="X must have d >= 2"),
    case(T.polar_certificate, np.eye(2), np.zeros(2), np.zeros((2, 1)), np.zeros(1), 0.0, match="lam must be"),
    case(T.spectral_certificate, np.eye(3), np.zeros((2, 1)), np.zeros((3, 1)), 1.0, match="U must be"),
    case(T.relu_embedding_distortion, np.array([[1.0, 0.0], [0.0, 0.0]]), 10, match="points must have non-zero"),
    case(T.random_relu_layer_stats, 0.5, 0, match="width must be an int >= 1"),
    case(T.relu_layer_cosine, -0.1, match=r"theta must be an angle in \[0, pi\]"),
    case(T.relu_layer_distance, -1.0, 1.0, 0.5, match="norm_x must be a number >= 0"),
    case(T.error_decomposition, T.tanh_teacher(2), T.random_relu_features(2, 4), 0, d_in=2,
         match="n_train must be an int >= 1"),
    case(T.error_decomposition, T.tanh_teacher(2), T.random_relu_features(2, 4), 10, d_in=2, steps=[],
         match="steps must be an int >= 0, None or a non-empty list"),
    case(T.least_squares_gradient_descent, torch.zeros(4, 2), torch.zeros(3), 5, match=r"phi must be \(N, p\)"),
    case(T.random_relu_features, 2, 0, match="width must be an int >= 1"),
    case(T.tanh_teacher, 0, match="d_in must be an int >= 1"),
    # ----- training
    case(training.evaluate, NET, X, Y[:, None], match=r"y must be \(N,\) class labels"),
    case(training.fit, NET, X, Y, epochs=True, match="epochs must be an int >= 1"),
    case(training.sample_batches, X, 0, match="batch_size must be an int >= 1"),
    case(training.train_steps, NET, lambda m, b: m(b).sum(), lambda step: X, 5, "adam", error=TypeError,
         match="optimizer must be a torch.optim.Optimizer"),
]

# Callables whose every input is valid, with the reason.
EXEMPT = {repro.by_scale: "returns one of its two arguments, whatever they are; it reads only the environment, "
                          "which repro.scale checks"}


def callables_needing_a_case():
    """Every public callable but dataclasses, exceptions and callables without parameters."""
    found = {}
    for name, obj in public_callables():
        if inspect.isclass(obj) and (is_dataclass(obj) or issubclass(obj, BaseException)):
            continue
        try:
            if not inspect.signature(obj).parameters:
                continue
        except (TypeError, ValueError):
            pass
        found[id(obj)] = (name, obj)
    return found


def test_every_public_callable_has_a_bad_input_case():
    covered = {id(fn) for fn, *_ in CASES} | {id(fn) for fn in EXEMPT}
    missing = sorted(name for key, (name, _) in callables_needing_a_case().items() if key not in covered)
    assert not missing, "public callables without a bad-input case: " + ", ".join(missing)


@pytest.mark.parametrize("fn,call,error,match", CASES, ids=[f"{fn.__module__}.{fn.__qualname__}" for fn, *_ in CASES])
def test_bad_input_gets_a_clear_error(fn, call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_missing_case_is_caught(monkeypatch):
    """Control: a new public callable without a case fails the coverage test."""
    def brand_new(x):
        return x
    brand_new.__module__ = "deepissues.stats"
    monkeypatch.setattr(stats, "brand_new", brand_new, raising=False)
    monkeypatch.setattr(stats, "__all__", stats.__all__ + ["brand_new"])
    with pytest.raises(AssertionError, match="deepissues.stats.*brand_new"):
        test_every_public_callable_has_a_bad_input_case()
