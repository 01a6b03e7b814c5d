"""What every benchmark records beside its figures: the machine, how busy it was, its fp32 limit."""

from __future__ import annotations

import os
import platform
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "docs" / "bench"


def machine_name() -> str:
    """CPU model, cores and memory of this machine."""
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
                 platform.processor())
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {memory:.0f} GiB"


def cpu_busy_share(seconds: float = 2.0) -> float:
    """Share of all CPU time spent working over the next few seconds (0-1), from /proc/stat."""
    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields[:8]), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 0.0 if total1 == total0 else 1 - (idle1 - idle0) / (total1 - total0)


def load_note() -> dict:
    """How busy the machine is just before a benchmark starts, and whether it counts as quiet.

    The load average trails by minutes (it still counts the previous benchmark of the same
    `make bench`), so quiet is judged by the CPU in use right now, before this one starts.
    """
    load = os.getloadavg()[0]
    busy = cpu_busy_share()
    quiet = busy < 0.2
    return {"load_before": round(load, 2), "cpu_busy_before": round(busy, 3), "quiet": quiet,
            "note": (f"{busy:.0%} of the CPU in use by other work as it started: "
                     + ("quiet" if quiet else "busy, figures slower than this machine can do"))}


def fp32_gflops(threads: int | None = None, size: int = 2048, seconds: float = 3.0) -> float:
    """Best fp32 GEMM rate of torch on this machine, GFLOP/s (the CPU's practical limit)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # warm-up: thread pool and packing buffers
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * size**3 / (time.perf_counter() - start) / 1e9)
    return best


def model_flops_per_token(config, mean_tokens: float) -> float:
    """Forward FLOPs per token of a BERT-style encoder: its dense layers plus attention."""
    hidden, inter, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    dense = 2 * (4 * hidden * hidden + 2 * hidden * inter)  # Q, K, V, output; FFN in and out
    attention = 2 * 2 * mean_tokens * hidden  # scores and the weighted sum, per token
    return layers * (dense + attention)


class MemorySampler:
    """Samples the summed RSS and PSS of a process and all its descendants (Ray's workers too)."""

    def __init__(self, pid: int, interval: float = 0.25):
        import psutil

        self._root = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.peak_rss = self.peak_pss = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            rss = pss = 0
            try:
                processes = [self._root, *self._root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in processes:
                try:
                    info = process.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self._stop.wait(self._interval)
