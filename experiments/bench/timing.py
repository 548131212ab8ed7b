"""Wall-clock medians, interleaved across frameworks, and peak resident memory while a call runs."""
from __future__ import annotations

import os
import platform
import resource
import subprocess
import threading
import time
from typing import Callable

import numpy as np

_PAGE = os.sysconf("SC_PAGE_SIZE")


def current_rss() -> int:
    """Resident set size of this process now, in bytes (/proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class PeakRSS:
    """Peak RSS growth over the `with` block, sampled every `interval` s by a thread.

    The kernel's own high-water mark (`ru_maxrss`) never goes down, so it cannot separate two
    measurements in one process; sampling can, at the cost of missing peaks shorter than `interval`.
    """

    def __init__(self, interval: float = 0.002):
        self.interval, self.peak, self.base = interval, 0, 0
        self._stop = threading.Event()

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss())
            time.sleep(self.interval)

    def __enter__(self):
        self.base = self.peak = current_rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss())

    @property
    def growth(self) -> int:
        return self.peak - self.base


def interleaved(calls: dict[str, Callable[[], object]], repeats: int, memory: bool = True) -> dict:
    """Times each call `repeats` times, round-robin, so every framework sees the same machine load.

    Returns per name: median, min and all seconds, and the largest peak-RSS growth of any repeat
    (bytes). The calls must block until their result is ready.
    """
    seconds = {name: [] for name in calls}
    growth = {name: 0 for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            monitor = PeakRSS() if memory else None
            if monitor:
                monitor.__enter__()
            start = time.perf_counter()
            call()
            seconds[name].append(time.perf_counter() - start)
            if monitor:
                monitor.__exit__(None, None, None)
                growth[name] = max(growth[name], monitor.growth)
    return {name: {"median_s": float(np.median(s)), "min_s": float(np.min(s)), "all_s": [float(v) for v in s],
                   "peak_rss_growth_bytes": growth[name]} for name, s in seconds.items()}


def timed(call: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    out = call()
    return out, time.perf_counter() - start


def machine() -> dict:
    """CPU model, core count, load and `lscpu` text: where the numbers came from."""
    info = {"platform": platform.platform(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
            "loadavg": os.getloadavg(), "max_rss_bytes_at_start": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    try:
        info["lscpu"] = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        info["lscpu"] = None
    return info
