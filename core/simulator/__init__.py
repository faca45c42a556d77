"""A provider simulator: an ASGI app speaking the real wire protocols of OpenAI (and the
OpenAI-compatible Mistral, Clarifai, Ollama /v1 and custom servers), Anthropic, Gemini,
Ollama and Google Cloud Vision, with per-model latency, failures and answer quality, so the
adapters, the demo and the tests talk to 127.0.0.1 instead of the internet.

    handle = start_background(seed=1, latency_scale=0)
    urls = handle.base_urls          # {"openai": "http://127.0.0.1:PORT/openai/v1", ...}
    ...
    handle.stop()
"""

from core.simulator.engine import Ask, Call, Simulator, Usage, estimate_tokens
from core.simulator.faults import FaultRule
from core.simulator.profiles import PROFILES, ModelProfile, profiles_for
from core.simulator.server import SimulatorHandle, serve, start_background
from core.simulator.urls import base_urls

__all__ = [
    "PROFILES", "Ask", "Call", "FaultRule", "ModelProfile", "Simulator", "SimulatorHandle",
    "Usage", "base_urls", "estimate_tokens", "profiles_for", "serve",
    "start_background",
]
