"""The neural parts of quarry: model resolution, device choice, embedders and rerankers.

Nothing here knows about storage or HTTP.
"""

from models.device import DeviceChoice, select_device
from models.embedder import Embedder
from models.errors import ModelLoadError
from models.protocols import PairScorer, TextEncoder
from models.reranker import Reranker
from models.resolve import DEFAULT_EMBEDDER, DEFAULT_RERANKER, available_offline, resolve_model_reference

__all__ = [
    "DEFAULT_EMBEDDER",
    "DEFAULT_RERANKER",
    "DeviceChoice",
    "Embedder",
    "ModelLoadError",
    "PairScorer",
    "Reranker",
    "available_offline",
    "resolve_model_reference",
    "select_device",
    "TextEncoder",
]
