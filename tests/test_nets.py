import pytest
import torch
from torch import nn

from deepissues.nets import he_init_, mlp, n_neurons


def test_mlp_layout_and_output_shape():
    net = mlp([3, 5, 4, 2], activation="tanh")
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert net(torch.zeros(7, 3)).shape == (7, 2)
    assert n_neurons(net) == 9


def test_he_init_has_the_he_variance():
    torch.manual_seed(0)
    net = he_init_(nn.Sequential(nn.Linear(400, 500)), bias_std=0.3)
    assert net[0].weight.var().item() == pytest.approx(2 / 400, rel=0.02)
    assert net[0].bias.std().item() == pytest.approx(0.3, rel=0.15)
    assert torch.all(mlp([4, 6, 1], init="he")[0].bias == 0)


def test_mlp_accepts_a_module_class():
    assert isinstance(mlp([2, 3, 1], activation=nn.ELU)[1], nn.ELU)


def test_mlp_bad_input():
    with pytest.raises(ValueError, match="at least two positive ints"):
        mlp([3])
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp([2, 2], activation="swish")
    with pytest.raises(TypeError, match="name or an nn.Module class"):
        mlp([2, 2, 2], activation=3)
    with pytest.raises(ValueError, match="init must be one of"):
        mlp([2, 2], init="xavier")


def test_mlp_puts_dropout_after_every_activation():
    net = mlp([3, 5, 4, 2], activation="softplus", dropout=0.5)
    assert [type(m).__name__ for m in net] == ["Linear", "Softplus", "Dropout", "Linear", "Softplus", "Dropout",
                                               "Linear"]
    assert net[2].p == 0.5
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        mlp([3, 2], dropout=1.0)
