import pytest
import torch
from torch import nn

from deepissues import attacks as A
from deepissues import data
from deepissues.nets import mlp
from deepissues.repro import seed_everything
from deepissues.training import fit


class Saturated(nn.Module):
    """The same classifier with its logits multiplied by 10^4: every decision is unchanged, but
    in float32 the softmax saturates and the cross-entropy's gradient is exactly zero almost
    everywhere, which is how defensive distillation masks gradients."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return 1e4 * self.net(x)


@pytest.fixture(scope="module")
def trained_net():
    seed_everything(0)
    digits = data.digits()
    net = mlp([64, 32, 10])
    fit(net, digits.x_train, digits.y_train, epochs=20, lr=3e-3, progress=False)
    return net.eval(), digits.x_test[:150], digits.y_test[:150]


def test_a_saturated_softmax_shows_every_sign_of_gradient_masking(trained_net):
    net, x, y = trained_net
    masked = Saturated(net).eval()
    signs = A.gradient_masking_signs(masked, x, y, eps=0.1)
    assert signs.signs == {"black box beats white box": True, "a larger budget does no better": True,
                           "the unbounded attack leaves points": True}
    # the decisions are the same as the plain network's, so the truth is too: Square, which needs no
    # gradient, sees the same weakness in both
    plain = A.gradient_masking_signs(net, x, y, eps=0.1)
    assert abs(signs.square - plain.square) < 0.05


def test_the_same_classifier_without_saturation_shows_none(trained_net):
    net, x, y = trained_net
    signs = A.gradient_masking_signs(net, x, y, eps=0.1)
    assert not any(signs.signs.values()), signs
    assert signs.pgd_unbounded == 0.0 and signs.pgd_larger <= signs.worst
    # its PGD and Square, point by point, for a larger evaluation to reuse
    assert list(signs.worst_case.broken) == ["PGD", "Square"] and signs.worst_case.accuracy == signs.worst
    assert signs.pgd == pytest.approx(signs.worst + float((signs.worst_case.broken["Square"]
                                                           & ~signs.worst_case.broken["PGD"]).float().mean()))


def test_the_probe_checks_its_budget(trained_net):
    net, x, y = trained_net
    with pytest.raises(ValueError, match=r"eps must be in \(0, 1\]"):
        A.gradient_masking_signs(net, x, y, eps=2.0)
    with pytest.raises(ValueError, match="larger must be a number > 1"):
        A.gradient_masking_signs(net, x, y, eps=0.1, larger=1.0)
