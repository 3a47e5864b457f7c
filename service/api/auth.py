"""Who is calling and what they may do: the interface every route uses.

Scopes nest: admin > write > read. A key may be limited to named collections.
Routes declare what they need with `Depends(require("read"))`; a route that learns its collection
from the body (not the path) calls `principal.ensure(scope, collection)` itself.

Keys come from settings (QUARRY_API_KEYS / QUARRY_API_KEYS_FILE) and are held only as sha256 hashes.
A presented key is hashed and compared with every configured hash by `hmac.compare_digest`, without
stopping at a match, so timing tells nothing about which key (if any) matched. With no keys configured
everyone is an anonymous admin, and `quarry serve` then refuses non-loopback addresses (see service.cli.serve).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPBearer

from service.api.errors import ApiError
from service.api.ratelimit import RateLimiter
from service.settings import Settings

SCOPES = ("read", "write", "admin")
# outside the nesting: a key for a Prometheus scraper that may read /metrics and nothing else
METRICS_SCOPE = "metrics"

# Declared so /docs has an "Authorize" button and the OpenAPI schema says how to authenticate;
# the checking itself is done by `authenticate` (auto_error=False: these never answer by themselves).
_BEARER = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: <API key>")


@dataclass(frozen=True)
class Principal:
    name: str  # never the key itself
    scope: str
    collections: frozenset[str] | None = None  # None: every collection

    def allows(self, scope: str) -> bool:
        if self.scope not in SCOPES:  # a metrics key serves no route but /metrics
            return False
        return SCOPES.index(self.scope) >= SCOPES.index(scope)

    def may_scrape_metrics(self) -> bool:
        """/metrics names every collection and its counts: a metrics key, or one that sees every collection."""
        return self.scope == METRICS_SCOPE or (self.scope in SCOPES and self.collections is None)

    def can_access(self, collection: str | None) -> bool:
        return collection is None or self.collections is None or collection in self.collections

    def ensure(self, scope: str, collection: str | None = None) -> "Principal":
        if not self.allows(scope):
            raise ApiError(403, "forbidden", f"this API key has scope {self.scope!r}; this call needs {scope!r}")
        if not self.can_access(collection):
            raise ApiError(403, "forbidden", f"this API key is not allowed to use collection {collection!r}")
        return self


ANONYMOUS = Principal("anonymous", "admin")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


class KeyRing:
    """The configured keys, as hashes. `lookup` costs the same whichever key matches, or none."""

    def __init__(self, settings: Settings):
        self._entries = [
            (
                spec.key_sha256.encode(),
                Principal(spec.name, spec.scope, None if spec.collections is None else frozenset(spec.collections)),
            )
            for spec in settings.api_keys
        ]

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: str) -> Principal | None:
        digest = hash_key(key).encode()
        found = None
        for stored, principal in self._entries:  # no early exit: every hash is compared
            if hmac.compare_digest(digest, stored):
                found = principal
        return found

    def summary(self) -> str:
        counts = {scope: sum(p.scope == scope for _, p in self._entries) for scope in SCOPES}
        return ", ".join(f"{n} {scope}" for scope, n in counts.items() if n)


class AccessControl:
    """What the app holds for auth: the key ring and the rate limiter. Set on app.state.access."""

    def __init__(self, settings: Settings):
        self.keys = KeyRing(settings)
        self.limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)

    @property
    def enabled(self) -> bool:
        return len(self.keys) > 0

    def describe(self) -> str:
        """One start-up line."""
        limit = f"; rate limit {self.limiter.rate * 60:g}/min per caller" if self.limiter.enabled else ""
        if self.enabled:
            return f"auth on: {len(self.keys)} API key(s) ({self.keys.summary()}){limit}"
        return f"auth off: no API keys configured (QUARRY_API_KEYS), every caller is admin{limit}"

    def identify(self, request: Request) -> Principal | None:
        """The key's principal; None when no key was sent. 401 for a key that matches nothing."""
        key = presented_key(request)
        if key is None:
            return None
        principal = self.keys.lookup(key)
        if principal is None:
            raise unauthorized("invalid API key")
        return principal

    def throttle(self, request: Request, principal: Principal) -> None:
        who = principal.name if self.enabled else f"ip:{request.client.host if request.client else '?'}"
        wait = self.limiter.acquire(who)
        if wait:
            raise ApiError(
                429, "rate_limited",
                f"too many requests; retry in {wait} s (limit {self.limiter.rate * 60:g} per minute,"
                " QUARRY_RATE_LIMIT_PER_MINUTE)",
                headers={"Retry-After": str(wait)},
            )  # fmt: skip


def presented_key(request: Request) -> str | None:
    """`Authorization: Bearer <key>` or `X-API-Key: <key>`; None when neither header is sent."""
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, credentials = auth.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise unauthorized("the Authorization header must be 'Bearer <API key>'")
        return credentials.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key is not None else None


def unauthorized(message: str) -> ApiError:
    return ApiError(
        401, "unauthorized", f"{message}: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
        headers={"WWW-Authenticate": "Bearer"},
    )  # fmt: skip


def _access(request: Request) -> AccessControl | None:
    return getattr(request.app.state, "access", None)


def authenticate(request: Request) -> Principal:
    """The caller behind this request (401 when keys are configured and none or a wrong one is given)."""
    access = _access(request)
    if access is None:
        return ANONYMOUS
    if access.enabled:
        principal = access.identify(request)
        if principal is None:
            raise unauthorized("this server needs an API key")
    else:
        principal = ANONYMOUS
    access.throttle(request, principal)
    return principal


def optional_principal(request: Request) -> Principal | None:
    """For open endpoints (health): the caller if a valid key was sent, else None; never 401, never throttled."""
    access = _access(request)
    if access is None or not access.enabled:
        return ANONYMOUS
    try:
        return access.identify(request)
    except ApiError:
        return None


def require_metrics(request: Request, _bearer=Security(_BEARER), _key=Security(_API_KEY)) -> Principal:
    """Dependency for /metrics (see Principal.may_scrape_metrics)."""
    principal = authenticate(request)
    if not principal.may_scrape_metrics():
        raise ApiError(
            403, "forbidden",
            "this API key is limited to some collections, and /metrics names every collection: scrape with a"
            " key of scope 'metrics', or with a key that is not limited to collections",
        )  # fmt: skip
    request.state.principal = principal
    return principal


def require(scope: str):
    """Dependency: the caller, checked for `scope` and for the collection named in the path, if any."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def dependency(request: Request, _bearer=Security(_BEARER), _key=Security(_API_KEY)) -> Principal:
        collection = request.path_params.get("name") or request.path_params.get("collection")
        principal = authenticate(request).ensure(scope, collection)
        request.state.principal = principal  # deps.get_collection checks it ran before opening anything
        return principal

    return dependency
