"""The provider simulator over real HTTP on 127.0.0.1: every protocol's success (plain and
streamed), images, validation, auth errors, injected faults, model-list changes,
determinism and ground-truth answer quality."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from core.simulator.cli import simulator_command
from core.simulator.engine import Simulator
from core.simulator.launcher import base_urls, start_background
from core.simulator.profiles import PROFILES
from core.simulator.truth import Knowledge, sha256_hex
from tests.helpers import DOG, DOG_TRUTH, ROOT, forbid_non_loopback, png

UNKNOWN = png(10, 20, 30)
PROMPT = "What is the capital of France? Answer with one word."
PROMPT_SET = [{"prompt": PROMPT, "reference": "Paris"}]
OA = {"Authorization": "Bearer sk-test"}
AN = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
GG = {"x-goog-api-key": "AIza-test"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_non_loopback(monkeypatch)


@pytest.fixture(scope="module")
def sim() -> Iterator:
    handle = start_background(seed=7, latency_scale=0, samples_dir=None, hang_s=30,
                              ground_truth={sha256_hex(DOG): DOG_TRUTH}, prompt_set=PROMPT_SET)
    yield handle
    handle.stop()


@pytest.fixture()
def http(sim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        yield client
        client.delete("/_admin/faults")


def fault(http: httpx.Client, **rule: object) -> dict:
    r = http.post("/_admin/faults", json=rule)
    assert r.status_code == 200, r.text
    return r.json()


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) of each Server-Sent Event in a body."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        event, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        out.append((event, "\n".join(data)))
    return out


def oa_chat(model: str = "gpt-4o", content: object = "Say something about caching",
            **extra: object) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def image_part(data: bytes = DOG) -> dict:
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64(data)}"}}


# ---- OpenAI and compatible ---------------------------------------------------------------


def test_openai_plain_answer_has_openai_shape(http: httpx.Client) -> None:
    r = http.post("/openai/v1/chat/completions", headers=OA, json=oa_chat())
    assert r.status_code == 200
    assert r.headers["x-request-id"].startswith("req_")
    doc = r.json()
    assert doc["id"].startswith("chatcmpl-") and doc["object"] == "chat.completion"
    assert doc["model"] == "gpt-4o-2024-08-06" and isinstance(doc["created"], int)
    choice = doc["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant" and len(choice["message"]["content"]) > 20
    u = doc["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    assert u["prompt_tokens_details"]["cached_tokens"] == 0
    assert u["completion_tokens_details"]["reasoning_tokens"] == 0
    assert u["completion_tokens"] == (len(choice["message"]["content"]) + 3) // 4


def test_openai_stream_matches_plain_answer_and_reports_usage(http: httpx.Client) -> None:
    body = oa_chat(content="Explain retries", temperature=0)
    plain = http.post("/openai/v1/chat/completions", headers=OA, json=body).json()
    r = http.post("/openai/v1/chat/completions", headers=OA,
                  json={**body, "stream": True, "stream_options": {"include_usage": True}})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == plain["choices"][0]["message"]["content"]  # temperature 0: same answer
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finish[0]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == plain["usage"]
    assert all(c["usage"] is None for c in chunks[:-1])


def test_openai_stream_without_include_usage_has_no_usage_chunk(http: httpx.Client) -> None:
    r = http.post("/openai/v1/chat/completions", headers=OA, json=oa_chat(stream=True))
    chunks = [json.loads(d) for _, d in sse_events(r.text)[:-1]]
    assert all("usage" not in c and c["choices"] for c in chunks)


def test_openai_image_of_known_photo_is_tagged_from_ground_truth(http: httpx.Client) -> None:
    content = [{"type": "text", "text": "List tags for this photo"}, image_part()]
    doc = http.post("/openai/v1/chat/completions", headers=OA,
                    json=oa_chat("gpt-5", content)).json()
    tags = [t.strip() for t in doc["choices"][0]["message"]["content"].split(",")]
    known = set(DOG_TRUTH["tags"]) | {s for v in DOG_TRUTH["synonyms"].values() for s in v}
    assert len(set(tags) & known) >= 3
    u = doc["usage"]
    assert u["prompt_tokens"] >= 765  # one image at OpenAI's per-image cost
    assert u["completion_tokens_details"]["reasoning_tokens"] > 0  # gpt-5 reasons


@pytest.mark.parametrize("prefix,model,headers", [
    ("mistral", "mistral-small-latest", OA),
    ("clarifai", "https://clarifai.com/meta/Llama-3/models/Llama-3_2-11B-Vision-Instruct", OA),
    ("ollama", "llama3.2-vision:11b", {}),  # Ollama's /v1 needs no key
    ("custom", "qwen2.5-vl-7b-instruct", OA),
])
def test_openai_compatible_prefixes(http: httpx.Client, prefix: str, model: str,
                                    headers: dict) -> None:
    listed = http.get(f"/{prefix}/v1/models", headers=headers).json()
    assert listed["object"] == "list"
    assert model in [m["id"] for m in listed["data"]]
    assert set(listed["data"][0]) == {"id", "object", "created", "owned_by"}
    r = http.post(f"/{prefix}/v1/chat/completions", headers=headers,
                  json=oa_chat(model, [{"type": "text", "text": "Tags?"}, image_part()]))
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"]


@pytest.mark.parametrize("body,param,code", [
    ({"messages": [{"role": "user", "content": "hi"}]}, None, None),
    ({"model": "gpt-4o"}, "messages", "missing_required_parameter"),
    ({"model": "gpt-4o", "messages": []}, "messages", "empty_array"),
    (oa_chat(content=[{"type": "video", "video": "x"}]), "messages[0].content[0].type",
     "invalid_value"),
    (oa_chat(content=[{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@"}}]),
     "messages[0].content[0].image_url.url", "invalid_value"),
    (oa_chat(stream_options={"include_usage": True}), "stream_options", "invalid_value"),
    (oa_chat("gpt-5", max_tokens=100), "max_tokens", "unsupported_parameter"),
    (oa_chat("gpt-5", temperature=0.2), "temperature", "unsupported_value"),
])
def test_openai_rejects_bad_requests(http: httpx.Client, body: dict, param: str | None,
                                     code: str | None) -> None:
    r = http.post("/openai/v1/chat/completions", headers=OA, json=body)
    assert r.status_code == 400
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error"
    assert (err["param"], err["code"]) == (param, code)


def test_openai_text_only_model_refuses_images(http: httpx.Client) -> None:
    r = http.post("/mistral/v1/chat/completions", headers=OA,
                  json=oa_chat("mistral-large-latest", [image_part()]))
    assert r.status_code == 400 and "image" in r.json()["error"]["message"]


def test_openai_auth_errors(http: httpx.Client) -> None:
    r = http.post("/openai/v1/chat/completions", json=oa_chat())
    assert r.status_code == 401 and r.json()["error"]["type"] == "invalid_request_error"
    r = http.post("/openai/v1/chat/completions", headers={"Authorization": "Bearer bad-key"},
                  json=oa_chat())
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert http.get("/openai/v1/models").status_code == 401


# ---- Anthropic ---------------------------------------------------------------------------


def an_body(**extra: object) -> dict:
    return {"model": "claude-sonnet-4-5", "max_tokens": 2000, "system": "Be brief.",
            "messages": [{"role": "user", "content": "Explain circuit breakers"}], **extra}


def test_anthropic_plain_answer(http: httpx.Client) -> None:
    bearer = {"authorization": "Bearer sk-ant-test", "anthropic-version": "2023-06-01"}
    assert http.post("/anthropic/v1/messages", headers=bearer, json=an_body()).status_code == 200
    r = http.post("/anthropic/v1/messages", headers=AN, json=an_body())
    assert r.status_code == 200 and r.headers["request-id"]
    doc = r.json()
    assert doc["id"].startswith("msg_") and doc["type"] == "message"
    assert doc["role"] == "assistant" and doc["model"] == "claude-sonnet-4-5-20250929"
    assert doc["content"][0]["type"] == "text" and doc["content"][0]["text"]
    assert doc["stop_reason"] == "end_turn" and doc["stop_sequence"] is None
    assert {"input_tokens", "output_tokens", "cache_read_input_tokens",
            "cache_creation_input_tokens"} <= set(doc["usage"])


def test_anthropic_stream_event_sequence(http: httpx.Client) -> None:
    body = an_body(temperature=0)
    plain = http.post("/anthropic/v1/messages", headers=AN, json=body).json()
    r = http.post("/anthropic/v1/messages", headers=AN, json={**body, "stream": True})
    events = sse_events(r.text)
    names = [e for e, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    docs = [json.loads(d) for _, d in events]
    assert all(d["type"] == e for (e, _), d in zip(events, docs, strict=True))
    assert docs[0]["message"]["content"] == [] and docs[0]["message"]["stop_reason"] is None
    text = "".join(d["delta"]["text"] for d in docs if d["type"] == "content_block_delta")
    assert text == plain["content"][0]["text"]
    delta = docs[-2]
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"]["output_tokens"] == plain["usage"]["output_tokens"]


def test_anthropic_image_block_and_max_tokens_cap(http: httpx.Client) -> None:
    content = [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                            "data": b64(DOG)}},
               {"type": "text", "text": "Describe this photo in one sentence."}]
    doc = http.post("/anthropic/v1/messages", headers=AN,
                    json=an_body(messages=[{"role": "user", "content": content}])).json()
    assert doc["usage"]["input_tokens"] >= 1100
    assert doc["content"][0]["text"].endswith(".")
    short = http.post("/anthropic/v1/messages", headers=AN, json=an_body(max_tokens=3)).json()
    assert short["stop_reason"] == "max_tokens" and short["usage"]["output_tokens"] <= 3


@pytest.mark.parametrize("headers,status,kind", [
    ({"anthropic-version": "2023-06-01"}, 401, "authentication_error"),
    ({"x-api-key": "bad-key", "anthropic-version": "2023-06-01"}, 401, "authentication_error"),
    ({"x-api-key": "k"}, 400, "invalid_request_error"),
    ({"authorization": "Bearer bad-key", "anthropic-version": "2023-06-01"}, 401,
     "authentication_error"),
])
def test_anthropic_header_errors(http: httpx.Client, headers: dict, status: int,
                                 kind: str) -> None:
    r = http.post("/anthropic/v1/messages", headers=headers, json=an_body())
    assert r.status_code == status
    doc = r.json()
    assert doc["type"] == "error" and doc["error"]["type"] == kind and doc["error"]["message"]


@pytest.mark.parametrize("body,fragment", [
    ({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "x"}]},
     "max_tokens: Field required"),
    (an_body(messages=[{"role": "system", "content": "x"}]), 'Unexpected role "system"'),
    (an_body(messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/bmp",
                                     "data": b64(DOG)}}]}]), "media_type"),
    (an_body(max_tokens=10**6), "maximum allowed number of output tokens"),
])
def test_anthropic_validation(http: httpx.Client, body: dict, fragment: str) -> None:
    r = http.post("/anthropic/v1/messages", headers=AN, json=body)
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert fragment in r.json()["error"]["message"]


def test_anthropic_models_list_and_prompt_caching(http: httpx.Client) -> None:
    doc = http.get("/anthropic/v1/models", headers=AN).json()
    assert doc["has_more"] is False and doc["first_id"] == doc["data"][0]["id"]
    assert {"type", "id", "display_name", "created_at"} == set(doc["data"][0])
    assert "claude-sonnet-4-5-20250929" in [m["id"] for m in doc["data"]]
    system = [{"type": "text", "text": "Policy. " * 800, "cache_control": {"type": "ephemeral"}}]
    first = http.post("/anthropic/v1/messages", headers=AN, json=an_body(system=system)).json()
    second = http.post("/anthropic/v1/messages", headers=AN, json=an_body(system=system)).json()
    assert first["usage"]["cache_creation_input_tokens"] > 1024
    assert second["usage"]["cache_read_input_tokens"] == \
        first["usage"]["cache_creation_input_tokens"]


# ---- Gemini ------------------------------------------------------------------------------


def gm_body(*parts: dict, **extra: object) -> dict:
    return {"contents": [{"role": "user", "parts": list(parts) or [{"text": "Explain SLAs"}]}],
            **extra}


def test_gemini_plain_answer_with_image(http: httpx.Client) -> None:
    body = gm_body({"text": "Tags for this photo"},
                   {"inlineData": {"mimeType": "image/png", "data": b64(DOG)}},
                   systemInstruction={"parts": [{"text": "Answer with tags."}]},
                   generationConfig={"temperature": 0.2, "maxOutputTokens": 200})
    r = http.post("/gemini/v1beta/models/gemini-2.0-flash:generateContent", headers=GG, json=body)
    assert r.status_code == 200, r.text
    doc = r.json()
    cand = doc["candidates"][0]
    assert cand["content"]["role"] == "model" and cand["content"]["parts"][0]["text"]
    assert cand["finishReason"] == "STOP" and cand["index"] == 0
    u = doc["usageMetadata"]
    assert u["totalTokenCount"] == u["promptTokenCount"] + u["candidatesTokenCount"]
    assert {"modality": "IMAGE", "tokenCount": 258} in u["promptTokensDetails"]
    assert doc["modelVersion"] == "gemini-2.0-flash-001" and doc["responseId"]


def test_gemini_stream_sse_and_json_array(http: httpx.Client) -> None:
    url = "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    body = gm_body(generationConfig={"temperature": 0})
    plain = http.post(url.replace("streamGenerateContent", "generateContent"), headers=GG,
                      json=body).json()
    r = http.post(url + "?alt=sse", headers=GG, json=body)
    assert r.headers["content-type"].startswith("text/event-stream")
    docs = [json.loads(d) for _, d in sse_events(r.text)]
    text = "".join(p.get("text", "") for d in docs
                   for p in d["candidates"][0]["content"].get("parts", []))
    assert text == plain["candidates"][0]["content"]["parts"][0]["text"]
    assert docs[-1]["candidates"][0]["finishReason"] == "STOP"
    assert docs[-1]["usageMetadata"] == plain["usageMetadata"]
    assert docs[-1]["usageMetadata"]["thoughtsTokenCount"] > 0  # 2.5 Flash thinks
    array = http.post(url, headers=GG, json=body)  # no alt=sse: one JSON array
    assert [d["usageMetadata"] for d in array.json()][-1] == plain["usageMetadata"]


def test_gemini_key_only_in_header(http: httpx.Client) -> None:
    url = "/gemini/v1beta/models/gemini-2.0-flash:generateContent"
    r = http.post(url + "?key=AIzaSECRETSECRET", headers=GG, json=gm_body())
    assert r.status_code == 400 and "x-goog-api-key" in r.json()["error"]["message"]
    assert "SECRET" not in r.text
    r = http.post(url, json=gm_body())
    assert r.status_code == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED"
    r = http.post(url, headers={"x-goog-api-key": "bad-key"}, json=gm_body())
    err = r.json()["error"]
    assert r.status_code == 400 and err["status"] == "INVALID_ARGUMENT"
    assert err["details"][0]["reason"] == "API_KEY_INVALID"


def test_gemini_validation_and_models(http: httpx.Client) -> None:
    url = "/gemini/v1beta/models/gemini-2.0-flash:generateContent"
    r = http.post(url, headers=GG, json={"contents": []})
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    r = http.post(url, headers=GG, json=gm_body({"inlineData": {"mimeType": "image/png",
                                                                 "data": "@@not base64"}}))
    assert r.status_code == 400
    listed = http.get("/gemini/v1beta/models", headers=GG).json()["models"]
    entry = next(m for m in listed if m["name"] == "models/gemini-2.5-pro")
    assert {"displayName", "inputTokenLimit", "outputTokenLimit"} <= set(entry)
    assert "generateContent" in entry["supportedGenerationMethods"]
    one = http.get("/gemini/v1/models/gemini-2.5-pro", headers=GG)  # v1 works as well
    assert one.json()["name"] == "models/gemini-2.5-pro"


# ---- unknown models: each protocol's own 404 ----------------------------------------------


def test_unknown_models_get_each_protocols_404(http: httpx.Client) -> None:
    r = http.post("/openai/v1/chat/completions", headers=OA, json=oa_chat("gpt-9"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    r = http.post("/anthropic/v1/messages", headers=AN, json=an_body(model="claude-9"))
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
    r = http.post("/gemini/v1beta/models/gemini-9:generateContent", headers=GG, json=gm_body())
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    r = http.post("/ollama/api/chat", json={"model": "nope:1b", "messages": []})
    assert r.status_code == 404 and "not found" in r.json()["error"]


# ---- Ollama native -----------------------------------------------------------------------


def test_ollama_tags_and_chat_stream(http: httpx.Client) -> None:
    tags = http.get("/ollama/api/tags").json()["models"]
    entry = next(m for m in tags if m["name"] == "llama3.2-vision:11b")
    assert {"model", "modified_at", "size", "digest", "details"} <= set(entry)
    body = {"model": "llama3.2-vision:11b", "options": {"temperature": 0},
            "messages": [{"role": "user", "content": "Tags?", "images": [b64(DOG)]}]}
    r = http.post("/ollama/api/chat", json=body)  # stream defaults to true
    assert r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines() if line]
    assert all(not d["done"] for d in lines[:-1]) and lines[-1]["done"] is True
    final = lines[-1]
    assert final["done_reason"] == "stop" and final["prompt_eval_count"] >= 640
    assert final["eval_count"] > 0 and final["total_duration"] > 0
    plain = http.post("/ollama/api/chat", json={**body, "stream": False}).json()
    assert plain["done"] is True
    assert plain["message"]["content"] == "".join(d["message"]["content"] for d in lines)


def test_ollama_pull_streams_ndjson_progress_then_lists_the_model(http: httpx.Client) -> None:
    assert "qwen2.5vl:7b" not in {m["name"] for m in http.get("/ollama/api/tags").json()[
        "models"]}
    with http.stream("POST", "/ollama/api/pull", json={"model": "qwen2.5vl:7b"}) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in r.iter_lines() if line]
    assert lines[0] == {"status": "pulling manifest"} and lines[-1] == {"status": "success"}
    layers = [d for d in lines if "digest" in d]
    assert layers and all(set(d) == {"status", "digest", "total", "completed"}
                          and 0 <= d["completed"] <= d["total"] for d in layers)
    assert any(d["completed"] == d["total"] for d in layers)
    tags = {m["name"]: m for m in http.get("/ollama/api/tags").json()["models"]}
    assert tags["qwen2.5vl:7b"]["details"]["families"] == ["qwen25vl"]
    chat = http.post("/ollama/api/chat", json={"model": "qwen2.5vl:7b", "stream": False,
                                                "messages": [{"role": "user", "content": "hi",
                                                              "images": [b64(DOG)]}]})
    assert chat.status_code == 200, chat.text  # a vision model: takes the photo


# ---- Cloud Vision ------------------------------------------------------------------------


def test_vision_labels_and_per_image_errors(http: httpx.Client) -> None:
    body = {"requests": [
        {"image": {"content": b64(DOG)}, "features": [{"type": "LABEL_DETECTION",
                                                       "maxResults": 5}]},
        {"image": {"content": "@@@"}, "features": [{"type": "LABEL_DETECTION"}]},
    ]}
    r = http.post("/vision/v1/images:annotate", headers=GG, json=body)
    assert r.status_code == 200, r.text
    first, second = r.json()["responses"]
    labels = first["labelAnnotations"]
    assert 1 <= len(labels) <= 5
    assert set(labels[0]) == {"mid", "description", "score", "topicality"}
    assert labels == sorted(labels, key=lambda lab: -lab["score"])
    assert second == {"error": {"code": 3, "message": "Bad image data."}}
    bad = http.post("/vision/v1/images:annotate", headers={"x-goog-api-key": "bad-key"},
                    json=body)
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["reason"] == \
        "API_KEY_INVALID"



def test_vision_reads_url_safe_base64_like_protobuf_json(http: httpx.Client) -> None:
    """Cloud Vision's ``image.content`` is a protobuf ``bytes`` field: both alphabets, with or
    without padding, are read as a photo (a bad encoding is a per-image "Bad image data")."""
    photo = (ROOT / "data" / "samples" / "photos" / "clock.jpg").read_bytes()
    standard = base64.b64encode(photo).decode()
    url_safe = base64.urlsafe_b64encode(photo).decode().rstrip("=")
    assert set(standard) & set("+/") and set(url_safe) & set("-_")
    answers = []
    for content in (standard, url_safe):
        r = http.post("/vision/v1/images:annotate", headers=GG, json={"requests": [
            {"image": {"content": content}, "features": [{"type": "LABEL_DETECTION"}]}]})
        assert r.status_code == 200, r.text
        answers.append(r.json()["responses"][0])
    assert all("error" not in a and a["labelAnnotations"] for a in answers), answers


# ---- faults ------------------------------------------------------------------------------


def test_rate_limit_fault_has_retry_after_in_each_protocol(http: httpx.Client) -> None:
    fault(http, rate_limit_rate=1.0, retry_after_s=7)
    r = http.post("/openai/v1/chat/completions", headers=OA, json=oa_chat())
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    r = http.post("/anthropic/v1/messages", headers=AN, json=an_body())
    assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
    assert r.headers["retry-after"] == "7"
    r = http.post("/gemini/v1beta/models/gemini-2.0-flash:generateContent", headers=GG,
                  json=gm_body())
    assert r.status_code == 429 and r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert r.json()["error"]["details"][0]["retryDelay"] == "7s"


def test_status_faults_per_provider(http: httpx.Client) -> None:
    fault(http, provider="anthropic", status=529)
    fault(http, provider="gcp.gemini", model="gemini-2.0-flash", status=503)
    r = http.post("/anthropic/v1/messages", headers=AN, json=an_body())
    assert r.status_code == 529 and r.json()["error"]["type"] == "overloaded_error"
    r = http.post("/gemini/v1beta/models/gemini-2.0-flash:generateContent", headers=GG,
                  json=gm_body())
    assert r.status_code == 503 and r.json()["error"]["status"] == "UNAVAILABLE"
    ok = http.post("/gemini/v1beta/models/gemini-2.5-flash:generateContent", headers=GG,
                   json=gm_body())
    assert ok.status_code == 200  # the rule names one model only
    assert http.post("/openai/v1/chat/completions", headers=OA,
                     json=oa_chat()).status_code == 200
    fault(http, provider="openai", status=500)
    assert http.get("/openai/v1/models", headers=OA).status_code == 500  # health checks see it
    state = http.get("/_admin/faults").json()
    assert {"provider": "gemini", "model": "gemini-2.0-flash", "status": 503} in state["faults"]


def test_malformed_fault_breaks_json_and_streams(http: httpx.Client) -> None:
    fault(http, provider="openai", malformed_rate=1.0)
    r = http.post("/openai/v1/chat/completions", headers=OA, json=oa_chat())
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        r.json()
    r = http.post("/openai/v1/chat/completions", headers=OA, json=oa_chat(stream=True))
    events = sse_events(r.text)
    assert events[-1][1] != "[DONE]"
    with pytest.raises(json.JSONDecodeError):
        json.loads(events[-1][1])


@pytest.mark.parametrize("stream", [False, True])
def test_timeout_fault_hangs_past_the_client_timeout(sim, http: httpx.Client,
                                                     stream: bool) -> None:
    fault(http, provider="anthropic", timeout_rate=1.0)
    with httpx.Client(base_url=sim.url, timeout=0.3) as short, pytest.raises(httpx.ReadTimeout):
        r = short.post("/anthropic/v1/messages", headers=AN, json=an_body(stream=stream))
        r.read()


def test_latency_fault_and_admin_validation(http: httpx.Client) -> None:
    fault(http, provider="mistral", latency_ms=250)
    started = time.perf_counter()
    r = http.post("/mistral/v1/chat/completions", headers=OA,
                  json=oa_chat("mistral-small-latest"))
    assert r.status_code == 200 and time.perf_counter() - started >= 0.2
    assert http.post("/_admin/faults", json={"provider": "nope"}).status_code == 422
    assert http.post("/_admin/faults", json={"error_rat": 1}).status_code == 422
    assert http.post("/_admin/faults", json={"list_models_add": ["x"]}).status_code == 422


def test_list_models_add_and_remove(http: httpx.Client) -> None:
    fault(http, provider="openai", list_models_add=["gpt-6-preview"],
          list_models_remove=["gpt-4o"])
    ids = [m["id"] for m in http.get("/openai/v1/models", headers=OA).json()["data"]]
    assert "gpt-6-preview" in ids and "gpt-4o" not in ids
    assert http.post("/openai/v1/chat/completions", headers=OA,
                     json=oa_chat("gpt-6-preview")).status_code == 200
    assert http.post("/openai/v1/chat/completions", headers=OA,
                     json=oa_chat("gpt-4o")).status_code == 404
    fault(http, provider="gemini", list_models_add=["gemini-3-pro"])
    names = [m["name"] for m in http.get("/gemini/v1beta/models", headers=GG).json()["models"]]
    assert "models/gemini-3-pro" in names
    http.delete("/_admin/faults")
    ids = [m["id"] for m in http.get("/openai/v1/models", headers=OA).json()["data"]]
    assert "gpt-4o" in ids and "gpt-6-preview" not in ids


def test_admin_is_loopback_only(sim) -> None:
    transport = httpx.ASGITransport(app=sim.app, client=("10.1.2.3", 5555))

    async def go() -> int:
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            return (await client.post("/_admin/faults", json={"status": 500})).status_code

    import asyncio

    assert asyncio.run(go()) == 403


def _tags_of(http: httpx.Client, image: bytes, model: str = "gpt-4o") -> set[str]:
    doc = http.post("/openai/v1/chat/completions", headers=OA,
                    json=oa_chat(model, [{"type": "text", "text": "tags"},
                                         image_part(image)])).json()
    return {t.strip() for t in doc["choices"][0]["message"]["content"].split(",")}


def test_knowledge_is_taught_then_forgotten(http: httpx.Client) -> None:
    photo = png(77, 11, 99)
    truth = {"tags": ["sprocket", "gasket", "flange", "rivet", "bracket"],
             "synonyms": {"sprocket": ["cog"]}, "description": "Workshop parts on a bench."}
    question = "What is the name of the Acme mascot?"
    before = http.get("/_admin/knowledge").json()
    untaught = set().union(*(_tags_of(http, photo) for _ in range(10)))
    assert not untaught & set(truth["tags"])  # a latent stand-in truth, nothing like ours
    r = http.post("/_admin/knowledge", json={
        "photos": {sha256_hex(photo).upper(): truth},
        "references": [{"prompt": question, "reference": "Sprocky"}]})
    assert r.status_code == 200, r.text
    assert r.json() == {"photos": before["photos"] + 1,
                        "references": before["references"] + 1}
    try:
        right = returned = 0
        for _ in range(30):
            tags = {"sprocket" if t == "cog" else t for t in _tags_of(http, photo)}
            returned += len(tags)
            right += len(tags & set(truth["tags"]))
        assert right / returned > 0.7  # gpt-4o's precision is 0.86
        answers = [http.post("/anthropic/v1/messages", headers=AN, json=an_body(
            model="claude-haiku-4-5", system="",
            messages=[{"role": "user", "content": question}])).json()["content"][0]["text"]
            for _ in range(20)]
        assert answers.count("Sprocky") >= 10
    finally:
        assert http.delete("/_admin/knowledge").json() == before
    assert not set().union(*(_tags_of(http, photo) for _ in range(10))) & set(truth["tags"])
    assert http.get("/_admin/knowledge").json() == before


def test_knowledge_is_validated_and_loopback_only(sim, http: httpx.Client) -> None:
    before = http.get("/_admin/knowledge").json()
    for body in ({"photos": {"not-a-sha": {"tags": ["x"]}}},
                 {"photos": {sha256_hex(b"x"): {"tags": "x"}}},
                 {"references": [{"prompt": "", "reference": "x"}]},
                 {"labels": {}}):
        r = http.post("/_admin/knowledge", json=body)
        assert r.status_code == 422 and r.json()["error"] == "invalid knowledge", body
    r = http.post("/_admin/knowledge", content=b"{nope", headers={"content-type": "text/plain"})
    assert r.status_code == 422
    assert http.get("/_admin/knowledge").json() == before
    transport = httpx.ASGITransport(app=sim.app, client=("10.1.2.3", 5555))

    async def go() -> list[int]:
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            body = {"photos": {sha256_hex(b"x"): {"tags": ["x"]}}}
            return [(await client.post("/_admin/knowledge", json=body)).status_code,
                    (await client.get("/_admin/knowledge")).status_code,
                    (await client.delete("/_admin/knowledge")).status_code]

    import asyncio

    assert asyncio.run(go()) == [403, 403, 403]
    assert http.get("/_admin/knowledge").json() == before


def test_stats_count_requests_by_route_and_model(sim, http: httpx.Client) -> None:
    http.delete("/_admin/stats")
    for _ in range(3):
        http.post("/openai/v1/chat/completions", headers=OA, json=oa_chat("gpt-4.1"))
    http.post("/openai/v1/chat/completions", headers=OA, json=oa_chat("gpt-9"))
    stats = http.get("/_admin/stats").json()
    assert stats["by_route"]["POST /openai/v1/chat/completions"] == 4
    assert stats["by_model"]["openai"]["gpt-4.1"] == {"requests": 3, "errors": 0}
    assert stats["by_model"]["openai"]["gpt-9"] == {"requests": 1, "errors": 1}


# ---- determinism and answer quality -------------------------------------------------------


def test_same_seed_same_answers_and_repeats_vary() -> None:
    bodies = [oa_chat(content=f"Question {i} about databases") for i in range(3)]
    bodies.append(oa_chat(content=[{"type": "text", "text": "tags"}, image_part(UNKNOWN)]))
    runs = []
    for _ in range(2):
        with start_background(seed=11, latency_scale=0, samples_dir=None) as h, \
                httpx.Client(base_url=h.url) as client:
            runs.append([client.post("/openai/v1/chat/completions", headers=OA, json=b).json()
                         for b in bodies + bodies])
    texts = [[d["choices"][0]["message"]["content"] for d in run] for run in runs]
    assert texts[0] == texts[1]
    assert [d["usage"] for d in runs[0]] == [d["usage"] for d in runs[1]]
    assert texts[0][:4] != texts[0][4:]  # asking again gives another sample


def test_tag_precision_and_recall_follow_the_profile(http: httpx.Client) -> None:
    profile = next(p for p in PROFILES if p.id == "gpt-4o")
    truth = set(DOG_TRUTH["tags"])
    synonym = {s: t for t, v in DOG_TRUTH["synonyms"].items() for s in v}
    right = returned = found = 0
    n = 120
    for _ in range(n):
        doc = http.post("/openai/v1/chat/completions", headers=OA,
                        json=oa_chat("gpt-4o", [{"type": "text", "text": "tags"},
                                                image_part()])).json()
        tags = {synonym.get(t.strip(), t.strip())
                for t in doc["choices"][0]["message"]["content"].split(",")}
        returned += len(tags)
        right += len(tags & truth)
        found += len(tags & truth)
    precision, recall = right / returned, found / (n * len(truth))
    assert abs(precision - profile.tag_precision) < 0.06, precision
    assert abs(recall - profile.tag_recall) < 0.06, recall


def test_prompt_references_are_matched_at_the_profiles_rate(http: httpx.Client) -> None:
    profile = next(p for p in PROFILES if p.id == "claude-haiku-4-5")
    hits = 0
    n = 150
    for _ in range(n):
        doc = http.post("/anthropic/v1/messages", headers=AN,
                        json=an_body(model="claude-haiku-4-5", system="",
                                     messages=[{"role": "user", "content": PROMPT}])).json()
        hits += doc["content"][0]["text"] == "Paris"
    assert abs(hits / n - profile.reference_agreement) < 0.1


def test_labels_yaml_is_loaded_from_the_samples_folder(tmp_path: Path) -> None:
    (tmp_path / "dog.png").write_bytes(DOG)
    (tmp_path / "labels.yaml").write_text(
        "photos:\n  dog.png:\n    tags: [dog, ball]\n    synonyms: {dog: [puppy]}\n"
        "    description: A dog.\n    safety: []\n  missing.png:\n    tags: [cat]\n")
    (tmp_path / "prompts.yaml").write_text(
        "prompts:\n  - id: p1\n    prompt: Name a colour.\n    reference: Blue\n")
    knowledge = Knowledge.load(tmp_path)
    photo = knowledge.photo(sha256_hex(DOG))
    assert photo is not None and photo.tags == ("dog", "ball") and photo.name == "dog.png"
    assert len(knowledge.photos) == 1
    assert knowledge.reference_for("Please: name a colour.  Thanks") == "Blue"
    assert Simulator(samples_dir=tmp_path / "absent").knowledge.photos == {}


def test_base_urls_and_cli_help() -> None:
    urls = base_urls("http://127.0.0.1:8787/")
    assert urls == {
        "openai": "http://127.0.0.1:8787/openai/v1",
        "anthropic": "http://127.0.0.1:8787/anthropic",
        "gemini": "http://127.0.0.1:8787/gemini",
        "mistral": "http://127.0.0.1:8787/mistral/v1",
        "clarifai": "http://127.0.0.1:8787/clarifai/v1",
        "ollama": "http://127.0.0.1:8787/ollama",
        "openai_compatible": "http://127.0.0.1:8787/custom/v1",
        "gcp_vision": "http://127.0.0.1:8787/vision",
    }
    result = CliRunner().invoke(simulator_command, ["--help"])
    assert result.exit_code == 0 and "--port" in result.output


# ---- judge mode ---------------------------------------------------------------------------


def judge_prompt(answer: str, *, reference: str | None = "Paris",
                 question: str | None = PROMPT) -> str:
    from core.compare.scoring import build_judge_prompt

    return build_judge_prompt(None, answer, reference=reference, question=question)


def judged(http: httpx.Client, protocol: str, prompt: str, *, temperature: float = 0) -> str:
    """The judge's raw reply text through one wire protocol."""
    if protocol == "openai":
        r = http.post("/openai/v1/chat/completions", headers=OA,
                      json=oa_chat("gpt-4.1", prompt, temperature=temperature))
        assert r.status_code == 200, r.text
        return r.json()["choices"][0]["message"]["content"]
    if protocol == "anthropic":
        r = http.post("/anthropic/v1/messages", headers=AN,
                      json=an_body(model="claude-sonnet-4-5", system="",
                                   temperature=temperature,
                                   messages=[{"role": "user", "content": prompt}]))
        assert r.status_code == 200, r.text
        return r.json()["content"][0]["text"]
    r = http.post("/gemini/v1beta/models/gemini-2.5-pro:generateContent", headers=GG,
                  json=gm_body({"text": prompt},
                               generationConfig={"temperature": temperature}))
    assert r.status_code == 200, r.text
    return r.json()["candidates"][0]["content"]["parts"][0]["text"]


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini"])
def test_a_judge_prompt_gets_a_json_grade_from_a_real_comparison(http: httpx.Client,
                                                                 protocol: str) -> None:
    from core.compare.scoring import parse_judge_output

    good = judged(http, protocol, judge_prompt("Paris"))
    doc = json.loads(good)  # the reply is exactly the JSON object the template asks for
    assert set(doc) == {"score", "reason"} and isinstance(doc["score"], int)
    assert 8 <= doc["score"] <= 10 and doc["reason"].endswith(".")
    assert parse_judge_output(good).score == doc["score"] / 10
    # not the question's reference (what a plain answer to the known prompt would be)
    assert good != "Paris"
    wrong = json.loads(judged(http, protocol, judge_prompt("Lyon, without a doubt.")))
    assert wrong["score"] <= 3 and "not agree" in wrong["reason"]
    # temperature 0: the same request gets the same grade
    assert judged(http, protocol, judge_prompt("Paris")) == good


def test_judge_grades_are_reproducible_from_the_seed() -> None:
    prompts = [judge_prompt(a) for a in ("Paris", "It is Paris, the capital.", "Rome")]
    runs = []
    for _ in range(2):
        with start_background(seed=13, latency_scale=0, samples_dir=None) as h, \
                httpx.Client(base_url=h.url) as client:
            runs.append([judged(client, "openai", p, temperature=1) for p in prompts * 2])
    assert runs[0] == runs[1]
    assert all(0 <= json.loads(t)["score"] <= 10 for t in runs[0])


def test_judge_without_a_reference_uses_the_known_one_or_the_question(
        http: httpx.Client) -> None:
    # the simulator knows the question's reference even when the prompt leaves it out
    known = json.loads(judged(http, "openai", judge_prompt("Paris", reference=None)))
    assert known["score"] >= 8
    unknown = json.loads(judged(http, "openai", judge_prompt(
        "Tides come from the moon's gravity.", reference=None,
        question="Why do tides happen on the coast?")))
    assert 0 <= unknown["score"] <= 10 and "no reference" in unknown["reason"]
    empty = json.loads(judged(http, "openai", judge_prompt("")))
    assert empty["score"] == 0


def test_stronger_judges_grade_more_sharply(http: httpx.Client) -> None:
    """The same half-right answer graded repeatedly: a strong judge's grades vary less."""
    from statistics import pstdev

    prompt = judge_prompt("Paris is one answer, though Lyon is often named too",
                          reference="Paris is the capital")
    grades: dict[str, list[int]] = {}
    for model, path, headers in (("gpt-5", "/openai/v1/chat/completions", OA),
                                 ("llama3.2-vision:11b", "/ollama/v1/chat/completions", {})):
        grades[model] = [json.loads(http.post(path, headers=headers, json=oa_chat(
            model, prompt, temperature=1)).json()["choices"][0]["message"]["content"])["score"]
            for _ in range(40)]
    assert pstdev(grades["gpt-5"]) < pstdev(grades["llama3.2-vision:11b"])


def test_only_the_judge_template_switches_judge_mode() -> None:
    from core.simulator.judge import parse_judge_request, similarity

    tricky = "ok\nANSWER:\n<<<\nnested\n>>> and more"  # a model's answer may contain fences
    req = parse_judge_request(judge_prompt(tricky))
    assert req is not None and req.answer == tricky.strip()
    assert req.reference == "Paris" and req.question == PROMPT
    assert parse_judge_request(PROMPT) is None
    assert parse_judge_request("Say: You are an impartial evaluator.\nANSWER:\n<<<\nx\n>>>") \
        is None  # the header must open the prompt
    assert parse_judge_request("You are an impartial evaluator. Grade it.") is None  # no block
    assert similarity("SAFE", "UNSAFE") == 0.0 and similarity("Paris", "paris.") == 1.0
