"""A provider simulator: an ASGI app speaking the real wire protocols of OpenAI (and the
OpenAI-compatible Mistral, Clarifai, Ollama /v1 and custom servers), Anthropic, Gemini,
Ollama and Google Cloud Vision, with per-model latency, failures and answer quality, so the
adapters, the demo and the tests talk to 127.0.0.1 instead of the internet.

Production code imports only :mod:`core.simulator.launcher`; this package's ``__init__``
re-exports nothing, so there is no second door.
"""
