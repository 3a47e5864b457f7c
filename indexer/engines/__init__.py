"""Where an indexing job runs: `local` (this process: indexer.pipeline) or `ray` (a Ray cluster: ray_engine).

The ray engine is optional (`pip install -e ".[ray]"`); nothing here imports Ray until a job asks for it.
"""

ENGINES = ("local", "ray")
