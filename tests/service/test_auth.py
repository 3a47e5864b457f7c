"""Access control through the real app: keys, scopes, collections, rate limit, bind rule, config errors."""

import hashlib
import hmac
import json

import pytest

from service.api.ratelimit import RateLimiter
from service.cli.serve import check_bind, is_loopback
from service.settings import SettingsError, load_settings

ADMIN, WRITER, READER, DOCS_ONLY = "admin-key-0123456789", "write-key-0123456789", "read-key-0123456789", "docs-key-0123456789"
KEYS = [
    {"key": ADMIN, "scope": "admin", "name": "ops"},
    {"key": WRITER, "scope": "write"},
    {"key_sha256": hashlib.sha256(READER.encode()).hexdigest(), "scope": "read"},
    {"key": DOCS_ONLY, "scope": "write", "collections": ["docs"]},
]


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keyed(make_client):
    with make_client(api_keys=KEYS) as client:
        for name in ("docs", "private"):
            assert client.post("/v1/collections", json={"name": name}, headers=bearer(ADMIN)).status_code == 201
        put = client.put("/v1/collections/docs/documents/a", json={"text": "flat tire repair"}, headers=bearer(ADMIN))
        assert put.status_code == 200
        yield client


def error(response, status, type_):
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["type"] == type_
    return body["message"]


@pytest.mark.parametrize("headers", [{}, bearer("wrong-key-0123456789"), {"X-API-Key": "wrong-key-0123456789"},
                                     {"Authorization": "Basic YWxhZGRpbjpvcGVu"}])  # fmt: skip
def test_missing_or_wrong_key_is_401_and_names_no_key(keyed, headers):
    response = keyed.post("/v1/collections/docs/search", json={"query": "tire"}, headers=headers)
    message = error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    for secret in (ADMIN, WRITER, READER, DOCS_ONLY, "ops", "key-"):
        assert secret not in message


@pytest.mark.parametrize("headers", [bearer(READER), {"X-API-Key": READER}, {"authorization": f"bearer  {READER} "}])
def test_read_key_searches_with_either_header(keyed, headers):
    response = keyed.post("/v1/collections/docs/search", json={"query": "tire"}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["hits"][0]["doc_id"] == "a"
    assert keyed.get("/v1/collections/docs/documents/a", headers=headers).status_code == 200


def test_wrong_scope_is_403(keyed):
    message = error(keyed.put("/v1/collections/docs/documents/b", json={"text": "x"}, headers=bearer(READER)), 403, "forbidden")
    assert "scope 'read'" in message and "needs 'write'" in message
    error(keyed.delete("/v1/collections/docs/documents/a", headers=bearer(READER)), 403, "forbidden")
    error(keyed.post("/v1/collections", json={"name": "x"}, headers=bearer(WRITER)), 403, "forbidden")
    error(keyed.delete("/v1/collections/docs", headers=bearer(WRITER)), 403, "forbidden")
    assert keyed.put("/v1/collections/docs/documents/b", json={"text": "x"}, headers=bearer(WRITER)).status_code == 200


def test_collection_limited_key(keyed):
    h = bearer(DOCS_ONLY)
    assert keyed.post("/v1/collections/docs/search", json={"query": "tire"}, headers=h).status_code == 200
    assert keyed.put("/v1/collections/docs/documents/c", json={"text": "y"}, headers=h).status_code == 200
    message = error(keyed.post("/v1/collections/private/search", json={"query": "x"}, headers=h), 403, "forbidden")
    assert "'private'" in message and "docs" not in message  # names the refused collection, not the allowed ones
    # an unknown collection is 403 too, not 404: a limited key learns nothing about what exists
    error(keyed.get("/v1/collections/nosuch", headers=h), 403, "forbidden")
    names = [c["name"] for c in keyed.get("/v1/collections", headers=h).json()["collections"]]
    assert names == ["docs"]


def test_admin_does_everything(keyed):
    h = bearer(ADMIN)
    assert sorted(c["name"] for c in keyed.get("/v1/collections", headers=h).json()["collections"]) == ["docs", "private"]
    assert keyed.post("/v1/collections", json={"name": "tmp"}, headers=h).status_code == 201
    assert keyed.delete("/v1/collections/tmp", headers=h).status_code == 200


def test_auth_comes_before_existence_checks(keyed):
    error(keyed.get("/v1/collections/nosuch/documents/zz"), 401, "unauthorized")
    error(keyed.get("/v1/collections/nosuch/documents/zz", headers=bearer(READER)), 404, "collection_not_found")


def test_health_is_open_but_lists_collections_only_to_key_holders(keyed):
    anonymous = keyed.get("/health")
    assert anonymous.status_code == 200 and anonymous.json()["collections"] == []
    assert keyed.get("/health", headers=bearer("wrong-key-0123456789")).json()["collections"] == []
    assert [c["name"] for c in keyed.get("/health", headers=bearer(DOCS_ONLY)).json()["collections"]] == ["docs"]
    assert len(keyed.get("/health", headers=bearer(READER)).json()["collections"]) == 2


def test_metrics_need_a_key_when_keys_are_configured(keyed):
    """The series name every collection, so they are not for anonymous callers."""
    error(keyed.get("/metrics"), 401, "unauthorized")
    scraped = keyed.get("/metrics", headers=bearer(READER))
    assert scraped.status_code == 200 and 'quarry_collection_documents{collection="docs"}' in scraped.text


def test_openapi_declares_both_auth_schemes(keyed):
    schema = keyed.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    assert "security" in schema["paths"]["/v1/collections/{name}/search"]["post"]
    assert "security" not in schema["paths"]["/health"]["get"]


def test_every_configured_hash_is_compared(keyed, monkeypatch):
    """Constant time: the lookup compares against all keys with hmac.compare_digest, match or not."""
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    for key in (ADMIN, "wrong-key-0123456789"):
        calls.clear()
        keyed.get("/v1/collections", headers=bearer(key))
        assert len(calls) == len(KEYS)


def test_no_keys_means_anonymous_admin(make_client):
    with make_client() as client:
        assert client.post("/v1/collections", json={"name": "open"}).status_code == 201
        assert client.get("/health").json()["collections"][0]["name"] == "open"


def test_rate_limit_answers_429_with_retry_after(make_client):
    with make_client(api_keys=KEYS, rate_limit_per_minute=2) as client:
        assert [client.get("/v1/collections", headers=bearer(READER)).status_code for _ in range(2)] == [200, 200]
        limited = client.get("/v1/collections", headers=bearer(READER))
        error(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["Retry-After"]) <= 30
        assert client.get("/v1/collections", headers=bearer(WRITER)).status_code == 200  # per key
        assert client.get("/health").status_code == 200  # probes are never throttled


def test_rate_limiter_refills():
    now = [0.0]
    limiter = RateLimiter(60, burst=2, clock=lambda: now[0])
    assert [limiter.acquire("k") for _ in range(3)] == [0, 0, 1]
    now[0] += 1.0
    assert limiter.acquire("k") == 0 and limiter.acquire("other") == 0
    assert RateLimiter(0).acquire("k") == 0


def test_keys_file(make_client, tmp_path, monkeypatch):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps([{"key": READER, "scope": "read"}]))
    monkeypatch.setenv("QUARRY_API_KEYS_FILE", str(path))
    settings = load_settings()
    assert [s.scope for s in settings.api_keys] == ["read"]
    assert READER not in repr(settings)  # hashed on load; the plaintext is not kept
    with make_client(settings=settings) as client:
        assert client.get("/v1/collections", headers={"X-API-Key": READER}).status_code == 200
        assert client.get("/v1/collections").status_code == 401


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{not json", "QUARRY_API_KEYS: not valid JSON"),
        ('[{"key": "k0123456789abcdefg", "scope": "root"}]', "Input should be 'read', 'write', 'admin' or 'metrics'"),
        ('[{"key": "k0123456789abcdefg", "key_sha256": "' + "a" * 64 + '", "scope": "read"}]', "exactly one of 'key' or 'key_sha256'"),
        ('[{"scope": "read"}]', "exactly one of 'key' or 'key_sha256'"),
        ('[{"key": "short", "scope": "read"}]', "at least 16 characters"),
        ('[{"key_sha256": "abc", "scope": "read"}]', "64 hex digits"),
        ('[{"key": "k0123456789abcdefg", "scope": "read", "colections": ["x"]}]', "colections"),
        ('{"key": "k0123456789abcdefg", "scope": "read"}', "must be a JSON list"),
        ('[{"key": "k0123456789abcdefg", "scope": "read"}, {"key": "k0123456789abcdefg", "scope": "admin"}]', "configured twice"),
    ],
)
def test_bad_key_config_is_one_clear_line(settings_env, monkeypatch, value, expected):
    monkeypatch.setenv("QUARRY_API_KEYS", value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert "k0123456789abcdefg" not in message  # never echoes a key


def test_missing_keys_file_is_a_clear_error(settings_env, tmp_path, monkeypatch):
    monkeypatch.setenv("QUARRY_API_KEYS_FILE", str(tmp_path / "nope.json"))
    with pytest.raises(SettingsError, match="QUARRY_API_KEYS_FILE .*nope.json.* cannot be read"):
        load_settings()


def test_bind_refuses_remote_without_keys(settings_env, monkeypatch):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    check_bind(load_settings())  # loopback: fine
    with pytest.raises(SettingsError, match="refusing to listen on 0.0.0.0 with no API keys"):
        check_bind(load_settings(host="0.0.0.0"))
    check_bind(load_settings(host="0.0.0.0", allow_unauthenticated_remote=True))
    monkeypatch.setenv("QUARRY_API_KEYS", json.dumps(KEYS[:1]))
    check_bind(load_settings(host="0.0.0.0"))


def test_serve_command_exits_1_with_one_line(settings_env, capsys):
    from service.cli.main import main

    assert main(["serve", "--host", "0.0.0.0"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: refusing to listen on 0.0.0.0") and "\n" not in err
