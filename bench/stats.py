"""Small statistics and the description of the machine the numbers come from."""

import os
import platform
import statistics
import time
from importlib import metadata


def median(values):
    return statistics.median(values) if values else float("nan")


def percentile(values, p):
    """The p-th percentile (0–100), linear between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def timed(func, *args, **kwargs):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - start, result


def ms(seconds):
    return f"{seconds * 1000:.2f} ms"


def ratio(x):
    return f"{x:.2f}×"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine(cursor):
    """nproc, memory, CPU model, PostgreSQL/Python/Django/django-q2 versions."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
                break
    cursor.execute("SHOW server_version")
    pg = cursor.fetchone()[0]
    cursor.execute("SHOW shared_buffers")
    shared_buffers = cursor.fetchone()[0]
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "cpu": cpu,
        "postgresql": f"{pg} (shared_buffers {shared_buffers})",
        "python": platform.python_version(),
        "django": metadata.version("django"),
        "django-q2": metadata.version("django-q2"),
        "kernel": platform.release(),
    }
