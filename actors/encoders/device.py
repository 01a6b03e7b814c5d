"""Which device an actor encodes on: CUDA only where Ray gave it a GPU that really exists."""

from __future__ import annotations

import ctypes
import sys

# The NVIDIA driver library, which CUDA (torch's included) opens by this name at run time.
CUDA_DRIVER = "libcuda.so.1"


def choose_device(assigned_gpu_ids: list, cuda_available: bool) -> str:
    """CUDA only when Ray assigned this process a GPU and one really exists."""
    return "cuda" if assigned_gpu_ids and cuda_available else "cpu"


def driver_loadable(name: str = CUDA_DRIVER) -> bool:
    """Whether this process can load the NVIDIA driver library."""
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def cuda_available() -> bool:
    """torch.cuda.is_available(), without importing torch where no NVIDIA driver is installed."""
    # Ray's GPUs may be logical (declared on a node without one): there torch's own check would
    # cost every actor 1.5-2 s of CPU to import torch, only to say no. Without the driver CUDA
    # cannot start, so torch's answer is known. Elsewhere the library has other names: ask torch.
    if sys.platform.startswith("linux") and not driver_loadable():
        return False
    import torch

    return torch.cuda.is_available()


def assigned_device() -> str:
    """The device for this process: 'cuda' when it runs in Ray with a real GPU assigned, else 'cpu'."""
    import ray

    gpu_ids = ray.get_gpu_ids() if ray.is_initialized() else []
    return choose_device(gpu_ids, bool(gpu_ids) and cuda_available())
