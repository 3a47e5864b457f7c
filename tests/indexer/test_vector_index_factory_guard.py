"""faiss comes from an extra (cpu or gpu): without it, quarry says which pip command to run."""

import builtins

import pytest

from indexer.errors import QuarryError
from indexer.vectors.factory import create_index


def test_missing_faiss_is_one_clear_error(monkeypatch):
    real_import = builtins.__import__

    def no_faiss(name, *args, **kwargs):
        if name == "faiss":
            raise ImportError("No module named 'faiss'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_faiss)
    with pytest.raises(QuarryError, match=r'quarry\[cpu\]'):
        create_index("flat", 8)
