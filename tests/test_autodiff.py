"""The autodiff helpers against torch.func's dense Jacobians and one backward pass per point."""

import pytest
import torch
from torch import nn

from deepissues.autodiff import eval_mode, logits_and_jacobian, per_sample_gradients


def small_net(seed=0, out=3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Dropout(0.5), nn.Linear(5, out)).double()


def test_eval_mode_restores_the_mode_even_when_the_body_raises():
    net = small_net()
    with pytest.raises(RuntimeError):
        with eval_mode(net):
            assert not net.training and not net[2].training
            raise RuntimeError("inside")
    assert net.training and net[2].training
    net.eval()
    with eval_mode(net):
        pass
    assert not net.training  # control: a model in eval mode stays there
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        with eval_mode(lambda x: x):
            pass


def test_logits_and_jacobian_equal_the_dense_jacobian_of_each_point():
    net = small_net().eval()
    x = torch.rand(6, 4, dtype=torch.float64)
    logits, jac = logits_and_jacobian(net, x)
    dense = torch.stack([torch.func.jacrev(lambda z: net(z[None])[0])(point) for point in x])
    torch.testing.assert_close(logits, net(x).detach())
    torch.testing.assert_close(jac, dense)
    # control: in training mode dropout changes the map, so the Jacobians differ
    net.train()
    torch.manual_seed(1)
    assert not torch.allclose(logits_and_jacobian(net, x)[1], dense)


def test_logits_and_jacobian_keep_a_graph_only_when_asked():
    net = small_net().eval()
    x = torch.rand(3, 4, dtype=torch.float64)
    assert not logits_and_jacobian(net, x)[1].requires_grad
    _, jac = logits_and_jacobian(net, x, create_graph=True)
    jac.pow(2).sum().backward()
    assert net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="x must be a floating-point batch"):
        logits_and_jacobian(net, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="logits of shape"):
        logits_and_jacobian(lambda z: z.sum(1), x)


def test_per_sample_gradients_equal_one_backward_pass_per_point():
    net = small_net(out=1).eval()
    x = torch.rand(5, 4, dtype=torch.float64)
    outputs, grads = per_sample_gradients(net, x)
    for n in range(len(x)):
        net.zero_grad()
        net(x[n:n + 1])[0, 0].backward()
        expected = torch.cat([p.grad.flatten() for p in net.parameters()])
        torch.testing.assert_close(grads[n], expected)
    torch.testing.assert_close(outputs, net(x)[:, 0].detach())
    # control: the gradient of the batch's sum is not any single row
    net.zero_grad()
    net(x).sum().backward()
    batch = torch.cat([p.grad.flatten() for p in net.parameters()])
    torch.testing.assert_close(grads.sum(0), batch)
    assert not torch.allclose(grads[0], batch)
    with pytest.raises(ValueError, match="one output per input"):
        per_sample_gradients(small_net(out=3), x)
