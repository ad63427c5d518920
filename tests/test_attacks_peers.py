"""Our attacks against ART and foolbox, used only here, as oracles, on the same model and points."""

import warnings

import numpy as np
import pytest
import torch

import art.attacks.evasion as art_evasion  # the peers are test requirements: a missing one fails here
import art.estimators.classification as art_pytorch
import foolbox as fb

from deepissues import attacks as A


@pytest.fixture(scope="module")
def art_classifier(digits_mlp):
    model, _, _ = digits_mlp
    return art_pytorch.PyTorchClassifier(model, loss=torch.nn.CrossEntropyLoss(), input_shape=(64,),
                                         nb_classes=10, clip_values=(0.0, 1.0))


def _robust(model, x, x_adv, y):
    with torch.no_grad():
        return float(((model(x).argmax(1) == y) & (model(x_adv).argmax(1) == y)).float().mean())


@pytest.mark.parametrize("norm,eps,alpha", [("linf", 0.1, 0.01), ("l2", 1.0, 0.1)])
def test_pgd_robust_accuracy_is_within_3_points_of_art(norm, eps, alpha, digits_mlp, art_classifier):
    model, x, y = digits_mlp
    art = art_evasion.ProjectedGradientDescent(art_classifier, norm=np.inf if norm == "linf" else 2, eps=eps,
                                               eps_step=alpha, max_iter=40, num_random_init=0, verbose=False)
    theirs = _robust(model, x, torch.from_numpy(art.generate(x.numpy(), y=y.numpy())), y)
    ours = A.robust_accuracy(model, A.PGD(model, eps=eps, alpha=alpha, steps=40, random_start=False, norm=norm), x, y)
    assert abs(ours - theirs) <= 0.03, (ours, theirs)


def test_minimal_l2_median_is_within_10_percent_of_foolbox_best(digits_mlp):
    model, x, y = digits_mlp
    correct = model(x).argmax(1) == y
    fmodel = fb.PyTorchModel(model, bounds=(0, 1))
    medians = {}
    for name, atk in (("DDN", fb.attacks.DDNAttack()), ("FMN", fb.attacks.L2FMNAttack()),
                      ("DeepFool", fb.attacks.L2DeepFoolAttack())):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, x_adv, success = atk(fmodel, x, y, epsilons=None)
        norms = (x_adv - x).norm(dim=1).masked_fill(~success, float("inf"))
        medians[name] = float(norms[correct].median())
    best = min(medians.values())
    for atk in (A.MinimalPerturbation(model, norm="l2"), A.DeepFool(model)):
        x_adv, success = atk(x, y)
        ours = float((x_adv - x).norm(dim=1).masked_fill(~success, float("inf"))[correct].median())
        assert ours <= 1.1 * best, (type(atk).__name__, ours, medians)


def test_carlini_wagner_succeeds_as_often_as_art_with_norms_no_larger(digits_mlp, art_classifier):
    model, x, y = digits_mlp
    budget = dict(binary_search_steps=5, max_iter=30, initial_const=1.0)
    art = art_evasion.CarliniL2Method(art_classifier, confidence=0.0, batch_size=len(x), verbose=False, **budget)
    x_art = torch.from_numpy(art.generate(x.numpy(), y=y.numpy()))
    with torch.no_grad():
        theirs = (model(x_art).argmax(1) != y) & (model(x).argmax(1) == y)
    x_ours, ours = A.CarliniWagnerL2(model, c=1.0, steps=30, search_steps=5)(x, y)
    assert int(ours.sum()) >= int(theirs.sum()), (int(ours.sum()), int(theirs.sum()))
    both = ours & theirs
    norm_ours = float((x_ours - x).norm(dim=1)[both].median())
    norm_theirs = float((x_art - x).norm(dim=1)[both].median())
    assert both.sum() > 50 and norm_ours <= 1.1 * norm_theirs, (norm_ours, norm_theirs)
