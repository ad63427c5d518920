"""How much of the machine's CPU is free: read from Linux's ``/proc/stat``.

``make book`` starts another chapter only when a core is idle (:func:`idle_cores`), so that on a
machine already busy with other work (a student's browser, a shared CI runner) its chapters do not
share cores with one another as well, and the benchmarks split a run's CPU time into busy, idle
and stolen shares (:func:`cpu_shares`).
"""

import os
import time
from pathlib import Path

STAT = Path("/proc/stat")
# /proc/stat's first line: cpu user nice system idle iowait irq softirq steal guest guest_nice (jiffies)
FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def read_stat(text=None):
    """{field: jiffies} of the machine's first ``cpu`` line in ``/proc/stat`` (or in ``text``)."""
    text = STAT.read_text() if text is None else text
    line = next(line for line in text.splitlines() if line.startswith("cpu "))
    values = [int(v) for v in line.split()[1:len(FIELDS) + 1]]
    if len(values) < len(FIELDS):
        raise ValueError(f"text: expected a cpu line with {len(FIELDS)} counters, got {line!r}")
    return dict(zip(FIELDS, values))


def cpu_shares(before, after):
    """Shares of all CPU time between two ``read_stat`` readings: "busy" (work of any process),
    "idle" (idle and waiting for disk) and "steal" (taken by the hypervisor). They add up to 1."""
    delta = {field: after[field] - before[field] for field in FIELDS}
    total = sum(delta.values())
    if total <= 0:
        raise ValueError(f"after: expected a later reading than before, got {total} jiffies between them")
    idle = delta["idle"] + delta["iowait"]
    return {"busy": (total - idle - delta["steal"]) / total, "idle": idle / total, "steal": delta["steal"] / total}


def idle_cores(window=0.5, cores=None):
    """How many cores' worth of the machine sat idle over the next ``window`` seconds.

    A float between 0 and ``cores`` (default: every core of the machine). Where there is no
    ``/proc/stat`` (macOS, Windows), the cores less the one-minute load average; where there is
    neither, every core.
    """
    cores = cores or os.cpu_count() or 1
    if not STAT.exists():
        try:
            return max(0.0, cores - os.getloadavg()[0])
        except (AttributeError, OSError):
            return float(cores)
    before = read_stat()
    time.sleep(window)
    return cpu_shares(before, read_stat())["idle"] * cores
