"""Time the guarantees and the exact search on the digits, and how tight they are.

    .venv/bin/python benchmarks/certify.py

Prints, for one-hidden-layer networks of growing width: the time of the exact minimal
perturbation (L2 and L∞) per point; the Cross-Lipschitz radius per point; and for the
64-64-10 network of chapter 06 the region attack against DeepFool and C&W (time and median L2).
"""

import time


from deepissues import attacks as A
from deepissues import certify as C
from deepissues import data
from deepissues.nets import mlp
from deepissues.repro import seed_everything
from deepissues.training import fit


def trained(widths, activation="relu"):
    seed_everything(0)
    net = mlp(widths, activation)
    fit(net, digits.x_train, digits.y_train, epochs=40, lr=3e-3, progress=False)
    return net.eval()


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


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
