"""Admin snapshot routes: snapshot, list, restore under another name; other scopes are refused."""

import json

from indexer.backup import SNAPSHOT_FILE

ADMIN, READER = "admin-key-0123456789", "read-key-0123456789"
KEYS = json.dumps([{"key": ADMIN, "scope": "admin"}, {"key": READER, "scope": "read"}])
AS_ADMIN, AS_READER = {"Authorization": f"Bearer {ADMIN}"}, {"Authorization": f"Bearer {READER}"}


def test_snapshot_list_and_restore_over_rest(make_client, settings_env, monkeypatch):
    monkeypatch.setenv("QUARRY_API_KEYS", KEYS)
    with make_client() as client:
        assert client.post("/v1/collections", json={"name": "kb"}, headers=AS_ADMIN).status_code == 201
        docs = [{"doc_id": f"d{i}", "text": f"bread flour number {i}", "metadata": {"n": i}} for i in range(5)]
        assert client.post("/v1/collections/kb/documents", json={"documents": docs}, headers=AS_ADMIN).status_code == 200

        assert client.post("/v1/collections/kb/snapshots", headers=AS_READER).status_code == 403
        made = client.post("/v1/collections/kb/snapshots", json={"snapshot": "nightly"}, headers=AS_ADMIN)
        assert made.status_code == 201, made.text
        assert (made.json()["snapshot"], made.json()["documents"]) == ("nightly", 5)
        assert (settings_env / "snapshots" / "nightly" / SNAPSHOT_FILE).is_file()
        again = client.post("/v1/collections/kb/snapshots", json={"snapshot": "nightly"}, headers=AS_ADMIN)
        assert (again.status_code, again.json()["error"]["type"]) == (409, "snapshot_exists")
        assert client.post("/v1/collections/kb/snapshots", headers=AS_ADMIN).status_code == 201  # a dated name

        listed = client.get("/v1/snapshots", headers=AS_ADMIN).json()["snapshots"]
        assert len(listed) == 2 and "nightly" in [s["snapshot"] for s in listed]
        assert client.get("/v1/snapshots", headers=AS_READER).status_code == 403

        restored = client.post("/v1/snapshots/nightly/restore", json={"collection": "kb-restored"}, headers=AS_ADMIN)
        assert restored.status_code == 201, restored.text
        assert (restored.json()["name"], restored.json()["documents"]) == ("kb-restored", 5)
        hits = client.post("/v1/collections/kb-restored/search", json={"query": "flour number 3", "mode": "lexical"},
                           headers=AS_READER).json()["hits"]  # fmt: skip
        assert hits[0]["doc_id"] == "d3"
        taken = client.post("/v1/snapshots/nightly/restore", headers=AS_ADMIN)
        assert (taken.status_code, taken.json()["error"]["type"]) == (409, "collection_exists")
        missing = client.post("/v1/snapshots/nope/restore", headers=AS_ADMIN)
        assert (missing.status_code, missing.json()["error"]["type"]) == (404, "snapshot_not_found")
