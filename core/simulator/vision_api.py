"""Google Cloud Vision ``images:annotate``: label detection (and safe search from the
ground truth's safety list), per-image errors inside a 200, key in ``x-goog-api-key``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.simulator.common import (
    Reject,
    before_body,
    decode_proto_bytes,
    json_response,
    malformed_response,
    pause,
    read_json,
    since_arrival,
)
from core.simulator.engine import Simulator
from core.simulator.gemini_api import check_google_key, failure, google_error
from core.simulator.truth import knowledge_graph_mid, sha256_hex

FEATURES = ("TYPE_UNSPECIFIED", "FACE_DETECTION", "LANDMARK_DETECTION", "LOGO_DETECTION",
            "LABEL_DETECTION", "TEXT_DETECTION", "DOCUMENT_TEXT_DETECTION",
            "SAFE_SEARCH_DETECTION", "IMAGE_PROPERTIES", "CROP_HINTS", "WEB_DETECTION",
            "PRODUCT_SEARCH", "OBJECT_LOCALIZATION")
SAFE_SEARCH = ("adult", "spoof", "medical", "violence", "racy")
MAX_REQUESTS = 16


def _title(tag: str) -> str:
    return tag[:1].upper() + tag[1:]


def routes(sim: Simulator, provider: str = "gcp_vision") -> list[Route]:
    async def annotate(request: Request) -> Response:
        try:
            check_google_key(request, "vision.googleapis.com")
            body = await read_json(request, lambda e: Reject(
                400, f"Invalid JSON payload received. {e}"))
            requests = body.get("requests") if isinstance(body, dict) else None
            if not isinstance(requests, list) or not requests:
                raise Reject(400, "No requests specified.")
            if len(requests) > MAX_REQUESTS:
                raise Reject(400, f"Too many images per request. Max is {MAX_REQUESTS}.")
            plan = _plan(requests)
        except Reject as r:
            return google_error(r.status, r.message, details=r.details)
        model = next((f[2] for f in plan if f[2]), "builtin/stable")
        request.state.model = model
        profile = sim.resolve(provider, model)
        if profile is None:
            return google_error(400, f"Invalid model: {model}. Supported values are "
                                f"{', '.join(m.id for m in sim.listed(provider))}.")
        images = [(image, max_results) for image, max_results, _, _, _ in plan
                  if isinstance(image, bytes | str)]
        call = sim.start_tagging(provider, profile, images)
        if call.kind in ("error", "rate_limit"):
            await pause(call.ttft_s - since_arrival())
            return failure(call)
        early = await before_body(request, call, sim.hang_s, google_error)
        if early is not None:
            return early
        labels = iter(call.labels)
        responses: list[dict[str, Any]] = []
        for image, _, _, wants_labels, wants_safety in plan:
            if isinstance(image, dict):  # a per-image error
                responses.append({"error": image})
                continue
            found = next(labels)
            entry: dict[str, Any] = {}
            if wants_labels and found:
                entry["labelAnnotations"] = [
                    {"mid": knowledge_graph_mid(lab.name), "description": _title(lab.name),
                     "score": lab.score, "topicality": lab.score} for lab in found]
            if wants_safety:
                photo = sim.knowledge.photo(sha256_hex(image))
                flagged = {s.lower() for s in (photo.safety if photo else ())}
                entry["safeSearchAnnotation"] = {
                    k: ("LIKELY" if k in flagged else "VERY_UNLIKELY") for k in SAFE_SEARCH}
            responses.append(entry)
        doc = {"responses": responses}
        return malformed_response(doc) if call.kind == "malformed" else json_response(doc)

    return [Route("/vision/v1/images:annotate", annotate, methods=["POST"])]


def _plan(requests: list) -> list[tuple[bytes | str | dict, int, str | None, bool, bool]]:
    """Per request: (image or per-image error, maxResults, model, labels?, safe search?)."""
    out = []
    for i, req in enumerate(requests):
        if not isinstance(req, dict):
            raise Reject(400, f"Invalid value at 'requests[{i}]': expected an object.")
        features = req.get("features") or []
        if not isinstance(features, list) or not features:
            raise Reject(400, f"No feature specified in requests[{i}].")
        max_results, model, labels, safety = 10, None, False, False
        for j, feature in enumerate(features):
            kind = feature.get("type") if isinstance(feature, dict) else None
            if kind not in FEATURES:
                raise Reject(400, f"Invalid value at 'requests[{i}].features[{j}].type' "
                             f"(type.googleapis.com/google.cloud.vision.v1.Feature.Type), "
                             f"\"{kind}\"")
            if kind == "LABEL_DETECTION":
                labels = True
                max_results = int(feature.get("maxResults") or 10)
                model = feature.get("model") or model
            safety = safety or kind == "SAFE_SEARCH_DETECTION"
        image = req.get("image")
        if not isinstance(image, dict):
            raise Reject(400, f"Image not specified in requests[{i}].")
        source = image.get("source") or {}
        uri = source.get("imageUri") or source.get("image_uri") or source.get("gcsImageUri") \
            if isinstance(source, dict) else None
        if image.get("content"):
            data = decode_proto_bytes(str(image["content"]))
            item: bytes | str | dict = data if data else {"code": 3, "message":
                                                          "Bad image data."}
        elif uri:
            item = str(uri)
        else:
            item = {"code": 3, "message": "No image content or source specified."}
        out.append((item, max(max_results, 1), model, labels, safety))
    return out
