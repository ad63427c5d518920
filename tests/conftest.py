import pytest
import torch

from deepissues import data, nets, repro, training


@pytest.fixture(scope="session")
def digits_mlp():
    """A small MLP trained on scikit-learn digits, and 100 test points: the attack tests' target."""
    repro.seed_everything(0)
    split = data.digits()
    model = nets.mlp([64, 64, 10])
    training.fit(model, split.x_train, split.y_train, epochs=30, progress=False)
    model.eval()
    return model, split.x_test[:100].clone(), split.y_test[:100].clone()


@pytest.fixture
def linear_model():
    """A linear 5-class classifier on 20 inputs, with points in [0.4, 0.6] far from the box walls."""
    g = torch.Generator().manual_seed(3)
    model = torch.nn.Linear(20, 5)
    with torch.no_grad():
        model.weight.copy_(torch.randn(5, 20, generator=g) * 4)
        model.bias.copy_(-model.weight.sum(1) * 0.5)   # boundaries pass near the centre 0.5
    x = 0.4 + 0.2 * torch.rand(40, 20, generator=g)
    return model, x, model(x).argmax(1).detach()


# Fixtures that read the built HTML book: a test using one needs `make book` first.
BOOK_FIXTURES = {"site", "browser", "visit", "page_words"}


def pytest_collection_modifyitems(items):
    for item in items:
        if BOOK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.book)
