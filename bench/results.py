"""What bench/report.py and bench/balance_report.py share: JSON-lines runs grouped by key,
medians of a dotted field over a group, and the machine and commit a report names."""

import statistics
import subprocess


def values(runs, field):
    """The `field` ("latency_ms.p99") of each run that has it."""
    out = []
    for r in runs:
        v = r
        for part in field.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if v is not None:
            out.append(v)
    return out


def median(runs, field):
    vals = values(runs, field)
    return statistics.median(vals) if vals else float("nan")


def machine():
    """(CPU model, cores, short commit) of this run."""
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return cpu, cores, commit
