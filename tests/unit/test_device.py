"""The encoding device: CUDA only where Ray gave a real GPU; torch is asked only where it can say yes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from actors.encoders import device
from actors.encoders.device import choose_device, cuda_available, driver_loadable
from tests.support.corpus import REPO


def test_cuda_only_with_an_assigned_gpu_that_exists():
    assert choose_device(["0"], True) == "cuda"
    assert choose_device(["0"], False) == "cpu"  # a logical GPU, declared on a node without one
    assert choose_device([], True) == "cpu"  # a GPU exists but Ray gave this actor none


def test_the_answer_is_torchs():
    import torch

    assert cuda_available() is torch.cuda.is_available()


def test_where_a_driver_is_installed_torch_decides(monkeypatch):
    import torch

    monkeypatch.setattr(device, "driver_loadable", lambda name=device.CUDA_DRIVER: True)
    assert cuda_available() is torch.cuda.is_available()  # here a CPU build of torch: no


def test_without_a_driver_torch_is_not_imported_to_say_no():
    if driver_loadable():
        pytest.skip("an NVIDIA driver is installed here")
    code = ("import sys; from actors.encoders.device import cuda_available; "
            "print(cuda_available(), 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["False", "False"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="library names are Linux's")
def test_a_library_that_is_not_there_is_not_loadable():
    assert not driver_loadable("libno-such-driver.so.1")
    assert driver_loadable("libc.so.6")
