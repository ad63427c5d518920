"""Defences are checked by what they do to attacks, and the regulariser against its definition."""

import pytest
import torch
from torch import nn

from deepissues import attacks as A
from deepissues import data
from deepissues.autodiff import logits_and_jacobian
from deepissues import certify as C
from deepissues.defenses import (adversarial_training, cross_lipschitz_penalty, distill, interval_bound_training,
                                 soft_cross_entropy)
from deepissues.nets import mlp
from deepissues.repro import seed_everything
from deepissues.training import evaluate, fit, sample_batches, train_steps


@pytest.fixture(scope="module")
def digits():
    return data.digits()


def _brute_force_penalty(model, x):
    _, jac = logits_and_jacobian(model, x)  # (N, K, d)
    k = jac.shape[1]
    total = sum((jac[:, l] - jac[:, m]).pow(2).sum(1) for l in range(k) for m in range(k))
    return total.mean() / k ** 2


@pytest.mark.parametrize("activation", [nn.Softplus(), nn.Softplus(beta=3.0), nn.Tanh(), nn.Sigmoid(), None])
def test_cross_lipschitz_penalty_closed_form_equals_autograd_and_the_double_sum(activation):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(7, 9), activation, nn.Linear(9, 4)) if activation else nn.Linear(7, 4)
    net = net.double()
    x = torch.randn(11, 7, dtype=torch.float64)
    closed = cross_lipschitz_penalty(net, x, "closed_form")
    assert closed.item() == pytest.approx(cross_lipschitz_penalty(net, x, "autograd").item(), rel=1e-10)
    assert closed.item() == pytest.approx(_brute_force_penalty(net, x).item(), rel=1e-10)
    # its parameter gradients agree too, so training with either is the same
    g1 = torch.autograd.grad(closed, list(net.parameters()), allow_unused=True)
    g2 = torch.autograd.grad(cross_lipschitz_penalty(net, x, "autograd"), list(net.parameters()), allow_unused=True)
    for a, b in zip(g1, g2):
        if a is not None and b is not None:
            assert torch.allclose(a, b, atol=1e-9)


def test_cross_lipschitz_penalty_works_on_any_model_by_autograd():
    torch.manual_seed(0)
    net = mlp([5, 6, 6, 3], "tanh").double()
    x = torch.randn(4, 5, dtype=torch.float64)
    assert cross_lipschitz_penalty(net, x).item() == pytest.approx(_brute_force_penalty(net, x).item(), rel=1e-10)
    with pytest.raises(TypeError, match="one-hidden-layer"):
        cross_lipschitz_penalty(net, x, "closed_form")
    with pytest.raises(ValueError, match="method must be"):
        cross_lipschitz_penalty(net, x, "exact")


def test_adversarial_training_raises_robust_accuracy_at_a_small_clean_cost(digits):
    d = digits
    x, y = d.x_test[:300], d.y_test[:300]
    seed_everything(0)
    standard = mlp([64, 64, 10])
    fit(standard, d.x_train, d.y_train, epochs=30, lr=3e-3, progress=False)
    seed_everything(0)
    robust = mlp([64, 64, 10])
    adversarial_training(robust, d.x_train, d.y_train, A.PGD(robust, eps=0.1, alpha=0.03, steps=7),
                         epochs=30, lr=3e-3, progress=False)

    def pgd_accuracy(net):
        return A.robust_accuracy(net, A.PGD(net, eps=0.1, alpha=0.025, steps=20), x, y)

    assert pgd_accuracy(robust) > pgd_accuracy(standard) + 0.15
    assert evaluate(robust, x, y) > evaluate(standard, x, y) - 0.05


def test_adversarial_training_needs_a_bounded_attack_on_the_same_model(digits):
    net, other = mlp([64, 10]), mlp([64, 10])
    with pytest.raises(ValueError, match="built on the model"):
        adversarial_training(net, digits.x_train, digits.y_train, A.PGD(other, eps=0.1))
    with pytest.raises(TypeError, match="must be a BoundedAttack.*got DeepFool"):
        adversarial_training(net, digits.x_train[:8], digits.y_train[:8], A.DeepFool(net), epochs=1, progress=False)


def test_soft_cross_entropy_is_cross_entropy_at_temperature():
    torch.manual_seed(0)
    logits, y = torch.randn(6, 4) * 5, torch.randint(0, 4, (6,))
    loss = soft_cross_entropy(7.0)
    expected = nn.functional.cross_entropy(logits / 7.0, y)
    assert float(loss(logits, y)) == pytest.approx(float(expected), rel=1e-6)
    assert float(loss(logits, nn.functional.one_hot(y, 4).float())) == pytest.approx(float(expected), rel=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        soft_cross_entropy(0)


def test_distillation_masks_gradients_and_carlini_wagner_breaks_it(digits):
    d, temperature = digits, 100
    x, y = d.x_test[:200], d.y_test[:200]
    seed_everything(0)
    teacher = mlp([64, 64, 10])
    fit(teacher, d.x_train, d.y_train, loss=soft_cross_entropy(temperature), epochs=100, lr=1e-2, progress=False)
    seed_everything(1)
    student = mlp([64, 64, 10])
    distill(teacher, student, d.x_train, temperature, epochs=100, lr=1e-2, progress=False)
    assert evaluate(student, x, y) > 0.9
    # the raw loss has exactly zero gradient at most points: the softmax saturates in float32
    grad, _ = A.FGSM(student).loss_gradient(x, y)
    assert (grad.flatten(1).abs().amax(1) == 0).float().mean() > 0.8
    assert A.robust_accuracy(student, A.FGSM(student, eps=0.1), x, y) > 0.85
    assert A.robust_accuracy(student, A.CarliniWagnerL2(student, steps=100), x, y, eps=1.0, norm="l2") < 0.1


@pytest.mark.parametrize("method", ["IBP", "CROWN"])
def test_interval_bound_training_at_a_vanishing_radius_is_plain_cross_entropy_training(method):
    # at eps -> 0 the worst-case logits are the logits shifted by f_y, and the cross-entropy does
    # not see a shift, so the loss is the clean one whatever kappa: the same steps as plain Adam
    x, y = torch.rand(40, 5, dtype=torch.float64), torch.arange(40) % 3
    seed_everything(0)
    ours = mlp([5, 8, 3]).double()
    plain = mlp([5, 8, 3]).double()
    plain.load_state_dict(ours.state_dict())
    losses = interval_bound_training(ours, x, y, eps=1e-12, steps=15, batch_size=16, lr=1e-2, method=method,
                                     progress=False)
    batches = sample_batches((x, y), 16)
    train_steps(plain, lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]), batches, 15,
                torch.optim.Adam(plain.parameters(), lr=1e-2), progress=False)
    for a, b in zip(ours.parameters(), plain.parameters()):
        torch.testing.assert_close(a, b)
    assert len(losses) == 15
    # negative control: at a real radius the worst case costs more than the clean loss, and the
    # weights part ways
    seed_everything(0)
    robust = mlp([5, 8, 3]).double()
    robust_losses = interval_bound_training(robust, x, y, eps=0.3, steps=15, batch_size=16, lr=1e-2, method=method,
                                            warmup=0.0, progress=False)
    assert robust_losses[0] > losses[0] + 1e-3
    assert not torch.allclose(robust[0].weight, ours[0].weight)


def test_interval_bound_training_makes_a_network_certifiable(digits):
    x, y = digits.x_test[:150], digits.y_test[:150]
    seed_everything(0)
    certifiable = mlp([64, 16, 16, 10])
    interval_bound_training(certifiable, digits.x_train, digits.y_train, eps=0.11, steps=1500, lr=3e-3,
                            progress=False)
    certifiable.eval()
    seed_everything(0)
    standard = mlp([64, 16, 16, 10])
    fit(standard, digits.x_train, digits.y_train, epochs=30, lr=3e-3, progress=False)
    standard.eval()
    assert C.certified_accuracy(certifiable, x, y, 0.1) > 0.5
    assert evaluate(certifiable, x, y) > 0.8
    # the control: a network trained on the clean loss alone is certified nowhere at this radius
    assert C.certified_accuracy(standard, x, y, 0.1) < 0.05


def test_interval_bound_training_takes_adams_steps_to_the_bit_one_parameter_at_a_time_or_all_at_once(digits,
                                                                                                     monkeypatch):
    # it runs Adam over all the parameters per operation (foreach), which is faster on a small network;
    # the arithmetic is the same as Adam's one parameter at a time, so the weights are too
    x, y = digits.x_train[:400], digits.y_train[:400]
    seed_everything(0)
    together = mlp([64, 16, 16, 10])
    apart, other_lr = mlp([64, 16, 16, 10]), mlp([64, 16, 16, 10])
    apart.load_state_dict(together.state_dict())
    other_lr.load_state_dict(together.state_dict())
    interval_bound_training(together, x, y, eps=0.11, steps=60, lr=3e-3, progress=False)
    adam = torch.optim.Adam
    monkeypatch.setattr(torch.optim, "Adam", lambda params, **kw: adam(params, **{**kw, "foreach": False}))
    interval_bound_training(apart, x, y, eps=0.11, steps=60, lr=3e-3, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(together.parameters(), apart.parameters()))
    # control: the comparison sees a change as small as another learning rate
    interval_bound_training(other_lr, x, y, eps=0.11, steps=60, lr=3.1e-3, progress=False)
    assert not all(torch.equal(a, b) for a, b in zip(together.parameters(), other_lr.parameters()))


def test_the_penalty_takes_the_closed_form_exactly_where_one_hidden_layer_accepts_the_network():
    # the penalty judges the architecture from the layers' types, without one_hidden_layer's float64
    # copy of the weights at every step; both must agree on which networks have the closed form
    from deepissues.certify.cross_lipschitz import one_hidden_layer
    torch.manual_seed(0)
    x = torch.rand(8, 6, dtype=torch.float64)
    networks = [nn.Linear(6, 3), nn.Sequential(nn.Linear(6, 3)), mlp([6, 5, 3], "softplus"), mlp([6, 5, 3], "tanh"),
                mlp([6, 5, 3], "sigmoid"), mlp([6, 5, 3], "softplus", dropout=0.5), mlp([6, 5, 3]),
                mlp([6, 5, 4, 3], "softplus"), nn.Sequential(nn.Linear(6, 5), nn.Softplus(), nn.Softplus(), nn.Linear(5, 3))]
    accepted = []
    for net in networks:
        net = net.double().eval()
        try:
            one_hidden_layer(net)
            accepted.append(True)
        except TypeError:
            accepted.append(False)
        auto = cross_lipschitz_penalty(net, x)
        if accepted[-1]:
            assert torch.equal(auto, cross_lipschitz_penalty(net, x, "closed_form"))
        else:
            with pytest.raises(TypeError):
                cross_lipschitz_penalty(net, x, "closed_form")
            assert torch.equal(auto, cross_lipschitz_penalty(net, x, "autograd"))
    assert accepted == [True] * 6 + [False] * 3   # control: ReLU and deeper networks have no closed form
