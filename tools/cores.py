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
# /proc/stat's cpu lines: cpu user nice system idle iowait irq softirq steal guest guest_nice (jiffies)
FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def read_stat(text=None, cpus=None):
    """{field: jiffies} of ``/proc/stat`` (or of ``text``): the machine's ``cpu`` line, or the sum
    of the ``cpuN`` lines of the CPUs numbered in ``cpus``."""
    text = STAT.read_text() if text is None else text
    names = {"cpu"} if cpus is None else {f"cpu{n}" for n in cpus}
    lines = [line for line in text.splitlines() if line.split(" ", 1)[0] in names]
    if len(lines) != len(names):
        raise ValueError(f"text: expected the lines of {sorted(names)}, found {len(lines)} of them")
    total = dict.fromkeys(FIELDS, 0)
    for line in lines:
        values = [int(v) for v in line.split()[1:len(FIELDS) + 1]]
        if len(values) < len(FIELDS):
            raise ValueError(f"text: expected a cpu line with {len(FIELDS)} counters, got {line!r}")
        total = {field: total[field] + value for field, value in zip(FIELDS, values)}
    return total


def cpu_shares(before, after):
    """Shares of all CPU time between two ``read_stat`` readings: "busy" (work of any process),
    "idle" (idle and waiting for disk) and "steal" (taken by the hypervisor). They add up to 1."""
    delta = {field: after[field] - before[field] for field in FIELDS}
    total = sum(delta.values())
    if total <= 0:
        raise ValueError(f"after: expected a later reading than before, got {total} jiffies between them")
    idle = delta["idle"] + delta["iowait"]
    return {"busy": (total - idle - delta["steal"]) / total, "idle": idle / total, "steal": delta["steal"] / total}


def usable_cpus():
    """The numbers of the CPUs this process may run on (a container or ``taskset`` may allow fewer
    than the machine has). A limit by CPU quota instead (``docker --cpus``) does not show here."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return list(range(os.cpu_count() or 1))


def idle_cores(window=0.5):
    """How many of the usable cores' worth (:func:`usable_cpus`) sat idle over the next ``window``
    seconds: a float between 0 and their number.

    Where ``/proc/stat`` cannot tell (macOS, Windows, a sandbox whose counters stand still), the
    cores less the one-minute load average, which lags a new load by a minute; where there is
    neither, every core, as if the machine were quiet.
    """
    cpus = usable_cpus()
    try:
        before = read_stat(cpus=cpus)
        time.sleep(window)
        return cpu_shares(before, read_stat(cpus=cpus))["idle"] * len(cpus)
    except (OSError, ValueError):
        pass
    try:
        return max(0.0, len(cpus) - os.getloadavg()[0])
    except (AttributeError, OSError):
        return float(len(cpus))
