"""What a benchmark's times are worth: the machine, the speed of one of its cores, and how much of
its CPU the hypervisor took while the benchmark ran.

Two virtual machines that report the same 2 cores and the same CPU model have run the same
chapters at speeds 2.3 times apart, so a time means little without them:
- ``reference_seconds``: the CPU time of one fixed workload (a small network trained on one torch
  thread, the kind of work the chapters do), in a fresh process, the best of three. Times taken on
  two machines compare once each is divided by its machine's reference.
- ``cpu_shares`` (from ``tools/cores.py``): the shares of the machine's CPU time that went to
  work, to idling and to steal (time the hypervisor gave to another guest) between two readings
  of ``/proc/stat``.

    .venv/bin/python benchmarks/host.py    # prints the machine and its reference time
"""

import contextlib
import os
import platform
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools.cores import STAT, cpu_shares, read_stat  # noqa: E402,F401  (the benchmarks' names for them)

REFERENCE = """
import time, torch
torch.manual_seed(0)
torch.set_num_threads(1)
model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
step = torch.optim.Adam(model.parameters())
x, y = torch.randn(512, 64), torch.randint(0, 10, (512,))
times = []
for _ in range(3):
    start = time.process_time()
    for _ in range(300):
        step.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        step.step()
    times.append(time.process_time() - start)
print(min(times))
"""


def machine():
    """Cores, architecture, CPU model (where /proc/cpuinfo names it) and Python version."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                 platform.processor())
    return (f"{os.cpu_count()} CPU cores ({platform.machine()}{', ' + model if model else ''}), "
            f"Python {platform.python_version()}")


def reference_seconds(python=sys.executable):
    """CPU seconds of ``REFERENCE`` (300 Adam steps of a 64-256-10 network on 512 points, one
    thread) in a fresh process of ``python``: the best of three runs."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run([python, "-c", REFERENCE], env=env, check=True, capture_output=True, text=True)
    return float(result.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def measured_shares():
    """Yields a dict that holds ``cpu_shares`` over the ``with`` block once it ends (empty where
    the machine has no /proc/stat)."""
    shares = {}
    before = read_stat() if STAT.exists() else None
    try:
        yield shares
    finally:
        if before is not None:
            shares.update(cpu_shares(before, read_stat()))


@contextlib.contextmanager
def spinning(on=True):
    """A busy machine for the ``with`` block: one other CPU-bound process beside the benchmark,
    ``python -c "while True: pass"`` (a student's browser, a shared CI runner), when ``on``."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if on else None
    try:
        yield
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


def describe(reference_s, shares=None):
    """Two sentences for a benchmark's record: the reference workload's time and, where measured,
    the CPU shares."""
    text = (f"The speed of one core: the reference workload of `benchmarks/host.py` took "
            f"**{reference_s:.2f} CPU s** (divide by it to compare times taken on two machines).")
    if shares is None:
        return text
    if not shares:
        return text + " CPU shares: not measured (no /proc/stat)."
    return (text + f" While it ran the machine's CPU was {shares['busy']:.0%} busy, {shares['idle']:.0%} idle, "
            f"and {shares['steal']:.1%} was taken by the hypervisor (steal).")


if __name__ == "__main__":
    print(machine())
    print(f"reference workload: {reference_seconds():.2f} CPU s")
