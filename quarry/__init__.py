"""quarry's Python client: `from quarry.client import Quarry`. Importing it loads no model and no server code."""

from quarry.client import Collection, Document, Hit, Job, Quarry, QuarryAPIError, SearchResult

__all__ = ["Collection", "Document", "Hit", "Job", "Quarry", "QuarryAPIError", "SearchResult"]
