"""The Starlette app: every protocol's routes, request statistics, and the loopback-only
admin endpoints that set faults and teach ground truth at run time."""

from __future__ import annotations

import time

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.simulator import anthropic_api, gemini_api, ollama_api, openai_api, vision_api
from core.simulator.common import ARRIVED, is_loopback, json_response, read_json
from core.simulator.engine import Simulator
from core.simulator.faults import FaultRule
from core.simulator.knowledge import KnowledgeUpdate
from core.simulator.urls import base_urls

# URL prefix -> provider type, for the OpenAI-compatible mounts and for statistics.
OPENAI_PREFIXES = {"openai": "openai", "mistral": "mistral", "clarifai": "clarifai",
                   "ollama": "ollama", "custom": "openai_compatible"}
PREFIX_PROVIDER = {**OPENAI_PREFIXES, "anthropic": "anthropic", "gemini": "gemini",
                   "vision": "gcp_vision"}
MAX_BODY = 32 * 1024 * 1024  # above the providers' own request limits (~20 MB images)


class _Stats:
    """ASGI middleware counting requests by route template, provider, model and status."""

    def __init__(self, app: ASGIApp, sim: Simulator) -> None:
        self.app, self.sim = app, sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            ARRIVED.set(time.monotonic())  # planned latencies count from here
        if scope["type"] != "http" or scope["path"].startswith("/_admin"):
            await self.app(scope, receive, send)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or scope["path"]
            prefix = path.strip("/").split("/")[0]
            model = str((scope.get("state") or {}).get("model") or "")
            self.sim.record(f"{scope['method']} {path}", PREFIX_PROVIDER.get(prefix, ""), model,
                            status or 500)


async def _validated(request: Request, model: type[BaseModel], what: str
                     ) -> BaseModel | Response:
    """The request's JSON body as ``model``, or a 422 saying what is wrong with it."""
    try:
        body = await read_json(request, lambda e: ValueError(f"invalid JSON: {e}"))
        return model.model_validate(body)
    except ValueError as exc:  # ValidationError is a ValueError
        detail = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()] \
            if isinstance(exc, ValidationError) else str(exc)
        return json_response({"error": f"invalid {what}", "detail": detail}, 422)


def _admin_routes(sim: Simulator) -> list[Route]:
    def guard(request: Request) -> Response | None:
        if not is_loopback(request):
            return json_response({"error": "admin endpoints answer loopback clients only"}, 403)
        return None

    async def faults(request: Request) -> Response:
        denied = guard(request)
        if denied is not None:
            return denied
        if request.method == "DELETE":
            sim.clear_faults()
        elif request.method == "POST":
            rule = await _validated(request, FaultRule, "fault")
            if isinstance(rule, Response):
                return rule
            assert isinstance(rule, FaultRule)
            return json_response(sim.add_fault(rule))
        return json_response(sim.faults.snapshot())

    async def stats(request: Request) -> Response:
        denied = guard(request)
        if denied is not None:
            return denied
        if request.method == "DELETE":
            sim.reset_stats()
        return json_response(sim.stats())

    async def knowledge(request: Request) -> Response:
        denied = guard(request)
        if denied is not None:
            return denied
        if request.method == "DELETE":
            sim.forget_taught()
        elif request.method == "POST":
            update = await _validated(request, KnowledgeUpdate, "knowledge")
            if isinstance(update, Response):
                return update
            assert isinstance(update, KnowledgeUpdate)
            return json_response(sim.teach(
                {sha: t.model_dump() for sha, t in update.photos.items()},
                [r.model_dump() for r in update.references]))
        return json_response(sim.knowledge_summary())

    return [Route("/_admin/faults", faults, methods=["GET", "POST", "DELETE"]),
            Route("/_admin/stats", stats, methods=["GET", "DELETE"]),
            Route("/_admin/knowledge", knowledge, methods=["GET", "POST", "DELETE"])]


def create_app(sim: Simulator) -> Starlette:
    """An ASGI app serving every simulated provider from ``sim``."""
    routes: list[Route] = []
    for prefix, provider in OPENAI_PREFIXES.items():
        routes += openai_api.routes(sim, prefix, provider, require_auth=provider != "ollama")
    routes += anthropic_api.routes(sim)
    routes += gemini_api.routes(sim)
    routes += ollama_api.routes(sim)
    routes += vision_api.routes(sim)
    routes += _admin_routes(sim)

    async def index(request: Request) -> Response:
        root = str(request.base_url).rstrip("/")
        return json_response({"name": "Switchyard provider simulator",
                              "base_urls": base_urls(root),
                              "models": {p: [m.id for m in sim.listed(p)]
                                         for p in sorted(set(PREFIX_PROVIDER.values()))}})

    routes.append(Route("/", index, methods=["GET"]))
    app = Starlette(routes=routes, max_body_size=MAX_BODY)
    app.add_middleware(_Stats, sim=sim)
    return app
