"""Provenance of a result: versions of the package and its engines, machine, git commit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance() -> dict[str, Any]:
    """Versions of the package and its engines, the machine, and the git commit if any."""
    import tacrefine

    root = Path(tacrefine.__file__).resolve().parent.parent
    commit = _git(["rev-parse", "HEAD"], root)
    status = _git(["status", "--porcelain", "--untracked-files=no"], root) if commit else None
    try:
        import torch

        torch_version: str | None = torch.__version__
    except ImportError:
        torch_version = None
    return {
        "tacrefine": tacrefine.__version__,
        "torch": torch_version,
        "pybullet": _version("pybullet"),
        "gymnasium": _version("gymnasium"),
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "git_commit": commit,
        "git_dirty": bool(status) if status is not None else None,
    }


def machine_info() -> dict[str, Any]:
    """Where the numbers were measured."""
    import torch

    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    try:
        cores_available = len(os.sched_getaffinity(0))
    except AttributeError:
        cores_available = os.cpu_count()
    return {
        **provenance(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "cores_available": cores_available,
        "torch_threads": torch.get_num_threads(),
        "load_average_1_5_15": load,
    }
