"""The decomposition-vs-end-to-end tuples experiment at the paper's sizes (28×28 images, 16
channels, batches of 200), on a GPU when there is one. Prints the primary-label accuracy curves.

    python benchmarks/failures_full_scale.py [steps] [k ...]
"""

import sys
import time

from deepissues import failures as F
from deepissues.repro import default_device

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
ks = [int(k) for k in sys.argv[2:]] or [1, 2, 3, 4]
print(f"device {default_device()}, {steps} steps")
for k in ks:
    for approach in ("end-to-end", "decomposition"):
        start = time.time()
        _, curve = F.train_tuples(k, steps, approach, progress=False, record_every=max(1, steps // 10))
        print(f"k={k} {approach:13s} {time.time() - start:6.1f} s  "
              + " ".join(f"{acc:.3f}" for _, acc in curve), flush=True)
