import pytest

from indexer.catalog import Catalog


@pytest.fixture
def catalog(tmp_path):
    """An empty catalog in a throwaway data dir, closed (indexes saved) after the test."""
    catalog = Catalog(tmp_path / "data")
    yield catalog
    catalog.close()
