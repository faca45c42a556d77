"""The protocol-neutral core: which model, what it answers, how long it takes, what fails.

Each protocol module turns its wire request into an :class:`Ask`, gets a :class:`Call` from
:meth:`Simulator.start_call` and renders it in its own wire format. Every random choice of a
call comes from a generator seeded by (seed, provider, model, request content, n), where n
counts earlier identical requests; so a fresh simulator with the same seed answers the same
sequence of requests identically, whatever the concurrency, while repeating a request
still varies the answer as a real model does (except at temperature 0).

The engine knows nothing of HTTP: :func:`core.simulator.app.create_app` builds the ASGI app
around a :class:`Simulator`, and :mod:`core.simulator.server` serves it.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from core.provider_names import provider_type
from core.simulator import judge, truth
from core.simulator.faults import FaultBook, FaultRule
from core.simulator.profiles import PROFILES, ModelProfile, template_profile

CallKind = Literal["ok", "error", "rate_limit", "timeout", "malformed"]

DEFAULT_SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
# Per-message framing tokens the OpenAI-style chat format adds (role markers).
MESSAGE_OVERHEAD = {"openai": 3, "mistral": 3, "clarifai": 3, "openai_compatible": 3,
                    "ollama": 0, "anthropic": 0, "gemini": 0, "gcp_vision": 0}


def estimate_tokens(text: str) -> int:
    """~4 characters per token, the usual rule of thumb for English text."""
    return (len(text) + 3) // 4 if text else 0


@dataclass(frozen=True)
class Ask:
    """What a request asks for, independent of its wire format."""

    model: str
    prompt: str = ""  # the last user message's text
    history: tuple[str, ...] = ()  # earlier message texts (they form the cacheable prefix)
    system: str = ""
    images: tuple[bytes | str, ...] = ()  # image bytes, or a URL the simulator cannot fetch
    max_tokens: int | None = None
    temperature: float | None = None
    json_mode: bool = False
    messages: int = 1
    cache_marked: bool = True  # Anthropic caches only blocks marked with cache_control

    def digest(self) -> str:
        images = [truth.sha256_hex(i) for i in self.images]
        doc = [self.model, self.prompt, list(self.history), self.system, images,
               self.max_tokens, self.temperature, self.json_mode]
        return hashlib.sha256(json.dumps(doc).encode()).hexdigest()


@dataclass(frozen=True)
class Usage:
    input_tokens: int  # everything read, including cached and cache-write tokens
    output_tokens: int  # everything written, including reasoning tokens
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    image_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Label:
    name: str
    score: float
    correct: bool


@dataclass
class Call:
    """One planned answer (or failure) with its timing; protocols only render it."""

    provider: str
    profile: ModelProfile | None
    kind: CallKind
    rng: random.Random  # for ids and anything else a protocol needs to draw
    status: int = 200
    retry_after_s: float | None = None
    text: str = ""
    labels: list[list[Label]] = field(default_factory=list)  # per image, for tagging APIs
    finish: Literal["stop", "length"] = "stop"
    usage: Usage = field(default_factory=lambda: Usage(0, 0))
    ttft_s: float = 0.0  # wall-clock wait before the first content
    gen_s: float = 0.0  # wall-clock spread of the content after that
    modelled_ttft_ms: float = 0.0  # what the model "took", whatever latency_scale is
    modelled_gen_ms: float = 0.0

    def ident(self, prefix: str, length: int,
              alphabet: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
              ) -> str:
        return prefix + "".join(self.rng.choice(alphabet) for _ in range(length))


class Simulator:
    """Shared state of one simulated provider fleet: profiles, knowledge, faults, stats.

    ``latency_scale`` multiplies modelled waits (0 = instant, for tests);
    ``fixed_latency_ms`` replaces them with one fixed total per call (benchmarks), as does a
    fault rule's ``latency_ms``; neither is scaled. ``baseline_faults`` turns on the
    profiles' background error/429/timeout/malformed rates (realistic demos), off by default
    so tests only see the faults they set. ``hang_s`` is how long a "timeout" hangs.
    """

    def __init__(self, *, seed: int = 0, latency_scale: float = 1.0,
                 fixed_latency_ms: float | None = None, baseline_faults: bool = False,
                 hang_s: float = 600.0, samples_dir: Path | None = DEFAULT_SAMPLES,
                 ground_truth: Mapping[str, Mapping[str, Any]] | None = None,
                 prompt_set: Iterable[Mapping[str, Any]] | Mapping[str, str] | None = None,
                 profiles: Iterable[ModelProfile] | None = None) -> None:
        self.seed = seed
        self.latency_scale = max(float(latency_scale), 0.0)
        self.fixed_latency_ms = fixed_latency_ms
        self.baseline_faults = baseline_faults
        self.hang_s = hang_s
        self.knowledge = truth.Knowledge.load(samples_dir, ground_truth, prompt_set)
        self._initial_knowledge = self.knowledge
        self.profiles: list[ModelProfile] = list(PROFILES if profiles is None else profiles)
        self.faults = FaultBook()
        self._lock = threading.Lock()
        self._seen: Counter[tuple[str, str, str]] = Counter()
        self._prefixes: set[tuple[str, str, str]] = set()
        self._stats: Counter[tuple[str, str, str, int]] = Counter()
        # provider -> {model id pulled at run time: whether it reads images}
        self._pulled: dict[str, dict[str, bool]] = {}

    # ---- models ------------------------------------------------------------------------

    def listed(self, provider: str) -> list[ModelProfile]:
        """The models ``provider`` lists right now (built-in, plus added, minus removed)."""
        p = provider_type(provider)
        added, removed = self.faults.model_changes(p)
        out = [m for m in self.profiles if m.provider == p
               and not removed.intersection(m.names)]
        with self._lock:
            pulled = dict(self._pulled.get(p, {}))
        have = {n for m in out for n in m.names}
        out += [template_profile(p, mid) for mid in added if mid not in have]
        out += [replace(template_profile(p, mid), vision=vision)
                for mid, vision in pulled.items() if mid not in have and mid not in added]
        return out

    def add_pulled(self, provider: str, model: str, *, vision: bool) -> None:
        """A model pulled into a simulated local server: listed (and callable) from now on."""
        with self._lock:
            self._pulled.setdefault(provider_type(provider), {})[model] = vision

    def resolve(self, provider: str, model: str) -> ModelProfile | None:
        """The profile serving ``model`` at ``provider``; None means the provider's 404."""
        for m in self.listed(provider):
            if model in m.names:
                return m
        return None

    # ---- calls -------------------------------------------------------------------------

    def _rng(self, *parts: object) -> random.Random:
        key = json.dumps([self.seed, *parts], default=str).encode()
        return random.Random(int.from_bytes(hashlib.blake2b(key, digest_size=16).digest(), "big"))

    def _occurrence(self, provider: str, model: str, digest: str) -> int:
        with self._lock:
            key = (provider, model, digest)
            n = self._seen[key]
            self._seen[key] = n + 1
            return n

    def _decide(self, call: Call, profile: ModelProfile | None) -> float | None:
        """Draw the failure kind for ``call``; returns the fixed latency override, if any."""
        eff = self.faults.effective(call.provider, profile, self.baseline_faults)
        u = call.rng.random()
        for kind, rate in (("timeout", eff.timeout_rate), ("rate_limit", eff.rate_limit_rate),
                           ("error", eff.error_rate), ("malformed", eff.malformed_rate)):
            if u < rate:
                call.kind = kind  # type: ignore[assignment]
                break
            u -= rate
        if call.kind == "rate_limit":
            call.status, call.retry_after_s = 429, eff.retry_after_s
        elif call.kind == "error":
            statuses = profile.error_statuses if profile else ((500, 0.5), (503, 0.5))
            call.status = eff.status or call.rng.choices(
                [s for s, _ in statuses], [w for _, w in statuses])[0]
        elif call.kind == "timeout":
            call.status = 504
        return eff.latency_ms if eff.latency_ms is not None else self.fixed_latency_ms

    def _time(self, call: Call, profile: ModelProfile | None, out_tokens: int,
              reasoning: int, fixed_ms: float | None) -> None:
        sigma = profile.latency_sigma if profile else 0.3
        slow = math.exp(call.rng.gauss(0.0, sigma))
        frac = profile.ttft_fraction if profile else 1.0
        median = profile.latency_median_ms if profile else 150.0
        tps = profile.tokens_per_s if profile else 1e9
        ttft = slow * (frac * median + 1000.0 * reasoning / tps)
        gen = slow * 1000.0 * out_tokens / tps
        call.modelled_ttft_ms, call.modelled_gen_ms = ttft, gen
        if fixed_ms is not None:
            call.ttft_s, call.gen_s = frac * fixed_ms / 1000, (1 - frac) * fixed_ms / 1000
        else:
            call.ttft_s = ttft / 1000 * self.latency_scale
            call.gen_s = gen / 1000 * self.latency_scale
        if call.kind in ("error", "rate_limit"):  # refusals come back quickly
            call.ttft_s, call.gen_s = call.ttft_s * 0.25, 0.0

    def start_meta(self, provider: str, route: str) -> Call:
        """A call that lists or describes models: faults and latency, no answer."""
        n = self._occurrence(provider, route, "")
        call = Call(provider, None, "ok", self._rng("meta", provider, route, n))
        fixed = self._decide(call, None)
        self._time(call, None, 0, 0, fixed)
        return call

    def start_call(self, provider: str, profile: ModelProfile, ask: Ask) -> Call:
        """Plan one completion: failure kind, answer, usage and timing."""
        digest = ask.digest()
        n = self._occurrence(provider, profile.id, digest)
        call = Call(provider, profile, "ok", self._rng("call", provider, profile.id, digest, n))
        fixed = self._decide(call, profile)
        answer_rng = self._rng("answer", provider, profile.id, digest,
                               0 if ask.temperature == 0 else n)
        call.text = self._answer(profile, ask, answer_rng)
        call.usage, visible = self._usage(provider, profile, ask, call, answer_rng)
        self._time(call, profile, visible, call.usage.reasoning_tokens, fixed)
        return call

    def start_tagging(self, provider: str, profile: ModelProfile,
                      images: list[tuple[bytes | str, int]]) -> Call:
        """Plan a tagging call (Cloud Vision): labels per (image, max_results)."""
        digest = hashlib.sha256(json.dumps(
            [[truth.sha256_hex(i), k] for i, k in images]).encode()).hexdigest()
        n = self._occurrence(provider, profile.id, digest)
        call = Call(provider, profile, "ok", self._rng("call", provider, profile.id, digest, n))
        fixed = self._decide(call, profile)
        rng = self._rng("answer", provider, profile.id, digest, n)
        for image, max_results in images:
            photo = self._photo(image)
            drawn = truth.draw_tags(photo, profile.tag_precision, profile.tag_recall, rng)
            labels = [Label(t.name, truth.tag_score(t, rng), t.correct) for t in drawn]
            labels.sort(key=lambda lab: -lab.score)
            call.labels.append(labels[:max_results])
        self._time(call, profile, 0, 0, fixed)
        return call

    def _photo(self, image: bytes | str) -> truth.Photo:
        sha = truth.sha256_hex(image)
        return self.knowledge.photo(sha) or truth.latent_photo(self.seed, sha)

    def _answer(self, profile: ModelProfile, ask: Ask, rng: random.Random) -> str:
        # A judge prompt quotes a known question, so it must be recognised before the
        # reference lookup below would answer it with that question's reference.
        graded = judge.parse_judge_request(ask.prompt)
        if graded is not None:
            known = self.knowledge.reference_for(graded.question) if graded.question else None
            return judge.judge_reply(graded, profile.reference_agreement, rng, known)
        if ask.images:
            drawn = [(photo, truth.draw_tags(photo, profile.tag_precision,
                                             profile.tag_recall, rng))
                     for photo in (self._photo(i) for i in ask.images)]
            return truth.photo_answer(drawn, ask.prompt, ask.json_mode,
                                      profile.reference_agreement, rng)
        reference = self.knowledge.reference_for(ask.prompt)
        if reference is not None:
            text = reference if rng.random() < profile.reference_agreement \
                else truth.wrong_answer(ask.prompt, rng)
        else:
            target = int(profile.typical_output_tokens * math.exp(rng.gauss(0.0, 0.5)))
            text = truth.free_text(ask.prompt or ask.system, target, rng)
        return json.dumps({"answer": text}) if ask.json_mode else text

    def _usage(self, provider: str, profile: ModelProfile, ask: Ask, call: Call,
               rng: random.Random) -> tuple[Usage, int]:
        """Token counts; truncates ``call.text`` at the output cap (finish 'length')."""
        image_tokens = len(ask.images) * profile.images_cost
        prefix = "\n".join((ask.system, *ask.history))
        prefix_tokens = estimate_tokens(prefix)
        total_in = (prefix_tokens + estimate_tokens(ask.prompt) + image_tokens
                    + MESSAGE_OVERHEAD.get(provider, 0) * (ask.messages + 1))
        cached = written = 0
        if profile.cache_min_tokens and prefix_tokens >= profile.cache_min_tokens \
                and ask.cache_marked:
            key = (provider, profile.id, hashlib.sha256(prefix.encode()).hexdigest())
            with self._lock:
                hit = key in self._prefixes
                self._prefixes.add(key)
            if hit:
                cached = prefix_tokens - prefix_tokens % 128 if provider != "anthropic" \
                    else prefix_tokens
            else:
                written = prefix_tokens if provider == "anthropic" else 0
        reasoning = 0
        if profile.reasoning_tokens_median:
            reasoning = max(1, int(profile.reasoning_tokens_median
                                   * math.exp(rng.gauss(0.0, 0.6))))
        visible = estimate_tokens(call.text)
        cap = ask.max_tokens
        if cap is not None:
            reasoning = min(reasoning, cap)
            room = cap - reasoning
            if visible > room:
                call.text = _truncate(call.text, room)
                visible = min(estimate_tokens(call.text), room)
                call.finish = "length"
        usage = Usage(total_in, visible + reasoning, cached, written, reasoning, image_tokens)
        return usage, visible

    # ---- stats -------------------------------------------------------------------------

    def record(self, route: str, provider: str, model: str, status: int) -> None:
        with self._lock:
            self._stats[(route, provider, model, status)] += 1

    def stats(self) -> dict[str, Any]:
        """Request counts by route, by provider/model and by status (for tests and demos)."""
        with self._lock:
            items = list(self._stats.items())
        by_route: Counter[str] = Counter()
        by_status: Counter[str] = Counter()
        by_model: dict[str, dict[str, dict[str, int]]] = {}
        for (route, provider, model, status), count in items:
            by_route[route] += count
            by_status[str(status)] += count
            if model:
                entry = by_model.setdefault(provider, {}).setdefault(
                    model, {"requests": 0, "errors": 0})
                entry["requests"] += count
                entry["errors"] += count if status >= 400 else 0
        return {"total": sum(by_route.values()), "by_route": dict(by_route),
                "by_status": dict(by_status), "by_model": by_model}

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()

    # ---- knowledge (the admin endpoint calls these) ------------------------------------

    def teach(self, ground_truth: Mapping[str, Mapping[str, Any]] | None = None,
              prompt_set: Iterable[Mapping[str, Any]] | Mapping[str, str] | None = None,
              ) -> dict[str, int]:
        """Learn more photos' truth (by sha256) and prompts' references, e.g. a user's
        uploaded sample set before a comparison runs on it. Requests in flight keep the
        knowledge they started with."""
        with self._lock:
            self.knowledge = self.knowledge.merged(ground_truth, prompt_set)
        return self.knowledge_summary()

    def forget_taught(self) -> None:
        """Back to what the simulator knew when it started."""
        with self._lock:
            self.knowledge = self._initial_knowledge

    def knowledge_summary(self) -> dict[str, int]:
        k = self.knowledge
        return {"photos": len(k.photos), "references": len(k.references)}

    # ---- faults (the admin endpoints call these) ---------------------------------------

    def add_fault(self, rule: FaultRule | Mapping[str, Any]) -> dict[str, Any]:
        self.faults.add(rule if isinstance(rule, FaultRule) else FaultRule.model_validate(rule))
        return self.faults.snapshot()

    def clear_faults(self) -> None:
        self.faults.clear()


def _truncate(text: str, tokens: int) -> str:
    """``text`` cut to about ``tokens`` tokens, at a word boundary when there is one."""
    if tokens <= 0:
        return ""
    cut = text[: tokens * 4]
    if len(cut) < len(text) and " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut
