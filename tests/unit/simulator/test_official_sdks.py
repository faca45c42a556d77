"""The official OpenAI, Anthropic and Google GenAI SDKs, unchanged, against the simulator:
if they parse its answers, streams and errors, the simulator speaks the real protocols.

Every SDK gets an explicit key and base URL, retries off, and the credential/endpoint
environment variables cleared; a socket guard fails the test on any non-loopback connect.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator

import httpx
import pytest

from core.simulator.launcher import start_background
from core.simulator.truth import sha256_hex
from tests.helpers import DOG, DOG_TRUTH, ROOT

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
genai = pytest.importorskip("google.genai")
genai_types = pytest.importorskip("google.genai.types")
genai_errors = pytest.importorskip("google.genai.errors")

ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
       "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL",
       "ANTHROPIC_CUSTOM_HEADERS", "GOOGLE_API_KEY", "GEMINI_API_KEY",
       "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE", "GOOGLE_CLOUD_PROJECT",
       "GOOGLE_CLOUD_LOCATION", "GOOGLE_GENAI_API_VERSION", "HTTP_PROXY", "HTTPS_PROXY",
       "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
KNOWN = set(DOG_TRUTH["tags"]) | {s for v in DOG_TRUTH["synonyms"].values() for s in v}


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials or endpoints from the environment; no connection beyond loopback."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"SDK tried to connect to {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(scope="module")
def sim() -> Iterator:
    handle = start_background(seed=3, latency_scale=0, samples_dir=None,
                              ground_truth={sha256_hex(DOG): DOG_TRUTH})
    yield handle
    handle.stop()


@pytest.fixture()
def admin(sim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        yield client
        client.delete("/_admin/faults")


def _tags(text: str) -> set[str]:
    return {t.strip() for t in text.split(",")}


# ---- OpenAI ------------------------------------------------------------------------------


@pytest.fixture()
def oa(sim) -> Iterator:
    client = openai.OpenAI(base_url=sim.base_urls["openai"], api_key="sk-test", max_retries=0,
                           timeout=10)
    yield client
    client.close()


def test_openai_sdk_plain_stream_image(oa) -> None:
    done = oa.chat.completions.create(model="gpt-4o-mini",
                                      messages=[{"role": "user", "content": "Hello"}])
    assert done.choices[0].message.content and done.choices[0].finish_reason == "stop"
    assert done.model == "gpt-4o-mini-2024-07-18" and done.usage.total_tokens > 0

    chunks = list(oa.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Hello"}], stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].usage.completion_tokens == (len(text) + 3) // 4

    url = "data:image/png;base64," + base64.b64encode(DOG).decode()
    seen = oa.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": [
        {"type": "text", "text": "Tags for this photo, comma separated"},
        {"type": "image_url", "image_url": {"url": url}}]}])
    assert len(_tags(seen.choices[0].message.content) & KNOWN) >= 2
    assert seen.usage.prompt_tokens >= 765

    assert "gpt-5" in {m.id for m in oa.models.list()}


def test_openai_sdk_errors(oa, admin: httpx.Client, sim) -> None:
    bad = openai.OpenAI(base_url=sim.base_urls["openai"], api_key="bad-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    bad.close()
    with pytest.raises(openai.NotFoundError):
        oa.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    admin.post("/_admin/faults", json={"provider": "openai", "rate_limit_rate": 1,
                                       "retry_after_s": 3})
    with pytest.raises(openai.RateLimitError) as info:
        oa.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert info.value.response.headers["retry-after"] == "3"
    assert info.value.code == "rate_limit_exceeded"


# ---- Anthropic ---------------------------------------------------------------------------


@pytest.fixture()
def an(sim) -> Iterator:
    client = anthropic.Anthropic(base_url=sim.base_urls["anthropic"], api_key="sk-ant-test",
                                 max_retries=0, timeout=10)
    yield client
    client.close()


def test_anthropic_sdk_plain_stream_image(an) -> None:
    msg = an.messages.create(model="claude-haiku-4-5", max_tokens=1024, system="Be brief.",
                             messages=[{"role": "user", "content": "Hello"}])
    assert msg.content[0].text and msg.stop_reason == "end_turn"
    assert msg.model == "claude-haiku-4-5-20251001" and msg.usage.output_tokens > 0

    with an.messages.stream(model="claude-sonnet-4-5", max_tokens=1024,
                            messages=[{"role": "user", "content": "Hello"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.content[0].text == text
    assert final.usage.output_tokens == (len(text) + 3) // 4

    seen = an.messages.create(model="claude-opus-4-1", max_tokens=1024, messages=[{
        "role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": base64.b64encode(DOG).decode()}},
            {"type": "text", "text": "Tags for this photo, comma separated"}]}])
    assert len(_tags(seen.content[0].text) & KNOWN) >= 2

    assert "claude-opus-4-1-20250805" in {m.id for m in an.models.list()}


def test_anthropic_sdk_errors(an, admin: httpx.Client, sim) -> None:
    bad = anthropic.Anthropic(base_url=sim.base_urls["anthropic"], api_key="bad-key",
                              max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(model="claude-haiku-4-5", max_tokens=10,
                            messages=[{"role": "user", "content": "x"}])
    bad.close()
    admin.post("/_admin/faults", json={"provider": "anthropic", "status": 529})
    with pytest.raises(anthropic.OverloadedError):
        an.messages.create(model="claude-haiku-4-5", max_tokens=10,
                           messages=[{"role": "user", "content": "x"}])
    admin.post("/_admin/faults", json={"provider": "anthropic", "rate_limit_rate": 1})
    with pytest.raises(anthropic.RateLimitError):
        an.messages.create(model="claude-haiku-4-5", max_tokens=10,
                           messages=[{"role": "user", "content": "x"}])


# ---- Google GenAI ------------------------------------------------------------------------


def gclient(sim, key: str = "AIza-test", version: str | None = "v1beta"):
    options = genai_types.HttpOptions(base_url=sim.base_urls["gemini"], api_version=version,
                                      timeout=10_000)
    return genai.Client(api_key=key, http_options=options)


def test_google_genai_sdk_plain_stream_image(sim) -> None:
    client = gclient(sim)
    done = client.models.generate_content(model="gemini-2.0-flash", contents="Hello")
    assert done.text and done.candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert done.usage_metadata.total_token_count == (done.usage_metadata.prompt_token_count
                                                     + done.usage_metadata.candidates_token_count)
    assert done.model_version == "gemini-2.0-flash-001"

    chunks = list(client.models.generate_content_stream(
        model="gemini-2.5-flash", contents="Hello",
        config=genai_types.GenerateContentConfig(system_instruction="Be brief.",
                                                 max_output_tokens=2000)))
    text = "".join(c.text or "" for c in chunks)
    assert text and chunks[-1].usage_metadata.thoughts_token_count > 0

    seen = client.models.generate_content(model="gemini-2.5-pro", contents=[
        genai_types.Part.from_bytes(data=DOG, mime_type="image/png"),
        "Tags for this photo, comma separated"])
    assert len(_tags(seen.text) & KNOWN) >= 2
    assert seen.usage_metadata.prompt_token_count >= 258

    default_version = gclient(sim, version=None)  # the SDK's default API version works too
    reply = default_version.models.generate_content(model="gemini-1.5-pro", contents="Hi")
    assert reply.text
    assert "models/gemini-2.5-pro" in {m.name for m in client.models.list()}


def test_google_genai_sdk_errors(sim, admin: httpx.Client) -> None:
    bad, client = gclient(sim, key="bad-key"), gclient(sim)  # keep both alive while in use
    with pytest.raises(genai_errors.ClientError) as info:
        bad.models.generate_content(model="gemini-2.0-flash", contents="x")
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    admin.post("/_admin/faults", json={"provider": "gemini", "rate_limit_rate": 1})
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.generate_content(model="gemini-2.0-flash", contents="x")
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"
    admin.post("/_admin/faults", json={"provider": "gemini", "status": 503})
    with pytest.raises(genai_errors.ServerError) as info:
        client.models.generate_content(model="gemini-2.0-flash", contents="x")
    assert info.value.code == 503


def test_google_genai_sdk_sends_a_real_jpeg_in_url_safe_base64(sim, admin: httpx.Client) -> None:
    """The SDK encodes ``inline_data.data`` with ``urlsafe_b64encode`` (its ``_common.py``);
    the real API reads both alphabets (protobuf JSON), so the simulator must too."""
    photo = (ROOT / "data" / "samples" / "photos" / "clock.jpg").read_bytes()
    encoded = base64.urlsafe_b64encode(photo).decode()
    assert "-" in encoded and "_" in encoded  # the case the strict alphabet rejected
    tags = ["clock", "time", "numbers", "hands", "wall"]
    taught = admin.post("/_admin/knowledge",
                        json={"photos": {sha256_hex(photo): {"tags": tags}}})
    assert taught.status_code == 200
    client = gclient(sim)  # kept alive while in use (the SDK closes a collected client)
    seen = client.models.generate_content(model="gemini-2.5-pro", contents=[
        genai_types.Part.from_bytes(data=photo, mime_type="image/jpeg"),
        "Tags for this photo, comma separated"])
    assert len(_tags(seen.text) & set(tags)) >= 2  # recognised: the bytes decoded intact
    admin.delete("/_admin/knowledge")
