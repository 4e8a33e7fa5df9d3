"""The machine a benchmark runs on: its CPU, cores, memory, load, versions, and this process's RSS."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
import time
from typing import Any

import cv2

__all__ = ["BUSY_WARNING", "cpu_busy", "machine_info", "rss_mb", "usable_cpus"]

BUSY_WARNING = 0.1  # other processes using more than this share of the CPU make a run unreliable


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Share of all cores' time that was not idle during ``seconds`` of sleep here (Linux only).

    The load average counts tasks that wait on disk or sit in uninterruptible kernel sleep, so it
    can read 1.0 on an idle machine; this reads the CPU's own counters while the caller sleeps,
    so what it sees is the other processes' use.
    """

    def sample():
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return None if total <= 0 else round(max(0.0, 1 - (idle1 - idle0) / total), 4)



def rss_mb(field: str = "VmHWM") -> float | None:
    """Resident memory of this process in MiB: ``VmHWM`` (peak) or ``VmRSS`` (now)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    if field == "VmHWM":
        try:
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)
        except (ImportError, OSError):
            return None
    return None


def usable_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def machine_info() -> dict[str, Any]:
    """CPU model, cores, RAM, platform, load average and library versions of this machine."""
    info: dict[str, Any] = {"cpu_model": platform.processor() or platform.machine(),
                            "logical_cores": os.cpu_count(), "usable_cores": len(usable_cpus()),
                            "platform": platform.platform(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["ram_gib"] = round(int(line.split()[1]) / 1024 ** 2, 1)
                    break
    except OSError:
        pass
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as f:
            quota, period = f.read().split()[:2]
            if quota != "max":
                info["cgroup_cpu_quota"] = round(int(quota) / int(period), 2)
    except (OSError, ValueError):
        pass
    if hasattr(os, "getloadavg"):
        info["load_average_start"] = [round(x, 2) for x in os.getloadavg()]
    info["cpu_busy_start"] = cpu_busy()
    versions = {}
    for dist in ("seqloaders", "numpy", "opencv-python-headless", "tensorflow", "keras", "albumentations"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    if not any(name.startswith("opencv") for name in versions):
        versions["opencv"] = cv2.__version__
    info["versions"] = versions
    return info
