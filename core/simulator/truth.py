"""What the simulator knows is right, and how a model of given quality answers.

Sample photos are recognised by the SHA-256 of their bytes, so an answer's accuracy can be
scored against ground truth exactly as with a real provider: a model returns each true tag
with probability ``recall`` (sometimes as a synonym) and adds wrong tags from a distractor
vocabulary so that, over many calls, the share of right tags is ``precision``. Prompts from
a prompt set are answered with their reference with probability ``reference_agreement``.
Everything is drawn from the ``random.Random`` the engine passes in, so answers are
reproducible from the seed and the request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core import safe_yaml

log = logging.getLogger(__name__)

# Common photo labels: wrong answers come from here, and unknown images get a plausible
# latent "truth" drawn from here so that models roughly agree about them.
VOCABULARY: tuple[str, ...] = (
    "dog", "cat", "bird", "horse", "car", "bicycle", "bus", "truck", "boat", "train",
    "tree", "flower", "grass", "sky", "cloud", "mountain", "beach", "sea", "river", "lake",
    "building", "house", "street", "road", "bridge", "city", "window", "door", "wall", "roof",
    "person", "man", "woman", "child", "crowd", "face", "hand", "smile", "portrait", "shadow",
    "food", "plate", "cup", "coffee", "bread", "fruit", "vegetable", "table", "chair", "sofa",
    "book", "laptop", "phone", "screen", "lamp", "clock", "bottle", "glass", "bag", "shoe",
    "snow", "rain", "sunset", "night", "light", "reflection", "water", "sand", "rock", "forest",
    "field", "garden", "park", "fence", "sign", "text", "art", "painting", "toy", "ball",
    "kitchen", "bedroom", "office", "shop", "market", "restaurant", "stairs", "floor", "carpet",
    "red", "blue", "green", "yellow", "black and white", "wood", "metal", "plastic", "paper",
)

_STOP = frozenset(
    "the a an and or of to in on for with about from what which who whom this that these "
    "those is are was were be been being it its as at by into please describe explain list "
    "give tell write short brief image photo picture answer question following your you "
    "can could would should will how why when where does".split()
)

_SENTENCES: tuple[str, ...] = (
    "The short version is that {a} depends mostly on {b}.",
    "In practice, {a} is best handled step by step, starting with {b}.",
    "A good starting point is to look at {a} and how it relates to {b}.",
    "Most teams find that {a} improves once {b} is measured consistently.",
    "There are trade-offs: {a} is simpler, while {b} gives more control.",
    "It helps to write down what {a} should achieve before changing {b}.",
    "Keep {a} small at first and expand it when {b} is stable.",
    "The main risk with {a} is that {b} changes underneath it.",
    "For most cases, a clear description of {a} is enough to decide about {b}.",
    "Check {a} against a few real examples before relying on {b}.",
    "{A} and {b} are related, but they answer different questions.",
    "If {a} is unclear, start from {b} and work backwards.",
    "A useful rule of thumb is to revisit {a} whenever {b} grows noticeably.",
    "Overall, {a} is worth the effort when {b} matters to users.",
)


@dataclass(frozen=True)
class Photo:
    """Ground truth for one image (from labels.yaml or injected)."""

    tags: tuple[str, ...]
    synonyms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    description: str = ""
    safety: tuple[str, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class DrawnTag:
    """A tag a model returned: the word it used and whether it matches the truth."""

    name: str
    correct: bool


def sha256_hex(data: bytes | str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def _norm(text: str) -> str:
    return " ".join(str(text).lower().split())


def _photo(entry: Mapping[str, Any], name: str = "") -> Photo:
    tags = tuple(str(t).strip() for t in entry.get("tags") or () if str(t).strip())
    syn_raw = entry.get("synonyms") or {}
    synonyms = {str(k): tuple(str(s) for s in (v or ())) for k, v in dict(syn_raw).items()}
    safety = tuple(str(s) for s in entry.get("safety") or ())
    return Photo(tags, synonyms, str(entry.get("description") or ""), safety, name)


def _collect_prompts(node: Any, out: dict[str, str]) -> None:
    """Every mapping with string ``prompt`` and ``reference`` anywhere in a YAML tree."""
    if isinstance(node, Mapping):
        prompt, ref = node.get("prompt"), node.get("reference")
        if isinstance(prompt, str) and isinstance(ref, str) and prompt.strip():
            out[_norm(prompt)] = ref
        for value in node.values():
            _collect_prompts(value, out)
    elif isinstance(node, list):
        for value in node:
            _collect_prompts(value, out)


class Knowledge:
    """Ground-truth photos by SHA-256 and prompt references, merged from files and arguments."""

    def __init__(self, photos: Mapping[str, Photo] | None = None,
                 references: Mapping[str, str] | None = None) -> None:
        self.photos: dict[str, Photo] = dict(photos or {})
        self.references: dict[str, str] = {_norm(k): v for k, v in (references or {}).items()}
        self._ordered = sorted(self.references, key=len, reverse=True)

    @classmethod
    def load(cls, samples_dir: Path | None = None,
             ground_truth: Mapping[str, Mapping[str, Any]] | None = None,
             prompt_set: Iterable[Mapping[str, Any]] | Mapping[str, str] | None = None,
             ) -> Knowledge:
        """Read ``samples_dir/labels.yaml`` (photos alongside) and prompt YAML files if they
        exist, then overlay the injected ``ground_truth`` (sha256 -> {tags, description})
        and ``prompt_set`` (list of {prompt, reference} or {prompt: reference})."""
        photos: dict[str, Photo] = {}
        refs: dict[str, str] = {}
        if samples_dir is not None and samples_dir.is_dir():
            photos.update(_load_labels(samples_dir))
            for path in _prompt_files(samples_dir):
                try:
                    _collect_prompts(safe_yaml.load(path.read_text(encoding="utf-8")), refs)
                except (OSError, yaml.YAMLError) as exc:
                    log.warning("simulator: cannot read prompt set %s: %s", path, exc)
        return cls(photos, refs).merged(ground_truth, prompt_set)

    def merged(self, ground_truth: Mapping[str, Mapping[str, Any]] | None = None,
               prompt_set: Iterable[Mapping[str, Any]] | Mapping[str, str] | None = None,
               ) -> Knowledge:
        """A new Knowledge: this one overlaid with ``ground_truth`` (sha256 -> {tags,
        synonyms, description, safety}) and ``prompt_set`` (as in :meth:`load`). A new
        object, so a simulator can swap it in while requests read the old one."""
        photos = dict(self.photos)
        refs = dict(self.references)
        for sha, entry in (ground_truth or {}).items():
            photos[str(sha).lower()] = _photo(entry)
        if isinstance(prompt_set, Mapping):
            refs.update({_norm(k): str(v) for k, v in prompt_set.items()})
        elif prompt_set is not None:
            _collect_prompts(list(prompt_set), refs)
        return Knowledge(photos, refs)

    def photo(self, sha: str) -> Photo | None:
        return self.photos.get(sha)

    def reference_for(self, prompt: str) -> str | None:
        """The reference of the longest known prompt contained in ``prompt``."""
        text = _norm(prompt)
        for known in self._ordered:
            if known in text:
                return self.references[known]
        return None


def _load_labels(folder: Path) -> dict[str, Photo]:
    path = folder / "labels.yaml"
    if not path.is_file():
        return {}
    try:
        doc = safe_yaml.load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        log.warning("simulator: cannot read %s: %s", path, exc)
        return {}
    out: dict[str, Photo] = {}
    for filename, entry in (doc.get("photos") or {}).items():
        image = folder / str(filename)
        if not image.is_file() or not isinstance(entry, Mapping):
            continue
        out[sha256_hex(image.read_bytes())] = _photo(entry, str(filename))
    return out


def _prompt_files(folder: Path) -> list[Path]:
    files = [folder / "prompts.yaml", folder / "prompts.yml"]
    for sub in ("prompts", "prompt_sets"):
        if (folder / sub).is_dir():
            files += sorted((folder / sub).glob("*.y*ml"))
    return [f for f in files if f.is_file()]


def latent_photo(seed: int, sha: str) -> Photo:
    """A stable stand-in truth for an image nobody labelled: same for every model."""
    rng = random.Random(f"{seed}:latent:{sha}")
    tags = tuple(rng.sample(VOCABULARY, 5))
    return Photo(tags, {}, f"A photo with {tags[0]}, {tags[1]} and {tags[2]}.")


def draw_tags(photo: Photo, precision: float, recall: float, rng: random.Random,
              synonym_rate: float = 0.2) -> list[DrawnTag]:
    """Tags a model of this precision/recall returns for ``photo`` (order as it would list)."""
    hits = [t for t in photo.tags if rng.random() < recall]
    k = len(hits)
    wrong_expected = k * (1.0 - precision) / precision if precision > 0 else k + 1.0
    m = int(wrong_expected) + (1 if rng.random() < wrong_expected % 1 else 0)
    if k == 0 and m == 0:
        m = 1
    known = {_norm(t) for t in photo.tags}
    for options in photo.synonyms.values():
        known.update(_norm(s) for s in options)
    pool = [w for w in VOCABULARY if _norm(w) not in known]
    drawn = []
    for tag in hits:
        options = photo.synonyms.get(tag) or ()
        word = rng.choice(options) if options and rng.random() < synonym_rate else tag
        drawn.append(DrawnTag(word, True))
    drawn += [DrawnTag(w, False) for w in rng.sample(pool, min(m, len(pool)))]
    # Right tags tend to come first, but not always.
    drawn.sort(key=lambda d: (0.0 if d.correct else 0.6) + rng.random())
    return drawn


def tag_score(tag: DrawnTag, rng: random.Random) -> float:
    """A Cloud Vision style confidence: right labels score higher on average."""
    low, high = (0.72, 0.98) if tag.correct else (0.50, 0.80)
    return round(rng.uniform(low, high), 6)


def knowledge_graph_mid(tag: str) -> str:
    """A stable Knowledge-Graph-looking id (``/m/0…``) for a label."""
    digest = hashlib.sha256(_norm(tag).encode()).hexdigest()
    alphabet = "0123456789bcdfghjklmnpqrstvwxyz_"
    return "/m/0" + "".join(alphabet[int(digest[i:i + 2], 16) % 32] for i in range(0, 10, 2))


def _topics(prompt: str) -> list[str]:
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z\-']{3,}", prompt) if w.lower() not in _STOP]
    seen = list(dict.fromkeys(w.lower() for w in words))
    return seen[:4] or ["the request", "the context"]


def free_text(prompt: str, target_tokens: int, rng: random.Random) -> str:
    """A deterministic, readable answer of about ``target_tokens`` tokens about the prompt."""
    topics = _topics(prompt)
    budget = max(target_tokens, 4) * 4
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < budget:
        a, b = rng.choice(topics), rng.choice(topics + ["the data", "the workflow", "quality"])
        parts.append(rng.choice(_SENTENCES).format(a=a, b=b, A=a[:1].upper() + a[1:]))
    return " ".join(parts)


def wrong_answer(prompt: str, rng: random.Random) -> str:
    """An answer that disagrees with the reference but reads plausibly."""
    lead = rng.choice(("It is hard to say for certain.", "That depends on the context.",
                       "There is no single answer here.", "Probably not in most cases."))
    return lead + " " + free_text(prompt, 25, rng)


def wants_description(prompt: str) -> bool:
    return bool(re.search(r"\bdescri|\bcaption|\bsentence", prompt, re.IGNORECASE))


def photo_answer(photos: list[tuple[Photo, list[DrawnTag]]], prompt: str, json_mode: bool,
                 agreement: float, rng: random.Random) -> str:
    """The text a vision model answers for images: tags, a description, or JSON of both."""
    names = list(dict.fromkeys(t.name for _, drawn in photos for t in drawn))
    description = ""
    if json_mode or wants_description(prompt):
        first = photos[0][0]
        if first.description and rng.random() < agreement:
            description = first.description
        else:
            shown = names[:3] or ["objects"]
            description = "A photo showing " + (
                ", ".join(shown[:-1]) + " and " + shown[-1] if len(shown) > 1 else shown[0]) + "."
    if json_mode:
        return json.dumps({"tags": names, "description": description})
    if wants_description(prompt):
        return description
    return ", ".join(names)
