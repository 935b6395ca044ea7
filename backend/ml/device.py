"""Pick the torch device the encoders run on."""

from __future__ import annotations

import sys
from pathlib import Path

_CHOICES = ("auto", "cpu", "cuda")
# The NVIDIA kernel driver's files: without them CUDA cannot be available on Linux.
_NVIDIA_DRIVER = (Path("/proc/driver/nvidia/version"), Path("/dev/nvidiactl"))


def _no_nvidia_driver() -> bool:
    """True where CUDA is certainly absent, found without importing torch (seconds at start)."""
    return sys.platform.startswith("linux") and not any(p.exists() for p in _NVIDIA_DRIVER)


def resolve_device(preference: str) -> str:
    """Map "auto" | "cpu" | "cuda" to a concrete device name ("cpu" or "cuda").

    "auto" picks CUDA when available. Asking for "cuda" on a machine without it raises
    RuntimeError rather than silently falling back, so a misconfigured GPU host is noticed.
    """
    choice = str(preference).strip().lower()
    if choice not in _CHOICES:
        raise ValueError(f"Unknown device {preference!r}; expected one of {', '.join(_CHOICES)}")
    if choice == "cpu" or (choice == "auto" and _no_nvidia_driver()):
        return "cpu"

    import torch

    available = torch.cuda.is_available()
    if choice == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise RuntimeError(
            "EMBEDDING_DEVICE=cuda was requested but CUDA is not available "
            f"(torch {torch.__version__}, built with CUDA {torch.version.cuda or 'none'}); "
            "install a CUDA build of torch or set EMBEDDING_DEVICE=auto/cpu"
        )
    return "cuda"
