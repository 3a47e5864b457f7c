"""Batch indexing jobs over REST: progress, path rules, cancel, and resume after a restart (real lifespan)."""

import os
import threading
import time

import pytest

from indexer.pipeline import Indexer
from service.jobs.manager import JobManager

N_DOCS = 40
TOPICS = ["bicycle tires", "sourdough bread", "green tea", "planets", "git branches", "house plants", "first aid", "coffee"]


def write_docs(folder, n=N_DOCS):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"note{i:03d}.txt").write_text(f"Note {i} about {TOPICS[i % len(TOPICS)]}: item number {i}.\n")
    return folder


@pytest.fixture
def roots(tmp_path):
    root = tmp_path / "roots"
    write_docs(root / "notes")
    return root


class BatchGate:
    """Lets committed batches through one permit at a time, so a test acts while a job is mid-way
    whatever the machine's speed: the job waits on the test, never the other way round."""

    def __init__(self):
        self._cond = threading.Condition()
        self._permits = 0
        self._open = False
        self.waiting = 0  # batches held at the gate right now

    def allow(self, batches: int) -> None:
        with self._cond:
            self._permits += batches
            self._cond.notify_all()

    def open(self) -> None:
        with self._cond:
            self._open = True
            self._cond.notify_all()

    def pass_through(self) -> None:
        with self._cond:
            self.waiting += 1
            self._cond.notify_all()
            ok = self._cond.wait_for(lambda: self._open or self._permits > 0, timeout=60)
            self.waiting -= 1
            assert ok, "the test never let this batch through"
            if not self._open:
                self._permits -= 1

    def wait_until_held(self, timeout: float = 30.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.waiting > 0, timeout=timeout), "no batch reached the gate"


@pytest.fixture
def jobs_client(make_client, roots, tmp_path):
    """jobs_client() opens the API with jobs allowed under `roots` (and one more root), 4 documents per batch."""
    return lambda: make_client(job_roots=f"{roots},{tmp_path / 'other-root'}", job_batch_documents=4)


@pytest.fixture
def gated_batches(monkeypatch):
    """Every batch a job commits first passes a BatchGate (index_paths commits through Indexer.commit).
    A stopping JobManager opens the gate after it has asked the job to stop, as a real shutdown would."""
    gate = BatchGate()
    real_commit, real_close = Indexer.commit, JobManager.close

    def commit(self, batch, *args, **kwargs):
        gate.pass_through()
        return real_commit(self, batch, *args, **kwargs)

    def close(self, timeout=60.0):
        self._stop.set()
        gate.open()
        return real_close(self, timeout)

    monkeypatch.setattr(Indexer, "commit", commit)
    monkeypatch.setattr(JobManager, "close", close)
    return gate


def start(client, name="kb"):
    if client.get(f"/v1/collections/{name}").status_code == 404:
        assert client.post("/v1/collections", json={"name": name}).status_code == 201


def wait_for(client, job_id, until, name="kb", timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/collections/{name}/jobs/{job_id}").json()
        if until(job):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job did not get there in {timeout}s: {job}")


def test_job_indexes_a_folder_and_reports_progress(roots, jobs_client):
    (roots / "notes" / "blob.txt").write_bytes(b"\x00\x01binary")
    with jobs_client() as client:
        start(client)
        created = client.post("/v1/collections/kb/jobs", json={"path": str(roots / "notes")})
        assert created.status_code == 202, created.text
        job = created.json()
        assert job["state"] in ("queued", "running") and job["path"] == str((roots / "notes").resolve())
        done = wait_for(client, job["id"], lambda j: j["state"] not in ("queued", "running"))
        assert done["state"] == "succeeded", done
        p = done["progress"]
        assert (p["documents_done"], p["documents_total"], p["added"], p["skipped"]) == (N_DOCS + 1, N_DOCS + 1, N_DOCS, 1)
        assert p["chunks"] == N_DOCS and p["rate_docs_per_s"] > 0 and p["eta_s"] == 0
        assert done["runs"] == 1 and done["finished_at"] >= done["started_at"]
        [error] = done["errors"]
        assert error["file"].endswith("blob.txt") and "binary" in error["message"]
        assert client.get("/v1/collections/kb").json()["documents"] == N_DOCS
        assert [j["id"] for j in client.get("/v1/collections/kb/jobs").json()["jobs"]] == [job["id"]]
        hits = client.post("/v1/collections/kb/search", json={"query": "item number 7", "mode": "lexical"}).json()["hits"]
        assert hits[0]["doc_id"] == "notes/note007.txt"
        metrics = client.get("/metrics").text
        assert 'quarry_jobs{state="succeeded"} 1.0' in metrics


def test_path_rules(roots, jobs_client, tmp_path):
    outside = write_docs(tmp_path / "outside", 2)
    os.symlink(outside, roots / "escape")  # a folder link leading out of the root
    os.symlink(outside / "note000.txt", roots / "notes" / "leak.txt")  # a file link inside an allowed folder
    with jobs_client() as client:
        start(client)

        def post(path, name="kb"):
            return client.post(f"/v1/collections/{name}/jobs", json={"path": path})

        for path in (str(outside), str(roots / "escape"), str(roots / ".." / "outside"), "/etc"):
            r = post(path)
            assert (r.status_code, r.json()["error"]["type"]) == (403, "path_not_allowed"), path
            assert "QUARRY_JOB_ROOTS" in r.json()["error"]["message"]
        r = post("notes")
        assert r.status_code == 403 and "relative" in r.json()["error"]["message"]
        r = post(str(roots / "missing"))
        assert (r.status_code, r.json()["error"]["type"]) == (422, "path_not_found")
        assert post(str(roots / "notes"), name="nope").status_code == 404
        assert client.get("/v1/collections/kb/jobs/nope").status_code == 404
        assert client.post("/v1/collections/kb/jobs", json={}).status_code == 422

        job = post(str(roots / "notes")).json()
        done = wait_for(client, job["id"], lambda j: j["state"] == "succeeded")
        assert done["progress"]["added"] == N_DOCS  # the linked file was not read
        [(file, message)] = [(e["file"], e["message"]) for e in done["errors"]]
        assert file == str(outside / "note000.txt") and "outside" in message


def test_jobs_are_disabled_without_roots(make_client, tmp_path):
    with make_client() as client:
        start(client)
        r = client.post("/v1/collections/kb/jobs", json={"path": str(tmp_path)})
        assert (r.status_code, r.json()["error"]["type"]) == (403, "jobs_disabled")
        assert "QUARRY_JOB_ROOTS" in r.json()["error"]["message"]


def test_cancel_running_and_queued_jobs(roots, jobs_client, gated_batches):
    with jobs_client() as client:
        start(client)
        gated_batches.allow(1)
        running = client.post("/v1/collections/kb/jobs", json={"path": str(roots / "notes")}).json()
        queued = client.post("/v1/collections/kb/jobs", json={"path": str(roots / "notes")}).json()
        wait_for(client, running["id"], lambda j: j["progress"]["documents_done"] >= 4)
        gated_batches.wait_until_held()  # the second batch waits for the test
        # queued behind the first: cancelled at once
        r = client.post(f"/v1/collections/kb/jobs/{queued['id']}/cancel")
        assert r.status_code == 200 and r.json()["state"] == "cancelled"
        # running: stops after the batch in flight, keeping what it committed
        assert client.delete(f"/v1/collections/kb/jobs/{running['id']}").json()["cancel_requested"] is True
        gated_batches.open()
        stopped = wait_for(client, running["id"], lambda j: j["state"] == "cancelled")
        done = stopped["progress"]["documents_done"]
        assert 4 <= done < N_DOCS and "cancelled after" in stopped["message"]
        assert client.get("/v1/collections/kb").json()["documents"] == done
        again = client.delete(f"/v1/collections/kb/jobs/{running['id']}")
        assert (again.status_code, again.json()["error"]["type"]) == (409, "job_finished")


def test_a_job_interrupted_by_a_restart_resumes_and_completes(roots, jobs_client, gated_batches, settings_env):
    with jobs_client() as client:
        start(client)
        gated_batches.allow(2)
        job = client.post("/v1/collections/kb/jobs", json={"path": str(roots / "notes")}).json()
        wait_for(client, job["id"], lambda j: j["progress"]["documents_done"] >= 8)
        gated_batches.wait_until_held()
    # the lifespan exited mid-job: the job stopped at a batch boundary and was left queued on disk
    from service.jobs.manager import JobStore

    store = JobStore(settings_env / "jobs.sqlite")
    [stored] = store.load()
    store.close()
    assert stored.state == "queued" and "resumes" in stored.message
    assert 8 <= stored.documents_done < N_DOCS

    with jobs_client() as client:
        done = wait_for(client, job["id"], lambda j: j["state"] == "succeeded")
        p = done["progress"]
        assert done["runs"] == 2
        assert (p["documents_done"], p["documents_total"]) == (N_DOCS, N_DOCS)
        assert p["added"] + p["unchanged"] == N_DOCS and p["unchanged"] >= stored.documents_done
        info = client.get("/v1/collections/kb").json()
        assert (info["documents"], info["chunks"]) == (N_DOCS, N_DOCS)  # nothing duplicated


def test_cli_bar_and_callback_show_the_same_numbers(settings_env, tmp_path, capsys):
    from service.runtime import Runtime
    from service.settings import load_settings

    folder = write_docs(tmp_path / "docs", 10)
    runtime = Runtime(load_settings())
    indexer = runtime.indexer(runtime.create_collection("c"))
    indexer.batch_documents = 3
    seen = []
    indexer.index_paths([folder], progress=True, on_progress=lambda p: seen.append((p.done, p.total, p.report.chunks)))
    runtime.close()
    assert seen[0] == (0, 10, 0) and seen[-1] == (10, 10, 10)
    assert [done for done, _, _ in seen] == [0, 3, 6, 9, 10, 10]
    bar = capsys.readouterr().err
    assert "10/10" in bar and "chunks=10" in bar


def test_a_job_skips_bad_office_files_like_the_cli(roots, jobs_client):
    """Server jobs load with the same loaders: a locked .docx and a fake .gz are errors, the rest is indexed."""
    from tests.format_factory import write_docx

    (roots / "notes" / "locked.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    (roots / "notes" / "fake.gz").write_text("not compressed")
    write_docx(roots / "notes" / "handbook.docx")
    with jobs_client() as client:
        start(client)
        job = client.post("/v1/collections/kb/jobs", json={"path": str(roots / "notes")}).json()
        done = wait_for(client, job["id"], lambda j: j["state"] not in ("queued", "running"))
        assert done["state"] == "succeeded" and done["progress"]["skipped"] == 2
        assert done["progress"]["chunks_embedded"] == done["progress"]["chunks"] > 0
        errors = {os.path.basename(e["file"]): e["message"] for e in done["errors"]}
        assert "password-protected" in errors["locked.docx"] and "not gzip" in errors["fake.gz"]
        assert client.get("/v1/collections/kb").json()["documents"] == N_DOCS + 1
