"""How many GPUs the local server could use."""

from __future__ import annotations

import ctypes
import os


def visible_gpu_count() -> int:
    """CUDA devices visible to a child process (honours ``CUDA_VISIBLE_DEVICES``); 0 without a driver."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1", "none", "NoDevFiles"):
        return 0
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value
