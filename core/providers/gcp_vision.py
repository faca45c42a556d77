"""Google Cloud Vision ``images:annotate`` with LABEL_DETECTION: photo tags with scores.

Vision answers with tags, not prose, so a completion's text is the tags joined by commas
and ``tags`` holds them with their scores; token counts are zero (Vision bills per image).
Per-image failures arrive inside a 200 and become a :class:`BadRequest` here."""

from __future__ import annotations

import time
from typing import Any

from core.providers.base import (
    Answer,
    CallOptions,
    Capabilities,
    CheckResult,
    ImagePart,
    ModelInfo,
    Part,
    Request,
    Tag,
)
from core.providers.errors import BadRequest, ProviderError
from core.providers.google import GoogleAdapter
from core.providers.http import parse_json

MODELS = ("builtin/stable", "builtin/latest")  # the LABEL_DETECTION model versions
DEFAULT_MAX_RESULTS = 10


class VisionAdapter(GoogleAdapter):
    protocol = "gcp_vision"
    default_base_url = "https://vision.googleapis.com"
    capabilities = Capabilities(tagging_only=True, streaming=False)

    def build_request(self, model: str, parts: list[Part], options: CallOptions) -> Request:
        images = [p for p in parts if isinstance(p, ImagePart)]
        if not images:
            raise BadRequest("Cloud Vision tags photos: the request needs an image",
                             provider=self.label)
        max_results = int(options.extra.get("max_results") or DEFAULT_MAX_RESULTS)
        feature: dict[str, Any] = {"type": "LABEL_DETECTION", "maxResults": max_results}
        if model:
            feature["model"] = model
        return Request(f"{self.base_url}/v1/images:annotate",
                       {"requests": [{"image": {"content": p.b64()}, "features": [feature]}
                                     for p in images]}, model=model)

    def read_answer(self, doc: Any, request: Request) -> Answer:
        answers = doc.get("responses") if isinstance(doc, dict) else None
        if not isinstance(answers, list):
            raise self.malformed("the answer has no responses list", 200)
        tags: list[Tag] = []
        for answer in answers:
            if not isinstance(answer, dict):
                raise self.malformed("a response is not an object", 200)
            if answer.get("error"):
                raise BadRequest(str(answer["error"].get("message") or "image rejected"),
                                 status=200, provider=self.label, secret=self._api_key)
            for label in answer.get("labelAnnotations") or []:
                try:
                    tags.append(Tag(str(label["description"]).lower(),
                                    float(label.get("score", 0.0))))
                except (KeyError, TypeError, ValueError):
                    raise self.malformed("a label has no description or score", 200) from None
        # the answer names no model: report the label model that was asked for
        return Answer(", ".join(t.name for t in tags), response_model=request.model or None,
                      finish_reason="stop", tags=tuple(tags))

    async def list_models(self) -> list[ModelInfo]:
        """Vision has no model list endpoint; its label models are fixed versions."""
        return [ModelInfo(id=m, display_name=f"Label detection ({m.split('/')[1]})",
                          input_types=("image",), output_types=("tags",)) for m in MODELS]

    async def check(self) -> CheckResult:
        """Send an empty annotate request: Google checks the key before the body, so a good
        key gets "No requests specified" (400) and a bad one an authentication error —
        a real round trip that annotates nothing and costs nothing."""
        started = time.perf_counter()

        async def probe() -> None:
            response = await self.client.post(f"{self.base_url}/v1/images:annotate",
                                              json={"requests": []}, headers=self.headers(),
                                              timeout=15.0)
            if response.status_code == 400:
                body = parse_json(response, provider=self.label, secret=self._api_key) \
                    if response.content else None
                error = self.map_error(400, body, response.text, response.headers)
                if not isinstance(error, BadRequest):
                    raise error
                return
            await self.raise_for_status(response)

        try:
            await self.guard(probe, 20.0)
        except ProviderError as exc:
            return CheckResult(False, exc.user_message(), error=exc)
        ms = (time.perf_counter() - started) * 1000
        return CheckResult(True, f"Connected · {len(MODELS)} models", latency_ms=ms,
                           models=len(MODELS))

