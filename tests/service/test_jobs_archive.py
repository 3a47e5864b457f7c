"""Archive indexing jobs over REST: zip and tar uploads, unsafe members, size limits, scopes."""

import io
import tarfile
import time
import zipfile

import pytest

URL = "/v1/collections/kb/jobs/archive"
ZIP = {"Content-Type": "application/zip"}
TGZ = {"Content-Type": "application/gzip"}
FILES = {"a.txt": "Alpha note about bicycle tires.\n", "sub/b.md": "# Bread\n\nSourdough bread needs time.\n"}


def make_zip(files: dict[str, str | bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_tar(files: dict[str, str], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


@pytest.fixture
def client(make_client):
    with make_client(collections=["kb"]) as client:
        yield client


def wait_done(client, job_id, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/collections/kb/jobs/{job_id}").json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job did not finish in {timeout}s: {job}")


def doc_ids(client):
    return sorted(d["doc_id"] for d in client.get("/v1/collections/kb/documents").json()["documents"])


def uploads(settings_env):
    folder = settings_env / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def error(response, status, type_):
    assert response.status_code == status, response.text
    assert response.json()["error"]["type"] == type_, response.text
    return response.json()["error"]["message"]


def test_zip_upload_indexes_its_files_and_cleans_up(client, settings_env):
    r = client.post(URL, params={"name": "docs"}, content=make_zip(FILES), headers=ZIP)  # no QUARRY_JOB_ROOTS set
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["source"] == "archive" and job["path"].endswith(f"uploads/{job['id']}/docs")
    done = wait_done(client, job["id"])
    assert done["state"] == "succeeded" and done["progress"]["added"] == 2, done
    assert doc_ids(client) == ["docs/a.txt", "docs/sub/b.md"]
    assert uploads(settings_env) == []  # the unpacked files are gone once indexed


def test_tar_gz_upload_with_default_name(client):
    r = client.post(URL, content=make_tar(FILES), headers=TGZ)
    assert r.status_code == 202, r.text
    assert wait_done(client, r.json()["id"])["state"] == "succeeded"
    assert doc_ids(client) == ["upload/a.txt", "upload/sub/b.md"]


def test_zip_slip_is_refused_and_nothing_lands_outside(client, settings_env):
    body = make_zip({"ok.txt": "fine", "../evil.txt": "pwned"})
    message = error(client.post(URL, params={"name": "docs"}, content=body, headers=ZIP), 422, "unsafe_archive_member")
    assert "../evil.txt" in message and "'..'" in message
    assert not list(settings_env.parent.rglob("evil.txt"))
    assert uploads(settings_env) == [] and client.get("/v1/collections/kb/jobs").json()["jobs"] == []
    message = error(client.post(URL, content=make_zip({"/etc/x.txt": "abs"}), headers=ZIP), 422, "unsafe_archive_member")
    assert "absolute" in message


def test_symlink_in_tar_is_refused(client, settings_env):
    body = make_tar({"a.txt": "fine"}, links={"passwd.txt": "/etc/passwd"})
    message = error(client.post(URL, content=body, headers=TGZ), 422, "unsafe_archive_member")
    assert "passwd.txt" in message and "link" in message
    assert uploads(settings_env) == []


def test_size_limits_are_413(make_client, settings_env):
    limits = {"max_body_bytes": 2048, "max_upload_bytes": 20000, "max_archive_files": 3, "max_archive_unpacked_bytes": 50000}
    with make_client(collections=["kb"], **limits) as client:
        # over QUARRY_MAX_BODY_BYTES but under the upload limit: accepted
        big_ok = make_zip({f"n{i}.txt": f"note {i} " * 300 for i in range(2)}, zipfile.ZIP_STORED)
        assert 2048 < len(big_ok) < 20000
        r = client.post(URL, content=big_ok, headers=ZIP)
        assert r.status_code == 202, r.text
        assert wait_done(client, r.json()["id"])["state"] == "succeeded"
        # body over the upload limit
        noise = make_zip({"big.txt": "word " * 5000}, zipfile.ZIP_STORED)
        assert len(noise) > 20000
        assert "QUARRY_MAX_UPLOAD_BYTES" in error(client.post(URL, content=noise, headers=ZIP), 413, "payload_too_large")
        # the same body streamed with no Content-Length: the route counts it
        chunks = (noise[i : i + 4096] for i in range(0, len(noise), 4096))
        assert "QUARRY_MAX_UPLOAD_BYTES" in error(client.post(URL, content=chunks, headers=ZIP), 413, "payload_too_large")
        # too many entries
        many = make_zip({f"f{i}.txt": "x" for i in range(4)})
        assert "QUARRY_MAX_ARCHIVE_FILES" in error(client.post(URL, content=many, headers=ZIP), 413, "payload_too_large")
        # a small zip that unpacks past the limit (counted as written)
        bomb = make_zip({"zeros.txt": "0" * 60000})
        assert len(bomb) < 2048
        message = error(client.post(URL, content=bomb, headers=ZIP), 413, "payload_too_large")
        assert "QUARRY_MAX_ARCHIVE_UNPACKED_BYTES" in message
        # other routes keep the small limit
        assert client.put("/v1/collections/kb/documents/x", json={"text": "y" * 3000}).status_code == 413
        assert uploads(settings_env) == []


def test_bad_bodies_are_4xx(client, settings_env):
    message = error(client.post(URL, content=b"just some text, not an archive", headers=ZIP), 422, "invalid_archive")
    assert "not a zip or tar" in message
    corrupt = bytearray(make_zip({"a.txt": "hello " * 50}))
    corrupt[40:60] = b"\xff" * 20  # inside the member's compressed data
    error(client.post(URL, content=bytes(corrupt), headers=ZIP), 422, "invalid_archive")
    error(client.post(URL, content=make_zip({}), headers=ZIP), 422, "invalid_archive")  # empty
    message = error(client.post(URL, content=make_zip(FILES), headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    assert "application/zip" in message
    error(client.post(URL, params={"name": "../x"}, content=make_zip(FILES), headers=ZIP), 422, "invalid_name")
    error(client.post("/v1/collections/nope/jobs/archive", content=make_zip(FILES), headers=ZIP), 404, "collection_not_found")
    assert uploads(settings_env) == []


def test_read_key_gets_403(make_client, settings_env):
    admin, reader, writer = "admin-key-0123456789", "read-key-0123456789", "write-key-0123456789"
    keys = [{"key": admin, "scope": "admin"}, {"key": reader, "scope": "read"}, {"key": writer, "scope": "write"}]
    with make_client(api_keys=keys) as client:
        assert client.post("/v1/collections", json={"name": "kb"}, headers={"Authorization": f"Bearer {admin}"}).status_code == 201
        r = client.post(URL, content=make_zip(FILES), headers={**ZIP, "Authorization": f"Bearer {reader}"})
        error(r, 403, "forbidden")
        assert uploads(settings_env) == []
        error(client.post(URL, content=make_zip(FILES), headers=ZIP), 401, "unauthorized")
        r = client.post(URL, content=make_zip(FILES), headers={**ZIP, "Authorization": f"Bearer {writer}"})
        assert r.status_code == 202, r.text
