"""Shared fixtures. Tests needing ../shared/data skip cleanly when it is absent (a user's fresh clone).

The MiniLM model is loaded once per session and wrapped in the project's embedding cache
(`.cache/embeddings` in the checkout, the same one `run.py` uses), so every test that needs, say,
the SciFact corpus embeddings shares one encoding across tests and with the README's main job.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HARNESS_PROGRESS", "0")

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("MTEB_CACHE", str(REPO / ".cache" / "mteb"))
SHARED_DATA = REPO.parent / "shared" / "data"
CACHE_DIR = Path(os.environ.get("HARNESS_CACHE", REPO / ".cache" / "embeddings"))


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (fresh clone without the shared data sets)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def embedding_cache():
    from harness.cache import EmbeddingCache
    return EmbeddingCache(CACHE_DIR)


@pytest.fixture(scope="session")
def minilm(embedding_cache):
    """all-MiniLM-L6-v2 behind the shared embedding cache (load once per session)."""
    from adapters.models.sentence_transformers import packaged_minilm
    from harness.embedding import CachedModel
    return CachedModel(packaged_minilm(), embedding_cache, progress=False)


@pytest.fixture(scope="session")
def w2v(data_root):
    from adapters.models.word_vectors import from_folder
    return from_folder(str(data_root / "w2v_googlenews_wefe_subset"), name="w2v-googlenews-subset")
