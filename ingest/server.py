"""The HTTP collector: GitHub and Jira webhooks, CloudEvents, health.

A delivery is answered 2xx only after its events are committed to the ledger (the
pipeline call returns after the commit); a duplicate delivery is answered 200 and
appended once. Rejections are quarantined before they are answered: 401 for a
missing or bad signature or token, 413 for an oversized body, 400 for a body that
is not a valid record. What unauthenticated requests may store is bounded per time
window (``ingest.rejections``); past it they are only counted. An unexpected error on
any route is caught last: the body is quarantined with the error as its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ingest.collectors import CollectorTokens, valid_hub_signature
from ingest.framing import Frame
from ingest.interface import Context
from ingest.model import Collector
from ingest.pipeline import Outcome, Pipeline
from ingest.rejections import (
    DEFAULT_UNAUTH_BYTES,
    DEFAULT_UNAUTH_RECORDS,
    DEFAULT_WINDOW_SECONDS,
    RejectionBudget,
)
from ingest.storage import now

__all__ = ["ServeConfig", "create_app"]

DEFAULT_MAX_BODY = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB
_EXCERPT = 64 * 1024
_log = logging.getLogger("vestige.collector")


@dataclass(frozen=True)
class ServeConfig:
    github_secret: bytes | None = None
    jira_secret: bytes | None = None
    max_body: int = DEFAULT_MAX_BODY
    unauth_records: int = DEFAULT_UNAUTH_RECORDS
    unauth_bytes: int = DEFAULT_UNAUTH_BYTES
    unauth_window_seconds: float = DEFAULT_WINDOW_SECONDS

    def __post_init__(self) -> None:
        # An empty HMAC key is one anyone can sign with: never a configured secret.
        for secret in (self.github_secret, self.jira_secret):
            if secret is not None and not secret.strip():
                raise ValueError("a webhook secret must not be empty")


class _Rejected(Exception):  # noqa: N818  # control flow inside the app only
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def create_app(pipeline: Pipeline, tokens: CollectorTokens, config: ServeConfig) -> FastAPI:
    app = FastAPI(title="vestige collector", docs_url=None, redoc_url=None)
    budget = RejectionBudget(
        config.unauth_records, config.unauth_bytes, config.unauth_window_seconds
    )

    async def body_of(request: Request, source: str, route: str, authenticated: bool) -> bytes:
        """The body, refusing (and quarantining the first bytes of) one over the limit.

        ``authenticated``: whether the request's headers already proved its sender (a
        collector token); a signature over the body is checked only after reading it.
        """
        request.state.delivery = (source, route, b"", authenticated)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > config.max_body:
            await reject(
                request,
                source,
                route,
                413,
                f"body of {declared} bytes exceeds the limit of {config.max_body}",
                b"",
                authenticated,
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > config.max_body:
                await reject(
                    request,
                    source,
                    route,
                    413,
                    f"body exceeds the limit of {config.max_body} bytes",
                    b"".join(chunks)[:_EXCERPT],
                    authenticated,
                )
            chunks.append(chunk)
        body = b"".join(chunks)
        request.state.delivery = (source, route, body, authenticated)
        return body

    async def reject(
        request: Request,
        source: str,
        route: str,
        status: int,
        reason: str,
        raw: bytes,
        authenticated: bool,
    ) -> NoReturn:
        await quarantine(request, source, route, reason, raw, authenticated)
        raise _Rejected(status, reason)

    async def quarantine(
        request: Request, source: str, route: str, reason: str, raw: bytes, authenticated: bool
    ) -> None:
        """Keep a rejected body: always when authenticated, within the budget otherwise."""
        headers = _safe_headers(request)
        position = headers.get("x-github-delivery") or headers.get("ce-id") or now()
        if not authenticated:
            # Keep the evidence, not a stranger's 25 MB; and only so much per window.
            raw = raw[:_EXCERPT]
            if not budget.admit(route, len(raw)):
                if budget.limited and not getattr(app.state, "warned", False):
                    _log.warning("unauthenticated rejections over budget: counted, not stored")
                    app.state.warned = True
                return
            app.state.warned = False
        await run_in_threadpool(
            pipeline.quarantine_only, source, f"http:{route}", position, reason, raw, headers
        )

    async def deliver(
        request: Request,
        source: str,
        route: str,
        body: bytes,
        collector: str,
        many: bool = False,
    ) -> JSONResponse:
        """Append the delivery's records; ``collector`` (a token's name or the webhook's)
        goes into each entry's receipt."""
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            await reject(request, source, route, 400, f"invalid JSON: {exc}", body, True)
        values = value if many and isinstance(value, list) else [value]
        # A lone record keeps its exact bytes as evidence; the items of an array are
        # encoded only if quarantined (`encode_for_quarantine` copes with any depth).
        raws = [body] if len(values) == 1 and values[0] is value else [b""] * len(values)
        headers = {**_safe_headers(request), "x-vestige-received-at": now()}
        position = headers.get("x-github-delivery") or headers.get("x-atlassian-webhook-identifier")
        frames = [
            Frame(
                position or f"item {i}",
                item if isinstance(item, dict) else None,
                None if isinstance(item, dict) else "expected a JSON object",
                raw,
            )
            for i, (item, raw) in enumerate(zip(values, raws, strict=True))
        ]
        context = Context(
            origin=f"http:{route}",
            headers=headers,
            trust=pipeline.trust,
            collector=Collector(kind="http", name=collector),
            received_at=headers["x-vestige-received-at"],
            # A token bound to CloudEvent sources: the agent source refuses any other.
            allowed_sources=tokens.sources_of(collector) if source == "agent" else None,
        )
        outcomes = await run_in_threadpool(pipeline.ingest_values, source, frames, context)
        # Indexed before the acknowledgement, so what was accepted is searchable at once.
        await run_in_threadpool(pipeline.store.catch_up)
        status = 400 if any(o.status == "quarantined" for o in outcomes) else 200
        return JSONResponse({"results": [_outcome_json(o) for o in outcomes]}, status_code=status)

    @app.exception_handler(_Rejected)
    async def rejected(_request: Request, exc: _Rejected) -> JSONResponse:
        return JSONResponse({"error": exc.reason}, status_code=exc.status)

    @app.middleware("http")
    async def last_resort(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """No request ends in a bare 500: the body read so far is quarantined first."""
        try:
            return await call_next(request)
        except Exception as exc:
            _log.exception("internal error on %s", request.url.path)
            source, route, body, authenticated = getattr(
                request.state, "delivery", ("unknown", request.url.path, b"", False)
            )
            reason = f"internal error: {type(exc).__name__}: {exc}"
            try:
                await quarantine(request, source, route, reason, body, authenticated)
            except Exception:  # the store itself failed: nothing kept, so ask for a retry
                _log.exception("could not quarantine after an internal error")
                return JSONResponse({"error": "store unavailable; retry"}, status_code=503)
            return JSONResponse({"error": reason, "quarantined": True}, status_code=500)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        size = await run_in_threadpool(_ledger_size, pipeline)
        return {"ok": True, "ledger_size": size, "unauthenticated_rejections": budget.to_json()}

    @app.post("/hooks/github")
    async def github(request: Request) -> JSONResponse:
        route = "/hooks/github"
        body = await body_of(request, "github", route, authenticated=False)
        if config.github_secret is None:
            reason = "no GitHub webhook secret configured"
            await reject(request, "github", route, 503, reason, body, False)
        elif not valid_hub_signature(
            config.github_secret, body, request.headers.get("x-hub-signature-256")
        ):
            reason = "missing or bad X-Hub-Signature-256"
            await reject(request, "github", route, 401, reason, body, False)
        return await deliver(request, "github", route, body, "github-webhook")

    @app.post("/hooks/jira")
    async def jira(request: Request) -> JSONResponse:
        route = "/hooks/jira"
        # Jira Cloud signs with a secret set on the webhook. Jira Server cannot sign or
        # add headers, so without a secret a collector token in the URL (?token=) or a
        # bearer header is required: nobody unauthenticated writes into the ledger.
        token = _bearer(request) or request.query_params.get("token")
        named = None if config.jira_secret is not None else tokens.collector_of(token)
        body = await body_of(request, "jira", route, authenticated=named is not None)
        if config.jira_secret is not None:
            if not valid_hub_signature(
                config.jira_secret, body, request.headers.get("x-hub-signature")
            ):
                reason = "missing or bad X-Hub-Signature"
                await reject(request, "jira", route, 401, reason, body, False)
            collector = "jira-webhook"
        elif named is None:
            reason = "missing or unknown collector token"
            await reject(request, "jira", route, 401, reason, body, False)
        else:
            collector = named
        return await deliver(request, "jira", route, body, collector)

    @app.post("/v1/events")
    async def events(request: Request) -> JSONResponse:
        route = "/v1/events"
        collector = tokens.collector_of(_bearer(request))
        body = await body_of(request, "agent", route, authenticated=collector is not None)
        if collector is None:
            reason = "missing or unknown bearer token"
            await reject(request, "agent", route, 401, reason, body, False)
        return await deliver(request, "agent", route, body, collector, many=True)

    return app


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _ledger_size(pipeline: Pipeline) -> int:
    with pipeline.ledger.store.reader(snapshot=False) as reader:
        return reader.size()


_KEPT_HEADERS = ("content-type", "user-agent", "x-atlassian-webhook-identifier")
_KEPT_PREFIXES = ("x-github-", "x-hub-signature", "ce-")


def _safe_headers(request: Request) -> dict[str, str]:
    """The headers kept as evidence: an allow-list, so no credential is ever stored."""
    return {
        name: value
        for name, value in ((n.lower(), v) for n, v in request.headers.items())
        if name in _KEPT_HEADERS or name.startswith(_KEPT_PREFIXES)
    }


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    return {k: v for k, v in outcome.__dict__.items() if v is not None}
