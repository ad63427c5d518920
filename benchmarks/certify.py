"""Time the guarantees and the exact search on the digits, and how tight they are.

    .venv/bin/python benchmarks/certify.py

Prints, for one-hidden-layer networks of growing width: the time of the exact minimal
perturbation (L2 and L∞) per point; the Cross-Lipschitz radius per point; and for the
64-64-10 network of chapter 06 the region attack against DeepFool and C&W (time and median L2);
then, on a 784-256-10 network briefly trained on the MNIST sample, the time of IBP's and CROWN's
margin bounds for 200 points (median of repeats after a warm-up), of the certified radius, and of
the exact margins (mixed-integer programs) on a few points; and auto_LiRPA's CROWN for the same
setting where it can be imported (it is no dependency of the book: install it in an environment
of its own and put that on PYTHONPATH). Time on a quiet machine: other processes slow PyTorch's
threads far more than their share of the cores. What it prints is kept in benchmarks/certify.md,
with the machine and the speed of one of its cores (benchmarks/host.py).
"""

import datetime
import io
import statistics
import sys
import time
from pathlib import Path

import torch

from deepissues import attacks as A
from deepissues import certify as C
from deepissues import data
from deepissues.nets import mlp
from deepissues.repro import seed_everything
from deepissues.training import fit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from host import describe, machine, reference_seconds  # noqa: E402

OUTPUT = Path(__file__).resolve().parent / "certify.md"


class Tee(io.StringIO):
    """Standard output that is also kept, for the record."""

    def write(self, text):
        sys.__stdout__.write(text)
        return super().write(text)


sys.stdout = Tee()


def trained(widths, activation="relu"):
    seed_everything(0)
    net = mlp(widths, activation)
    fit(net, digits.x_train, digits.y_train, epochs=40, lr=3e-3, progress=False)
    return net.eval()


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def median_time(fn, repeats=9):
    """Median and least wall time of ``fn()`` over ``repeats`` calls after one warm-up call (other
    processes may share the machine: the median ignores their short bursts, the least time shows
    what a quiet machine gives)."""
    fn()
    seconds = [timed(fn)[1] for _ in range(repeats)]
    return statistics.median(seconds), min(seconds)


def lirpa_crown_time(net, x, y, eps):
    """auto_LiRPA's CROWN margin bounds on the same network and box: ((median, least) seconds,
    largest difference from ours); None where auto_LiRPA is not installed."""
    try:
        from auto_LiRPA import BoundedModule, BoundedTensor, PerturbationLpNorm
    except ImportError:
        return None
    lo, hi = (x - eps).clamp(0, 1), (x + eps).clamp(0, 1)
    bounded = BoundedModule(net, torch.zeros_like(x[:1]), verbose=0)
    box = BoundedTensor(x, PerturbationLpNorm(norm=float("inf"), eps=eps, x_L=lo, x_U=hi))
    eye = torch.eye(net[-1].out_features, dtype=x.dtype)
    spec = eye[y][:, None, :] - eye  # (N, K, K): row j is f_y − f_j
    with torch.no_grad():
        theirs = bounded.compute_bounds(x=(box,), C=spec, method="CROWN", bound_upper=False)[0]
        ours = C.margin_lower_bounds(net, x, y, eps, method="CROWN")
        rivals = torch.isfinite(ours)
        seconds = median_time(lambda: bounded.compute_bounds(x=(box,), C=spec, method="CROWN", bound_upper=False))
    return seconds, float((theirs - ours)[rivals].abs().max())


digits = data.digits()
x, y = digits.x_test[:20], digits.y_test[:20]

print("exact minimal perturbation, one hidden ReLU layer (s per point)")
for width in (8, 12, 16, 24):
    net = trained([64, width, 10])
    row = []
    for norm in ("l2", "linf"):
        try:
            _, seconds = timed(lambda: C.exact_min_perturbation(net, x[:5], norm, max_regions=5000))
            row.append(f"{norm} {seconds / 5:7.3f}")
        except RuntimeError:
            row.append(f"{norm}  > 5000 regions")
    print(f"  width {width:3d}: " + "   ".join(row))

print("Cross-Lipschitz radius, one hidden softplus layer (ms per point)")
for width in (32, 64, 128):
    net = trained([64, width, 10], "softplus")
    _, seconds = timed(lambda: C.cross_lipschitz_radius(net, digits.x_test[:200]))
    print(f"  width {width:3d}: {1000 * seconds / 200:6.2f}")

net = trained([64, 64, 10])
print("attacks on the 64-64-10 ReLU network, L2 (20 points)")
for name, attack in {"RegionAttack": A.RegionAttack(net, norm="l2"), "DeepFool": A.DeepFool(net),
                     "CarliniWagnerL2": A.CarliniWagnerL2(net, steps=200)}.items():
    (x_adv, ok), seconds = timed(lambda: attack(x, y))
    print(f"  {name:16s} {seconds:6.2f} s   median L2 {float((x_adv - x).norm(dim=1)[ok].median()):.4f}"
          f"   success {float(ok.float().mean()):.2f}")
_, seconds = timed(lambda: C.certified_accuracy(net, digits.x_test, digits.y_test, 0.02))
print(f"IBP certified accuracy on {len(digits.x_test)} points: {1000 * seconds:.1f} ms")

mnist = data.mnist_5k()
seed_everything(0)
big = mlp([784, 256, 10])
fit(big, mnist.x_train, mnist.y_train, epochs=2, lr=1e-3, progress=False)
big.eval()
points, labels, eps = mnist.x_test[:200], mnist.y_test[:200], 0.01
print(f"bounds on the 784-256-10 network, 200 MNIST points, L∞ eps = {eps} ({torch.get_num_threads()} threads)")
medians = {}
with torch.no_grad():
    for dtype in (torch.float32, torch.float64):
        net, xs = big.to(dtype), points.to(dtype)
        for method in C.METHODS:
            median, least = median_time(lambda: C.margin_lower_bounds(net, xs, labels, eps, method=method))
            medians[method, dtype] = median
            accuracy = C.certified_accuracy(net, xs, labels, eps, method=method)
            print(f"  {method:5s} {str(dtype)[6:]}: {1000 * median:6.1f} ms (least {1000 * least:5.1f})   "
                  f"certified accuracy {accuracy:.3f}")
    net = big.float()
    for method in C.METHODS:
        radii, seconds = timed(lambda: C.certified_radius(net, points, labels, eps_max=0.1, steps=16, method=method))
        print(f"  certified_radius, {method}, 16 bisection steps: {seconds:6.2f} s   median radius "
              f"{float(radii.median()):.4f}")
    _, seconds = timed(lambda: C.exact_margins(net, points[:5], labels[:5], eps))
    print(f"  exact margins (MILP): {seconds / 5:6.2f} s per point")
    lirpa = lirpa_crown_time(net, points, labels, eps)
    print("  auto_LiRPA CROWN float32: not installed" if lirpa is None else
          f"  auto_LiRPA CROWN float32: {1000 * lirpa[0][0]:6.1f} ms (least {1000 * lirpa[0][1]:5.1f})   "
          f"largest difference from ours {lirpa[1]:.1e}")
    if lirpa is not None:
        print(f"  CROWN float32, ours / auto_LiRPA's (medians): {medians['CROWN', torch.float32] / lirpa[0][0]:.2f}")
sys.stdout.flush()
OUTPUT.write_text(f"# Times of the guarantees and the exact search\n\n"
                  f"Measured {datetime.date.today()} on {machine()} by `benchmarks/certify.py`. "
                  f"{describe(reference_seconds())}\n\n```text\n{sys.stdout.getvalue()}```\n")
