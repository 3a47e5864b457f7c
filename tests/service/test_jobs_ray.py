"""A REST batch job with QUARRY_JOB_ENGINE=ray, on the 2-node test cluster (real lifespan). Marked `ray`."""

import pytest

from tests.service.test_jobs import N_DOCS, wait_for, write_docs

pytestmark = pytest.mark.ray


def test_a_job_runs_on_ray_and_a_rerun_finds_everything_unchanged(tmp_path, make_client, ray_cluster):
    root = tmp_path / "roots"
    write_docs(root / "notes")
    with make_client(collections=["kb"], job_roots=str(root), job_engine="ray", ray_address=ray_cluster) as client:
        for expected in ({"added": N_DOCS, "unchanged": 0}, {"added": 0, "unchanged": N_DOCS}):
            job = client.post("/v1/collections/kb/jobs", json={"path": str(root / "notes")}).json()
            done = wait_for(client, job["id"], lambda j: j["state"] not in ("queued", "running"), timeout=300)
            assert done["state"] == "succeeded", done
            assert {k: done["progress"][k] for k in expected} == expected, done
            assert client.get("/v1/collections/kb").json()["documents"] == N_DOCS
        hits = client.post("/v1/collections/kb/search", json={"query": "item number 7", "mode": "lexical"}).json()["hits"]
        assert hits[0]["doc_id"].endswith("note007.txt")
