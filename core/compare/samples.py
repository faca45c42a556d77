"""Sample photos and prompt sets for comparisons: the bundled ones and users' uploads.

The bundled samples live in ``data/samples/``: ``labels.yaml`` (ground truth per photo),
``photos/`` and ``prompts.yaml`` (prompt sets per feature). The simulator reads the same
files (``core.simulator.truth``), so a simulated model answers them with its own precision,
recall and agreement; the schemas below are the ones truth.py understands, plus fields it
ignores (``id``, ``title``, ``photo``, ``assertions``, ``source``, ``licence``).

Uploads follow "bad input gets a clear error and loses nothing": every loader returns
``(items, problems)``; a bad row becomes a :class:`Problem` naming its row (CSV, header =
row 1) or line (YAML) while the good rows load.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from core import safe_yaml
from core.validation import messages, number

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "data" / "samples"

# Features as the warehouse and assignments name them; photo_analysis is scored on photos
# (tags against labels), the others on prompts.
FEATURES: tuple[str, ...] = ("photo_analysis", "description_generation", "safety_chat",
                             "search_processing")
PROMPT_FEATURES: tuple[str, ...] = FEATURES[1:]
ASSERTION_TYPES: tuple[str, ...] = ("equals", "contains", "icontains", "regex", "not-contains",
                                    "is-json", "json-schema", "max-latency", "max-cost")
SAFETY_FLAGS: dict[str, str] = {
    "person": "an identifiable person",
    "medical": "clinical or medical imagery",
    "text": "readable text or handwriting",
}
DEFAULT_TAGGING_PROMPT = ("List the main subjects, objects and qualities you can see in this "
                          "photo as short, comma-separated tags. Answer with the tags only.")
MIME_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}
MAX_PHOTO_BYTES = 20 * 1024 * 1024
MAX_PROMPT_CHARS = 20_000

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}$")
_FEATURE_RE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
_ASSERTION_ALIASES = {"latency": "max-latency", "cost": "max-cost"}  # promptfoo names
_TEXT_ASSERTIONS = ("equals", "contains", "icontains", "regex", "not-contains")
_TRUE = {"1", "true", "yes", "y", "x", "✓"}
_FALSE = {"", "0", "false", "no", "n", "-"}


# ---- problems and readable validation errors ---------------------------------------------

@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, where it is, and whether the item was skipped.

    ``row`` is a CSV row as a spreadsheet numbers it (the header is row 1) or a YAML line;
    ``unit`` says which. ``level`` "error" means the item was not loaded; "warning" means it
    loaded but something is missing (e.g. a photo without labels).
    """

    source: str
    message: str
    row: int | None = None
    unit: Literal["row", "line", "item"] = "row"
    level: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.source}, {self.unit} {self.row}" if self.row is not None else self.source
        return f"{where}: {self.message}"


class SampleError(ValueError):
    """Bundled samples that cannot be loaded; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def readable_errors(exc: ValidationError | ValueError, fields: Iterable[str] = ()) -> list[str]:
    """Pydantic errors as "where: what" lines a person can act on (no input values, no
    tracebacks), by :func:`core.validation.messages`. ``fields`` are the allowed names, for
    "did you mean" hints."""
    return messages(exc, fields=fields)


# ---- photos --------------------------------------------------------------------------------

def _clean_words(values: Any) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = re.split(r"[,;]", values)
    if not isinstance(values, (list, tuple)):
        raise ValueError("must be a list of words")
    out: list[str] = []
    for v in values:
        if isinstance(v, (dict, list)):
            raise ValueError("must be a list of words")
        word = " ".join(str(v).split())
        if word and word not in out:
            out.append(word)
    return out


def normalise_word(text: str) -> str:
    """Lower case, hyphens/underscores as spaces, single spaces, no edge punctuation."""
    text = re.sub(r"[-_]+", " ", str(text).lower())
    return " ".join(text.split()).strip(" .,;:!?\"'()[]{}")


class Tag(BaseModel):
    """A ground-truth tag and the other words that mean the same thing for this photo."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    synonyms: tuple[str, ...] = ()

    @field_validator("synonyms", mode="before")
    @classmethod
    def _syn(cls, v: Any) -> Any:
        return tuple(_clean_words(v))

    def words(self) -> tuple[str, ...]:
        return (self.name, *self.synonyms)


class SamplePhoto(BaseModel):
    """A photo with its ground truth. Bundled photos read their file on demand; uploaded
    ones carry their bytes. ``name`` is the labels key (a path relative to the labels file,
    or the uploaded file name)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    file: Path | None = None
    mime: str = "image/jpeg"
    title: str = ""
    tags: list[Tag] = Field(default_factory=list)
    description: str = ""
    safety: list[str] = Field(default_factory=list)
    source: str = ""
    licence: str = ""
    _data: bytes | None = PrivateAttr(default=None)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID_RE.fullmatch(v):
            raise ValueError("must be 1-80 letters, digits, '.', '_' or '-' (no spaces)")
        return v

    @classmethod
    def from_bytes(cls, data: bytes, **fields: Any) -> SamplePhoto:
        photo = cls(**fields)
        photo._data = bytes(data)
        return photo

    def read_bytes(self) -> bytes:
        """The image bytes exactly as they are sent to a model (the simulator knows the
        photo by their SHA-256)."""
        if self._data is None:
            if self.file is None:
                raise FileNotFoundError(f"photo {self.id!r} has neither a file nor bytes")
            self._data = self.file.read_bytes()
        return self._data

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.read_bytes()).hexdigest()

    @property
    def labelled(self) -> bool:
        return bool(self.tags)

    @property
    def tag_names(self) -> list[str]:
        return [t.name for t in self.tags]

    def synonyms(self) -> dict[str, list[str]]:
        return {t.name: list(t.synonyms) for t in self.tags if t.synonyms}

    def vocabulary(self) -> dict[str, str]:
        """Every accepted word (normalised with :func:`normalise_word`) -> its tag."""
        out: dict[str, str] = {}
        for tag in self.tags:
            for word in tag.words():
                out.setdefault(normalise_word(word), tag.name)
        return out

    def tag_for(self, word: str) -> str | None:
        """The ground-truth tag ``word`` stands for (itself or a synonym), if any."""
        return self.vocabulary().get(normalise_word(word))

    def truth_entry(self) -> dict[str, Any]:
        """This photo's ground truth in labels.yaml / ``core.simulator.truth`` form."""
        return {"tags": self.tag_names, "synonyms": self.synonyms(),
                "description": self.description, "safety": list(self.safety)}


LABEL_FIELDS: tuple[str, ...] = ("tags", "synonyms", "description", "safety", "title", "source",
                                  "licence", "license", "id")
_STORED_FIELDS = ("uploaded_as",)  # written by the sample store beside the labels, not labels


def unknown_label_fields(name: str, entry: Mapping[str, Any], source: str,
                         line: int | None) -> list[Problem]:
    """A warning per field of a photo's labels that nothing reads (a typo such as ``tgas``
    would otherwise leave the photo unlabelled without a word)."""
    out = []
    for key in entry:
        if str(key) in LABEL_FIELDS or str(key) in _STORED_FIELDS:
            continue
        close = get_close_matches(str(key), LABEL_FIELDS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        out.append(Problem(source, f"'{name}': '{key}' is not a label field, so it was not "
                                   f"used{hint}; label fields are "
                                   + ", ".join(f for f in LABEL_FIELDS if f != "license"),
                           line, "line", "warning"))
    return out


def _photo_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A labels entry (truth.py's schema, plus tags given as ``{tag: [synonyms]}`` items)
    as SamplePhoto fields."""
    raw_tags = entry.get("tags") or []
    if isinstance(raw_tags, str):
        raw_tags = _clean_words(raw_tags)
    if isinstance(raw_tags, Mapping):  # tags: {cat: [kitten], fur: []}
        raw_tags = [{k: v} for k, v in raw_tags.items()]
    if not isinstance(raw_tags, list):
        raise ValueError("tags must be a list of words, e.g. tags: [cat, sofa]")
    syn_raw = entry.get("synonyms") or {}
    if not isinstance(syn_raw, Mapping):
        raise ValueError("synonyms must give a tag's other words, e.g. "
                         "synonyms: {cat: [kitten]}")
    synonyms = {" ".join(str(k).split()): _clean_words(v) for k, v in syn_raw.items()}
    tags: list[Tag] = []
    seen: set[str] = set()
    for item in raw_tags:
        if isinstance(item, Mapping):  # {cat: [kitten, feline]}
            pairs = [(" ".join(str(k).split()), _clean_words(v)) for k, v in item.items()]
        else:
            pairs = [(" ".join(str(item).split()), [])]
        for name, extra in pairs:
            if not name or normalise_word(name) in seen:
                continue
            seen.add(normalise_word(name))
            words = list(dict.fromkeys([*extra, *synonyms.get(name, [])]))
            tags.append(Tag(name=name, synonyms=tuple(w for w in words if w != name)))
    unknown = [k for k in synonyms if normalise_word(k) not in seen]
    if unknown:
        raise ValueError("synonyms given for words that are not tags: " + ", ".join(unknown))
    owner: dict[str, str] = {}
    for tag in tags:
        for word in tag.words():
            key = normalise_word(word)
            if owner.setdefault(key, tag.name) != tag.name:
                raise ValueError(f"'{word}' means both '{owner[key]}' and '{tag.name}'")
    safety = _clean_words(entry.get("safety"))
    return {"tags": tags, "description": " ".join(str(entry.get("description") or "").split()),
            "safety": [normalise_word(s).replace(" ", "_") for s in safety],
            "title": str(entry.get("title") or ""), "source": str(entry.get("source") or ""),
            "licence": str(entry.get("licence") or entry.get("license") or "")}


def slug_id(text: str) -> str:
    """A photo/prompt id from a file name or title: ``My Cat (2).JPG`` -> ``my_cat_2``."""
    stem = Path(text).stem if "." in text else text
    slug = re.sub(r"[^a-z0-9_\-]+", "_", stem.lower()).strip("_-")
    return (slug or "item")[:80]


def _mime_from_suffix(name: str) -> str | None:
    return {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}.get(
        Path(name).suffix.lower())


def sniff_image(data: bytes) -> str | None:
    """The MIME type of JPEG or PNG bytes that Pillow can decode, else None."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format
            im.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError):  # a bomb is not an image anyone should send
        return None
    return MIME_TYPES.get(fmt or "")


# ---- prompts -------------------------------------------------------------------------------

class Assertion(BaseModel):
    """A deterministic check of one answer, in the spirit of promptfoo's assertions.

    Text checks (``equals``, ``contains``, ``icontains``, ``regex``, ``not-contains``) take a
    ``value``; ``is-json`` takes an optional JSON schema as ``value``; ``json-schema`` a
    schema; ``max-latency`` a ``threshold`` in milliseconds; ``max-cost`` a ``threshold`` in
    US dollars per call. ``weight`` scales the assertion in a weighted score.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["equals", "contains", "icontains", "regex", "not-contains", "is-json",
                  "json-schema", "max-latency", "max-cost"]
    value: str | dict[str, Any] | None = None
    threshold: float | None = None
    weight: float = Field(default=1.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        kind = data.get("type")
        if isinstance(kind, str):
            key = kind.strip().lower().replace("_", "-").replace(" ", "-")
            key = _ASSERTION_ALIASES.get(key, key)
            if key not in ASSERTION_TYPES:
                close = get_close_matches(key, ASSERTION_TYPES, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ValueError(f"unknown assertion type '{kind}'{hint}; use one of: "
                                 + ", ".join(ASSERTION_TYPES))
            data["type"] = key
            if key in ("max-latency", "max-cost") and data.get("threshold") is None \
                    and data.get("value") is not None:
                data["threshold"] = data.pop("value")
            if key in ("json-schema", "is-json") and isinstance(data.get("value"), str):
                text = data["value"].strip()
                if not text and key == "is-json":
                    data["value"] = None
                else:
                    try:
                        data["value"] = json.loads(text)
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{key}: the schema is not valid JSON ({exc.msg} at "
                                         f"character {exc.pos})") from None
            if key in _TEXT_ASSERTIONS and isinstance(data.get("value"), (int, float)) \
                    and not isinstance(data.get("value"), bool):
                data["value"] = number(data["value"])
        return data

    @model_validator(mode="after")
    def _check(self) -> Assertion:
        t = self.type
        if t in _TEXT_ASSERTIONS:
            if not isinstance(self.value, str) or self.value == "":
                raise ValueError(f"{t} needs a text value")
            if t == "regex":
                try:
                    re.compile(self.value)
                except re.error as exc:
                    raise ValueError(f"regex '{self.value}' is not a valid regular "
                                     f"expression: {exc}") from None
        elif t == "json-schema" and not isinstance(self.value, dict):
            raise ValueError("json-schema needs a JSON schema (a mapping) as its value")
        elif t == "is-json" and self.value is not None and not isinstance(self.value, dict):
            raise ValueError("is-json takes no value, or a JSON schema (a mapping)")
        if t in ("max-latency", "max-cost"):
            unit = "milliseconds" if t == "max-latency" else "US dollars"
            if self.threshold is None:
                raise ValueError(f"{t} needs a threshold in {unit}")
            if self.threshold < 0 or (t == "max-latency" and self.threshold == 0):
                raise ValueError(f"{t} threshold must be a positive number of {unit}")
        elif self.threshold is not None:
            raise ValueError(f"threshold applies only to max-latency and max-cost, not {t}")
        return self

    def as_dict(self) -> dict[str, Any]:
        """promptfoo-style mapping without unset keys: ``{"type", "value" | "threshold",
        "weight"}``, as a saved prompt set writes it (scoring takes the Assertion itself)."""
        return self.model_dump(exclude_none=True)

    def describe(self) -> str:
        if self.type == "max-latency":
            return f"latency ≤ {self.threshold:g} ms"
        if self.type == "max-cost":
            return f"cost ≤ ${self.threshold:g}"
        if self.type == "is-json":
            return "valid JSON" + (" matching a schema" if self.value else "")
        if self.type == "json-schema":
            return "JSON matching a schema"
        return f"{self.type} {self.value!r}"


class Prompt(BaseModel):
    """One prompt of a prompt set: what is sent, what is expected, how it is checked."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: str
    feature: str
    text: str = Field(alias="prompt", min_length=1, max_length=MAX_PROMPT_CHARS)
    reference: str = ""
    assertions: tuple[Assertion, ...] = Field(default=(), max_length=50)
    photo: str | None = None  # id of a photo sent with the prompt

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "assert" in data and "assertions" not in data:
            data = dict(data)
            data["assertions"] = data.pop("assert")  # promptfoo's spelling
        return data

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> Any:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = number(v)
        if isinstance(v, str):
            v = v.strip()
            if not _ID_RE.fullmatch(v):
                raise ValueError("must be 1-80 letters, digits, '.', '_' or '-' (no spaces)")
        return v

    @field_validator("feature", mode="before")
    @classmethod
    def _feature(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = re.sub(r"[\s\-]+", "_", v.strip().lower())
            if not _FEATURE_RE.fullmatch(v):
                raise ValueError("must be a feature name such as " + ", ".join(PROMPT_FEATURES))
        return v

    @field_validator("text", "reference", mode="before")
    @classmethod
    def _strip(cls, v: Any) -> Any:
        return v.strip() if isinstance(v, str) else v

    @field_validator("photo", mode="before")
    @classmethod
    def _photo(cls, v: Any) -> Any:
        return None if v is None or (isinstance(v, str) and not v.strip()) else str(v).strip()

    @model_validator(mode="after")
    def _scorable(self) -> Prompt:
        if not self.reference and not self.assertions:
            raise ValueError("needs a reference answer or at least one assertion")
        return self

    def reference_entry(self) -> dict[str, str]:
        """This prompt in the form the simulator reads references from."""
        return {"prompt": self.text, "reference": self.reference}


class FeatureSet(BaseModel):
    feature: str
    title: str = ""
    description: str = ""
    prompts: list[Prompt] = Field(default_factory=list)


class SampleSet(BaseModel):
    """Photos and prompts available to a comparison (bundled, uploaded, or both)."""

    photos: list[SamplePhoto] = Field(default_factory=list)
    prompts: list[Prompt] = Field(default_factory=list)
    features: dict[str, FeatureSet] = Field(default_factory=dict)
    tagging_prompt: str = DEFAULT_TAGGING_PROMPT

    def photo(self, photo_id: str) -> SamplePhoto | None:
        return next((p for p in self.photos if p.id == photo_id), None)

    def prompt(self, prompt_id: str) -> Prompt | None:
        return next((p for p in self.prompts if p.id == prompt_id), None)

    def prompts_for(self, feature: str) -> list[Prompt]:
        return [p for p in self.prompts if p.feature == feature]

    @property
    def feature_names(self) -> list[str]:
        return list(dict.fromkeys([*self.features, *(p.feature for p in self.prompts)]))

    def item_features(self) -> dict[str, str]:
        """Comparison item id -> the feature it tests (photos are photo_analysis)."""
        out = {f"photo:{p.id}": FEATURES[0] for p in self.photos}
        out.update({f"prompt:{q.id}": q.feature for q in self.prompts})
        return out

    def ground_truth(self) -> dict[str, dict[str, Any]]:
        """sha256 -> truth entry of every labelled photo (``Simulator(ground_truth=...)``)."""
        return {p.sha256: p.truth_entry() for p in self.photos if p.labelled}

    def reference_set(self) -> list[dict[str, str]]:
        """Prompts with references (``Simulator(prompt_set=...)``)."""
        return [p.reference_entry() for p in self.prompts if p.reference]

    def merged(self, photos: Iterable[SamplePhoto] = (), prompts: Iterable[Prompt] = (),
               source: str = "upload") -> tuple[SampleSet, list[Problem]]:
        """This set plus uploaded photos and prompts; ids already taken are reported and
        skipped, as are prompts naming a photo that is in neither."""
        problems: list[Problem] = []
        have_photos = {p.id for p in self.photos}
        new_photos = list(self.photos)
        for p in photos:
            if p.id in have_photos:
                problems.append(Problem(source, f"photo id '{p.id}' is already taken; "
                                                "rename the file", unit="item"))
                continue
            have_photos.add(p.id)
            new_photos.append(p)
        have_prompts = {p.id for p in self.prompts}
        new_prompts = list(self.prompts)
        for q in prompts:
            if q.id in have_prompts:
                problems.append(Problem(source, f"prompt id '{q.id}' is already taken; "
                                                "give it another id", unit="item"))
                continue
            if q.photo and q.photo not in have_photos:
                problems.append(Problem(source, f"prompt '{q.id}' names photo '{q.photo}', "
                                                "which is not loaded", unit="item"))
                continue
            have_prompts.add(q.id)
            new_prompts.append(q)
        out = SampleSet(photos=new_photos, prompts=new_prompts, features=dict(self.features),
                        tagging_prompt=self.tagging_prompt)
        return out, problems


# ---- YAML with line numbers ------------------------------------------------------------------

class _LineDict(dict):
    line: int = 0


class _LineLoader(safe_yaml.SafeLoader):
    """The users' YAML loader (no aliases, bounded depth) whose mappings remember the line
    they start on."""


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> Iterator[_LineDict]:
    data = _LineDict()
    data.line = node.start_mark.line + 1
    yield data
    data.update(loader.construct_mapping(node))


class _LineList(list):
    item_lines: list[int]


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> Iterator[_LineList]:
    data = _LineList()
    data.item_lines = [child.start_mark.line + 1 for child in node.value]
    yield data
    data.extend(loader.construct_sequence(node))


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def _yaml_load(text: str, source: str) -> tuple[Any, Problem | None]:
    """A user's YAML file through :mod:`core.safe_yaml` (a bomb is refused before it grows);
    what is wrong becomes a Problem on its line."""
    try:
        return safe_yaml.load(text, loader=_LineLoader), None
    except safe_yaml.YAMLRefused as exc:
        mark = exc.problem_mark
        return None, Problem(source, f"not read: {exc.problem}",
                             row=mark.line + 1 if mark is not None else None, unit="line")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = getattr(exc, "problem", None) or "not valid YAML"
        if mark is not None:
            return None, Problem(source, f"not valid YAML: {what} (column {mark.column + 1})",
                                 row=mark.line + 1, unit="line")
        return None, Problem(source, f"not valid YAML: {what}", unit="line")


def _line_of(node: Any) -> int | None:
    return getattr(node, "line", None) or None


def _plain(node: Any) -> Any:
    """A parsed YAML tree with the line-remembering mappings turned into plain dicts."""
    if isinstance(node, Mapping):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _decode(data: bytes | str, source: str) -> tuple[str | None, Problem | None]:
    if isinstance(data, str):
        return data, None
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding), None
        except UnicodeDecodeError:
            continue
    return None, Problem(source, "is not a text file; save it as UTF-8", unit="line")


# ---- loading the bundled samples -------------------------------------------------------------

def load_labels(doc: Any, folder: Path | None, source: str = "labels.yaml"
                ) -> tuple[list[SamplePhoto], list[Problem]]:
    """Photos described by a parsed labels document whose files sit in ``folder``."""
    problems: list[Problem] = []
    photos: list[SamplePhoto] = []
    entries = doc.get("photos") if isinstance(doc, Mapping) else None
    if not isinstance(entries, Mapping):
        return [], [Problem(source, "needs a 'photos:' mapping of file name -> labels",
                            unit="line")]
    ids: dict[str, str] = {}
    for name, entry in entries.items():
        name = str(name)
        line = _line_of(entry)
        if not isinstance(entry, Mapping):
            problems.append(Problem(source, f"'{name}': labels must be a mapping (tags, "
                                            "synonyms, description, safety)", line, "line"))
            continue
        path = (folder / name) if folder is not None else None
        if path is None or not path.is_file():
            problems.append(Problem(source, f"'{name}': no such photo file", line, "line"))
            continue
        mime = _mime_from_suffix(name)
        if mime is None:
            problems.append(Problem(source, f"'{name}': only .jpg, .jpeg and .png photos are "
                                            "supported", line, "line"))
            continue
        problems += unknown_label_fields(name, entry, source, line)
        try:
            fields = _photo_fields(entry)
            photo = SamplePhoto(id=str(entry.get("id") or slug_id(name)), name=name,
                                file=path, mime=mime, **fields)
        except (ValueError, ValidationError) as exc:
            msg = "; ".join(readable_errors(exc)) if isinstance(exc, ValidationError) else str(exc)
            problems.append(Problem(source, f"'{name}': {msg}", line, "line"))
            continue
        if photo.id in ids:
            problems.append(Problem(source, f"'{name}': id '{photo.id}' is already used by "
                                            f"'{ids[photo.id]}'", line, "line"))
            continue
        ids[photo.id] = name
        photos.append(photo)
    return photos, problems


def _feature_sets(doc: Any, source: str, default_feature: str | None
                  ) -> tuple[list[tuple[str | None, Mapping[str, Any], Any]],
                             dict[str, FeatureSet], list[Problem]]:
    """(feature, feature meta, prompt list) triples from any accepted prompt-file shape:
    ``features: {name: {prompts: [...]}}``, ``prompts: [...]`` or a bare list."""
    problems: list[Problem] = []
    groups: list[tuple[str | None, Mapping[str, Any], Any]] = []
    metas: dict[str, FeatureSet] = {}
    if isinstance(doc, list):
        groups.append((default_feature, {}, doc))
    elif isinstance(doc, Mapping) and isinstance(doc.get("features"), Mapping):
        for name, block in doc["features"].items():
            if isinstance(block, list):
                block = {"prompts": block}
            if not isinstance(block, Mapping):
                problems.append(Problem(source, f"feature '{name}' must be a mapping with "
                                                "'prompts:'", _line_of(doc["features"]), "line"))
                continue
            feature = re.sub(r"[\s\-]+", "_", str(name).strip().lower())
            metas[feature] = FeatureSet(feature=feature, title=str(block.get("title") or ""),
                                        description=" ".join(
                                            str(block.get("description") or "").split()))
            groups.append((feature, block, block.get("prompts")))
    elif isinstance(doc, Mapping) and "prompts" in doc:
        named = doc.get("feature") or default_feature
        groups.append((str(named) if named else None, doc, doc.get("prompts")))
    else:
        problems.append(Problem(source, "expected 'features:' (prompt sets per feature), "
                                        "'prompts:' or a list of prompts", unit="line"))
    return groups, metas, problems


def _prompt_from_item(item: Any, feature: str | None, fallback_id: str
                      ) -> tuple[Prompt | None, str | None]:
    if not isinstance(item, Mapping):
        return None, "each prompt must be a mapping with 'prompt:' and 'reference:'"
    data = _plain(item)
    if not data.get("feature"):
        if not feature:
            return None, ("has no feature; add 'feature:' or choose the feature for the "
                          "upload")
        data["feature"] = feature
    if data.get("id") in (None, ""):
        data["id"] = fallback_id
    try:
        return Prompt.model_validate(data), None
    except ValidationError as exc:
        return None, "; ".join(readable_errors(exc, Prompt.model_fields.keys() | {"prompt"}))


def parse_prompts_yaml(data: bytes | str, source: str = "prompts.yaml",
                       default_feature: str | None = None
                       ) -> tuple[list[Prompt], list[Problem], dict[str, FeatureSet]]:
    """Prompts from YAML text (the prompts.yaml schema, ``prompts: [...]`` or a bare list).
    Bad prompts are reported with their line and skipped."""
    text, problem = _decode(data, source)
    if problem:
        return [], [problem], {}
    doc, problem = _yaml_load(text or "", source)
    if problem:
        return [], [problem], {}
    if doc is None:
        return [], [Problem(source, "is empty", unit="line")], {}
    groups, metas, problems = _feature_sets(doc, source, default_feature)
    prompts: list[Prompt] = []
    first_line: dict[str, int | None] = {}
    for feature, block, items in groups:
        if not isinstance(items, list):
            where = f"feature '{feature}'" if feature else "the file"
            problems.append(Problem(source, f"{where} needs a 'prompts:' list",
                                    _line_of(block), "line"))
            continue
        item_lines = getattr(items, "item_lines", [])
        for n, item in enumerate(items, start=1):
            line = _line_of(item) or (item_lines[n - 1] if n <= len(item_lines) else None)
            prompt, error = _prompt_from_item(item, feature, f"{feature or 'prompt'}-{n}")
            if error or prompt is None:
                label = f"{feature} prompt {n}" if feature else f"prompt {n}"
                problems.append(Problem(source, f"{label}: {error}", line, "line"))
                continue
            if prompt.id in first_line:
                was = first_line[prompt.id]
                problems.append(Problem(source, f"duplicate id '{prompt.id}'"
                                        + (f" (first on line {was})" if was else ""),
                                        line, "line"))
                continue
            first_line[prompt.id] = line
            prompts.append(prompt)
    return prompts, problems, metas


def load_sample_set(folder: Path = SAMPLES_DIR) -> tuple[SampleSet, list[Problem]]:
    """The samples in ``folder`` (labels.yaml + photos, prompts.yaml) and any problems."""
    problems: list[Problem] = []
    photos: list[SamplePhoto] = []
    tagging = DEFAULT_TAGGING_PROMPT
    labels_path = folder / "labels.yaml"
    if labels_path.is_file():
        text = labels_path.read_text(encoding="utf-8")
        doc, problem = _yaml_load(text, labels_path.name)
        if problem:
            problems.append(problem)
        else:
            photos, found = load_labels(doc, folder, labels_path.name)
            problems += found
            if isinstance(doc, Mapping) and isinstance(doc.get("tagging_prompt"), str):
                tagging = " ".join(doc["tagging_prompt"].split())
    prompts: list[Prompt] = []
    metas: dict[str, FeatureSet] = {}
    prompts_path = folder / "prompts.yaml"
    if prompts_path.is_file():
        prompts, found, metas = parse_prompts_yaml(prompts_path.read_bytes(), prompts_path.name)
        problems += found
    photo_ids = {p.id for p in photos}
    kept: list[Prompt] = []
    for q in prompts:
        if q.photo and q.photo not in photo_ids:
            problems.append(Problem(prompts_path.name, f"prompt '{q.id}' names photo "
                                                       f"'{q.photo}', which labels.yaml lacks",
                                    unit="item"))
            continue
        kept.append(q)
    for feature, meta in metas.items():
        meta.prompts = [q for q in kept if q.feature == feature]
    return SampleSet(photos=photos, prompts=kept, features=metas,
                     tagging_prompt=tagging), problems


def load_samples(folder: Path = SAMPLES_DIR) -> SampleSet:
    """The samples in ``folder``; raises :class:`SampleError` listing every problem."""
    samples, problems = load_sample_set(folder)
    errors = [p for p in problems if p.level == "error"]
    if errors:
        raise SampleError(errors)
    return samples


@functools.cache
def bundled_samples() -> SampleSet:
    """The samples shipped in ``data/samples`` (read once per process)."""
    return load_samples(SAMPLES_DIR)


# ---- uploads -------------------------------------------------------------------------------

def load_uploaded_photos(files: Iterable[tuple[str, bytes]],
                         labels: bytes | str | None = None, labels_name: str = "labels.yaml",
                         ) -> tuple[list[SamplePhoto], list[Problem]]:
    """Uploaded JPEG/PNG photos as (file name, bytes), with optional labels YAML in the
    labels.yaml schema (keys are file names; ``photos:`` may be left out). Photos without
    labels load with a warning: they are scored on speed, cost and agreement only."""
    photos, problems, _ = match_uploaded_photos(files, labels, labels_name)
    return photos, problems


def match_uploaded_photos(files: Iterable[tuple[str, bytes]],
                          labels: bytes | str | None = None, labels_name: str = "labels.yaml",
                          ) -> tuple[list[SamplePhoto], list[Problem], list[str]]:
    """:func:`load_uploaded_photos`, plus the names the labels give that match no photo of
    the upload (their labels are not used: a typo in a file name, or a photo left out)."""
    problems: list[Problem] = []
    entries: dict[str, Any] = {}
    if labels is not None:
        text, problem = _decode(labels, labels_name)
        doc, problem = (None, problem) if problem else _yaml_load(text or "", labels_name)
        if problem:
            problems.append(problem)
        elif doc is not None:
            block = doc.get("photos", doc) if isinstance(doc, Mapping) else None
            if not isinstance(block, Mapping):
                problems.append(Problem(labels_name, "expected file names with their labels, "
                                                     "e.g. 'cat.jpg: {tags: [cat]}'", unit="line"))
            else:
                entries = {str(k): v for k, v in block.items()}
    by_key: dict[str, str] = {}
    for key in entries:
        for alias in (key, Path(key).name, Path(key).name.lower(), slug_id(Path(key).name)):
            by_key.setdefault(alias, key)
    used: set[str] = set()
    photos: list[SamplePhoto] = []
    ids: set[str] = set()
    for n, (name, data) in enumerate(files, start=1):
        name = Path(str(name)).name or f"photo-{n}"
        if len(data) > MAX_PHOTO_BYTES:
            problems.append(Problem(name, f"is larger than {MAX_PHOTO_BYTES // 2**20} MB",
                                    unit="item"))
            continue
        mime = sniff_image(data)
        if mime is None:
            problems.append(Problem(name, "is not a JPEG or PNG image that can be opened",
                                    unit="item"))
            continue
        base = slug_id(name)
        photo_id, k = base, 2
        while photo_id in ids:
            photo_id, k = f"{base}-{k}", k + 1
        label_key = next((by_key[a] for a in (name, name.lower(), base) if a in by_key), None)
        fields: dict[str, Any] = {}
        if label_key is not None:
            entry = entries[label_key]
            used.add(label_key)
            if not isinstance(entry, Mapping):
                problems.append(Problem(labels_name, f"'{label_key}': labels must be a mapping (tags, "
                                                     "synonyms, description, safety)",
                                        _line_of(entry), "line"))
            else:
                problems += unknown_label_fields(label_key, entry, labels_name, _line_of(entry))
                try:
                    fields = _photo_fields(entry)
                    if entry.get("id"):
                        photo_id = str(entry["id"])
                except ValueError as exc:
                    problems.append(Problem(labels_name, f"'{label_key}': {exc}", _line_of(entry),
                                            "line"))
                    fields = {}
        try:
            photo = SamplePhoto.from_bytes(data, id=photo_id, name=name, mime=mime, **fields)
        except ValidationError as exc:
            problems.append(Problem(name, "; ".join(readable_errors(exc)), unit="item"))
            continue
        if photo.id in ids:
            problems.append(Problem(name, f"id '{photo.id}' is used by another photo",
                                    unit="item"))
            continue
        ids.add(photo.id)
        if not photo.labelled:
            problems.append(Problem(name, "has no labels: it is compared on speed, cost and "
                                          "agreement, not accuracy", unit="item",
                                    level="warning"))
        photos.append(photo)
    unmatched = [stray for stray in entries if stray not in used]
    for stray in unmatched:
        problems.append(Problem(labels_name, f"'{stray}' has labels but no uploaded photo",
                                _line_of(entries[stray]), "line", "warning"))
    return photos, problems, unmatched


_CSV_ALIASES = {"prompt_id": "id", "name": "id", "text": "prompt", "question": "prompt",
                "input": "prompt", "expected": "reference", "expected_output": "reference",
                "reference_answer": "reference", "answer": "reference", "photo_id": "photo",
                "image": "photo", "max_latency": "max_latency_ms", "latency_ms": "max_latency_ms",
                "max_cost": "max_cost_usd", "cost_usd": "max_cost_usd", "assert": "assertions"}
_CSV_FIXED = ("id", "feature", "prompt", "reference", "photo", "assertions", "is_json",
              "json_schema", "max_latency_ms", "max_cost_usd")
_CSV_TEXT = {"equals": "equals", "contains": "contains", "icontains": "icontains",
             "regex": "regex", "not_contains": "not-contains"}
CSV_COLUMNS: tuple[str, ...] = ("id", "feature", "prompt", "reference", "photo",
                                *(_CSV_TEXT), "is_json", "json_schema", "max_latency_ms",
                                "max_cost_usd", "assertions")


# Templates offered next to the upload widgets: the smallest files the loaders accept.
LABELS_TEMPLATE = """\
# One entry per photo file name: ground-truth tags (most salient first), words that mean
# the same tag, a one-sentence description and safety flags (person, medical, text).
photos:
  mug.jpg:
    tags: [mug, coffee, ceramic, table]
    synonyms: {mug: [cup]}
    description: A white ceramic coffee mug on a wooden table.
    safety: []
"""
PROMPTS_TEMPLATE_CSV = (
    "id,feature,prompt,reference,photo,icontains,not_contains,max_latency_ms\n"
    "mug-desc,description_generation,Write a one-sentence listing description for a white "
    "ceramic mug.,\"A white ceramic mug, perfect for your morning coffee.\",,mug,plastic,3000\n"
)


def _csv_column(header: str) -> str | None:
    """The canonical name of a CSV header, or None when it is not a known column.
    Text assertion columns may repeat with a suffix: contains_2, icontains_3, ..."""
    key = re.sub(r"[\s\-]+", "_", header.strip().lower().lstrip("\ufeff"))
    key = _CSV_ALIASES.get(key, key)
    if key in _CSV_FIXED:
        return key
    base = re.sub(r"_\d+$", "", key)
    return key if base in _CSV_TEXT else None


def _csv_row(cells: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Prompt fields from one CSV row's non-empty cells, and what was wrong."""
    errors: list[str] = []
    data: dict[str, Any] = {k: cells[k] for k in ("id", "feature", "prompt", "reference",
                                                  "photo") if cells.get(k)}
    assertions: list[dict[str, Any]] = []
    for col, value in cells.items():
        base = re.sub(r"_\d+$", "", col)
        if base in _CSV_TEXT and value != "":
            assertions.append({"type": _CSV_TEXT[base], "value": value})
    flag = cells.get("is_json", "").strip().lower()
    if flag in _TRUE:
        assertions.append({"type": "is-json"})
    elif flag not in _FALSE:
        errors.append(f"is_json must be yes or no, not '{cells['is_json']}'")
    if cells.get("json_schema"):
        assertions.append({"type": "json-schema", "value": cells["json_schema"]})
    for col, kind, unit in (("max_latency_ms", "max-latency", "milliseconds"),
                            ("max_cost_usd", "max-cost", "US dollars")):
        raw = cells.get(col, "").strip().lstrip("$").replace(",", "")
        if raw:
            try:
                assertions.append({"type": kind, "threshold": float(raw)})
            except ValueError:
                errors.append(f"{col} must be a number of {unit}, not '{cells[col]}'")
    if cells.get("assertions"):
        try:
            extra = json.loads(cells["assertions"])
        except json.JSONDecodeError:
            errors.append("assertions must be a JSON list such as "
                          '[{"type": "icontains", "value": "cat"}]')
        else:
            if isinstance(extra, dict):
                extra = [extra]
            if isinstance(extra, list):
                assertions += extra
            else:
                errors.append("assertions must be a JSON list of assertions")
    if assertions:
        data["assertions"] = assertions
    return data, errors


def parse_prompts_csv(data: bytes | str, source: str = "prompts.csv",
                      default_feature: str | None = None) -> tuple[list[Prompt], list[Problem]]:
    """Prompts from CSV. Columns: ``prompt`` (required), ``id``, ``feature``, ``reference``,
    ``photo``, and assertion columns ``equals``, ``contains``, ``icontains``, ``regex``,
    ``not_contains`` (repeatable as ``contains_2``...), ``is_json`` (yes/no),
    ``json_schema`` (JSON), ``max_latency_ms``, ``max_cost_usd`` and ``assertions`` (a JSON
    list). Rows are numbered as in a spreadsheet: the header is row 1."""
    text, problem = _decode(data, source)
    if problem:
        return [], [problem]
    text = text or ""
    if not text.strip():
        return [], [Problem(source, "is empty", unit="line")]
    first_line = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    delimiter = max(",;\t", key=first_line.count)  # Excel in some locales writes ';'
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    problems: list[Problem] = []
    try:
        header = next(rows)
    except csv.Error as exc:
        return [], [Problem(source, f"cannot be read as CSV: {exc}", 1)]
    columns = [_csv_column(h) for h in header]
    for h, c in zip(header, columns, strict=True):
        if c is None and h.strip():
            close = get_close_matches(h.strip().lower(), CSV_COLUMNS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(Problem(source, f"column '{h.strip()}' is not known and is "
                                            f"ignored{hint}", 1, level="warning"))
    dupes = {c for c in columns if c is not None and columns.count(c) > 1}
    if dupes:
        return [], problems + [Problem(source, "columns appear twice: " + ", ".join(
            sorted(dupes)) + " (number repeats, e.g. contains_2)", 1)]
    if "prompt" not in columns:
        return [], problems + [Problem(source, "needs a 'prompt' column (the header row "
                                               "names the columns: " + ", ".join(
                                                   CSV_COLUMNS[:4]) + ", ...)", 1)]
    prompts: list[Prompt] = []
    first_row: dict[str, int] = {}
    row_no = 1
    while True:
        try:
            cells_list = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(source, f"cannot be read as CSV: {exc}", row_no + 1))
            break
        row_no += 1
        if not any(c.strip() for c in cells_list):
            continue
        if len(cells_list) > len(columns) and any(c.strip() for c in cells_list[len(columns):]):
            problems.append(Problem(source, f"has {len(cells_list)} cells but the header has "
                                            f"{len(columns)} columns (a comma inside a value "
                                            "needs quotes)", row_no))
            continue
        cells = {c: v.strip() for c, v in zip(columns, cells_list, strict=False)
                 if c is not None}
        fields, errors = _csv_row(cells)
        if errors:
            problems.append(Problem(source, "; ".join(errors), row_no))
            continue
        if not fields.get("prompt"):
            problems.append(Problem(source, "has no prompt text", row_no))
            continue
        prompt, error = _prompt_from_item(fields, default_feature, f"row-{row_no}")
        if error or prompt is None:
            problems.append(Problem(source, str(error), row_no))
            continue
        if prompt.id in first_row:
            problems.append(Problem(source, f"duplicate id '{prompt.id}' (first on row "
                                            f"{first_row[prompt.id]})", row_no))
            continue
        first_row[prompt.id] = row_no
        prompts.append(prompt)
    if row_no == 1:
        problems.append(Problem(source, "has a header but no rows", 1, level="warning"))
    return prompts, problems


def load_prompt_upload(name: str, data: bytes | str, default_feature: str | None = None
                       ) -> tuple[list[Prompt], list[Problem]]:
    """An uploaded prompt set, by file type: .csv, or .yaml/.yml."""
    suffix = Path(name).suffix.lower()
    if suffix == ".csv":
        return parse_prompts_csv(data, Path(name).name, default_feature)
    if suffix in (".yaml", ".yml"):
        prompts, problems, _ = parse_prompts_yaml(data, Path(name).name, default_feature)
        return prompts, problems
    return [], [Problem(Path(name).name or "upload",
                        "is not a prompt set: upload a .csv, .yaml or .yml file", unit="item")]
