"""How fast is the exact region count, and what does grid sampling miss?

Run with ``.venv/bin/python benchmarks/linear_regions.py``. For random He-initialised
nets of growing size it prints the time of the exact count in [-1, 1]^2 and the number of
distinct activation patterns that a dense grid finds in the same box, which can only be
lower: sampling misses the small regions.
"""

import time

import numpy as np
import torch

from deepissues import expressivity as ex
from deepissues.nets import mlp


def main(resolution=400, seeds=3):
    xs = np.linspace(-1, 1, resolution)
    grid = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)
    print(f"{'widths':>16} {'exact':>7} {'grid':>7} {'exact s':>8} {'grid s':>7}")
    for widths in ([16], [64], [8, 8], [16, 16, 16], [32, 32, 32], [16] * 6):
        for seed in range(seeds):
            torch.manual_seed(seed)
            net = mlp([2, *widths, 1], init="he", bias_std=0.5)
            start = time.perf_counter()
            exact = ex.count_linear_regions_2d(net, (-1, 1, -1, 1))
            middle = time.perf_counter()
            sampled = len(np.unique(ex.activation_pattern(net, grid).numpy(), axis=0))
            end = time.perf_counter()
            print(f"{str(widths):>16} {exact:7d} {sampled:7d} {middle - start:8.3f} {end - middle:7.3f}")


if __name__ == "__main__":
    main()
