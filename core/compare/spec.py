"""What a comparison runs: models, comparison type, photos, prompts and run settings.

A :class:`ComparisonSpec` is built by the Compare page or read from YAML for headless runs
(``switchyard compare SPEC.yaml``)::

    name: Photo tagging, flash vs sonnet
    models:
      - gemini/gemini-2.5-flash                      # provider id / model id
      - {provider: anthropic, model: claude-sonnet-4-5, label: Sonnet}
    comparison_type: comprehensive                   # performance | cost | accuracy | comprehensive
    samples: [product-shots-3f9a2c, ./my-samples]    # uploaded set ids, folders (optional)
    bundled: true                                    # include data/samples (default)
    photos: all                                      # or [chelsea, coffee]; [] for none
    prompts: {features: [description_generation], ids: [safety-redact-pii]}
    iterations: 3
    concurrency: 8
    timeout_s: 60
    temperature: 0.2
    judge: {provider: openai, model: gpt-4.1, rubric: "..."}
    thresholds: {min_accuracy: 0.8, max_p95_latency_ms: 4000, max_cost_per_request_usd: 0.01}

:func:`load_spec` turns bad YAML or bad values into a :class:`SpecError` whose message
lists every problem in plain words (no traceback text).

``samples`` says where photos and prompts come from besides the bundled ``data/samples``:
an entry is the id of a set the organization uploaded (see
:mod:`core.compare.sample_store`) or, for headless runs, a folder in the data/samples layout
(written with a ``/``, e.g. ``./my-samples``; relative to the spec file's folder).
``bundled: false`` leaves the bundled samples out, so ``photos: all`` means the named sets'
photos only. :func:`core.compare.sample_store.resolve_samples` turns a spec into the
:class:`SampleSet` it runs on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core import safe_yaml
from core.compare.samples import FEATURES, SampleSet, readable_errors
from core.compare.scoring import DEFAULT_RUBRIC

if TYPE_CHECKING:
    from core.compare.samples import Prompt, SamplePhoto

MAX_MODELS = 4
ComparisonType = Literal["performance", "cost", "accuracy", "comprehensive"]
COMPARISON_TYPES: tuple[str, ...] = ("performance", "cost", "accuracy", "comprehensive")

MAX_SAMPLE_SOURCES = 10
# Uploaded sample set ids (core.compare.sample_store makes them): no dots or slashes, so an id
# is always one folder name and never a path.
SAMPLE_SET_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
_PROVIDER_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,62}$")  # config store ids, plus types
_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+\-]{0,199}$")  # as config_store.schemas


class Weights(BaseModel):
    """How much each dimension counts towards "best overall" (they sum to 1).

    * accuracy    - mean accuracy score (tag F1 for photos, assertion/judge score for prompts)
    * speed       - p95 latency (lower is better)
    * cost        - cost per accurate result (lower is better)
    * reliability - success rate (calls that returned an answer)
    * consistency - agreement of a model's answers across iterations
    """

    model_config = ConfigDict(frozen=True)

    accuracy: float
    speed: float
    cost: float
    reliability: float
    consistency: float

    def as_dict(self) -> dict[str, float]:
        return self.model_dump()

    def as_metrics(self) -> dict[str, float]:
        """The weights by the metric names of ``core.compare.stats`` (speed is latency)."""
        return {"accuracy": self.accuracy, "latency": self.speed, "cost": self.cost,
                "reliability": self.reliability, "consistency": self.consistency}


TYPE_WEIGHTS: dict[str, Weights] = {
    "performance": Weights(accuracy=0.20, speed=0.50, cost=0.10, reliability=0.15,
                           consistency=0.05),
    "cost": Weights(accuracy=0.20, speed=0.10, cost=0.55, reliability=0.10, consistency=0.05),
    "accuracy": Weights(accuracy=0.60, speed=0.05, cost=0.05, reliability=0.10,
                        consistency=0.20),
    "comprehensive": Weights(accuracy=0.35, speed=0.20, cost=0.20, reliability=0.15,
                             consistency=0.10),
}
TYPE_DESCRIPTIONS: dict[str, str] = {
    "performance": "Fastest reliable model: latency counts most.",
    "cost": "Cheapest model that still gets results right: cost per accurate result counts most.",
    "accuracy": "Most accurate and consistent model, whatever it costs.",
    "comprehensive": "A balance of accuracy, speed, cost and reliability.",
}


class SpecError(ValueError):
    """A spec that cannot be used; ``errors`` holds one readable line per problem."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors) if len(self.errors) < 2 else
                         "the comparison spec has problems:\n" + "\n".join(
                             f"- {e}" for e in self.errors))


def is_folder_ref(entry: str) -> bool:
    """Whether a ``samples`` entry names a folder (it has a path separator or starts with
    ``.`` or ``~``) rather than an uploaded set's id."""
    return "/" in entry or "\\" in entry or entry.startswith((".", "~"))


def _check_sample_entry(entry: str) -> str:
    if is_folder_ref(entry) or SAMPLE_SET_ID_RE.fullmatch(entry):
        return entry
    raise ValueError(f"'{entry}' is neither an uploaded sample set id (lowercase letters, "
                     "digits, '-' or '_', e.g. product-shots-3f9a2c) nor a folder (write a "
                     "folder as ./name or an absolute path)")


def check_provider_id(value: str) -> str:
    if not _PROVIDER_RE.fullmatch(value):
        raise ValueError("must be a provider id such as openai or my-gateway (lowercase "
                         "letters, digits, '-', '_' or '.')")
    return value


def check_model_id(value: str) -> str:
    if not _MODEL_RE.fullmatch(value):
        raise ValueError("must be a model id such as gpt-4o-mini or llama3.2-vision:11b "
                         "(letters, digits and . _ : / @ + -, no spaces)")
    return value


def _model_shorthand(value: Any) -> Any:
    """``"openai/gpt-4o"`` -> ``{"provider": "openai", "model": "gpt-4o"}``."""
    if isinstance(value, str):
        provider, sep, model = value.strip().partition("/")
        if not sep or not provider or not model:
            raise ValueError(f"'{value}' should be written provider/model, e.g. openai/gpt-4o, "
                             "or as {provider: ..., model: ...}")
        return {"provider": provider, "model": model}
    return value


class ModelRef(BaseModel):
    """One model to compare: the configured provider's id and the model's id."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    label: str | None = Field(default=None, max_length=60)
    timeout_s: float | None = Field(default=None, gt=0, le=600)  # overrides the spec's

    _provider = field_validator("provider")(lambda cls, v: check_provider_id(v))
    _model = field_validator("model")(lambda cls, v: check_model_id(v))

    @field_validator("label", mode="before")
    @classmethod
    def _label(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.model}"

    @property
    def display(self) -> str:
        return self.label or self.key


class JudgeSpec(BaseModel):
    """An LLM judge that scores prompt answers against references with a rubric."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    provider: str
    model: str
    rubric: str = Field(default=DEFAULT_RUBRIC, min_length=10, max_length=4000)
    pass_score: float = Field(default=0.7, ge=0, le=1)  # a judged score at or above: accurate

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return _model_shorthand(data)

    _provider = field_validator("provider")(lambda cls, v: check_provider_id(v))
    _model = field_validator("model")(lambda cls, v: check_model_id(v))

    @property
    def ref(self) -> ModelRef:
        return ModelRef(provider=self.provider, model=self.model)


class PromptSelection(BaseModel):
    """Which prompts run: every prompt (``all``), those of some features, and/or some ids.

    In YAML: ``all``, ``none``, a feature name, a list mixing feature names and prompt ids,
    or ``{features: [...], ids: [...]}``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    all: bool = False
    features: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if data is None:
            return {}
        if isinstance(data, str):
            word = data.strip()
            if word.lower() == "all":
                return {"all": True}
            if word.lower() in ("none", ""):
                return {}
            data = [word]
        if isinstance(data, (list, tuple)):
            items = [str(x).strip() for x in data if str(x).strip()]
            return {"features": [x for x in items if x in FEATURES],
                    "ids": [x for x in items if x not in FEATURES]}
        return data

    @field_validator("features", "ids", mode="before")
    @classmethod
    def _strings(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [v]
        if isinstance(v, (list, tuple)):
            return tuple(dict.fromkeys(str(x).strip() for x in v if str(x).strip()))
        return v

    @property
    def empty(self) -> bool:
        return not (self.all or self.features or self.ids)

    def dump(self) -> Any:
        if self.all:
            return "all"
        if not self.features and not self.ids:
            return []
        out: dict[str, list[str]] = {}
        if self.features:
            out["features"] = list(self.features)
        if self.ids:
            out["ids"] = list(self.ids)
        return out


class Thresholds(BaseModel):
    """Pass/fail limits for headless (CI) runs; each applies to every model unless
    ``models`` names some (by provider/model key or label)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_accuracy: float | None = Field(default=None, ge=0, le=1)
    min_success_rate: float | None = Field(default=None, ge=0, le=1)
    max_p95_latency_ms: float | None = Field(default=None, gt=0)
    max_avg_latency_ms: float | None = Field(default=None, gt=0)
    max_cost_per_request_usd: float | None = Field(default=None, ge=0)
    max_total_cost_usd: float | None = Field(default=None, ge=0)
    models: tuple[str, ...] = ()

    @field_validator("models", mode="before")
    @classmethod
    def _models(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v

    @property
    def active(self) -> bool:
        """Whether any limit is set."""
        return any(v is not None for k, v in self.model_dump().items() if k != "models")


class ComparisonSpec(BaseModel):
    """A side-by-side comparison of 1-4 models on sample photos and/or prompts."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    name: str = Field(default="Untitled comparison", min_length=1, max_length=120)
    description: str = Field(default="", max_length=2000)
    models: tuple[ModelRef, ...]
    comparison_type: ComparisonType = "comprehensive"
    samples: tuple[str, ...] = ()  # uploaded set ids and/or folders, merged in this order
    bundled: bool = True  # include the bundled data/samples
    photos: Literal["all"] | tuple[str, ...] = ()
    prompts: PromptSelection = Field(default_factory=PromptSelection)
    iterations: int = Field(default=3, ge=1, le=20)
    concurrency: int = Field(default=8, ge=1, le=64)
    timeout_s: float = Field(default=60.0, gt=0, le=600)
    temperature: float | None = Field(default=None, ge=0, le=2)  # None: the model's default
    max_tokens: int | None = Field(default=None, ge=1, le=200_000)
    retries: int = Field(default=2, ge=0, le=10)  # on 429/5xx, honouring Retry-After
    rate_limits_rpm: dict[str, int] = Field(default_factory=dict)  # provider id -> req/min
    judge: JudgeSpec | None = None
    thresholds: Thresholds = Field(default_factory=Thresholds)

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            data = dict(data)
            for alias, field in (("type", "comparison_type"), ("timeout", "timeout_s")):
                if alias in data and field not in data:
                    data[field] = data.pop(alias)
        return data

    @field_validator("models", mode="before")
    @classmethod
    def _models(cls, v: Any) -> Any:
        if v is None:
            return ()
        if isinstance(v, (str, Mapping)):
            v = [v]
        if isinstance(v, (list, tuple)):
            if len(v) > MAX_MODELS:
                raise ValueError(f"at most {MAX_MODELS} models can be compared at once "
                                 f"(got {len(v)})")
            return [_model_shorthand(m) for m in v]
        return v

    @field_validator("comparison_type", mode="before")
    @classmethod
    def _type(cls, v: Any) -> Any:
        if isinstance(v, str):
            key = v.strip().lower()
            if key not in COMPARISON_TYPES:
                raise ValueError(f"'{v}' is not a comparison type; use one of: "
                                 + ", ".join(COMPARISON_TYPES))
            return key
        return v

    @field_validator("photos", mode="before")
    @classmethod
    def _photos(cls, v: Any) -> Any:
        if v is None:
            return ()
        if isinstance(v, str):
            word = v.strip()
            if word.lower() == "all":
                return "all"
            if word.lower() in ("none", ""):
                return ()
            return (word,)
        if isinstance(v, (list, tuple)):
            if any(isinstance(x, (list, dict)) for x in v):
                raise ValueError("must be 'all' or a list of photo ids")
            if [str(x).strip().lower() for x in v] == ["all"]:
                return "all"
            return tuple(dict.fromkeys(str(x).strip() for x in v if str(x).strip()))
        raise ValueError("must be 'all' or a list of photo ids")

    @field_validator("samples", mode="before")
    @classmethod
    def _samples(cls, v: Any) -> Any:
        if v is None:
            return ()
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, (list, tuple)) or any(isinstance(x, (list, dict)) for x in v):
            raise ValueError("must be a list of uploaded sample set ids and/or folders")
        entries = list(dict.fromkeys(str(x).strip() for x in v if str(x).strip()))
        if len(entries) > MAX_SAMPLE_SOURCES:
            raise ValueError(f"at most {MAX_SAMPLE_SOURCES} sample sets or folders "
                             f"(got {len(entries)})")
        return tuple(_check_sample_entry(e) for e in entries)

    @field_validator("rate_limits_rpm")
    @classmethod
    def _rpm(cls, v: dict[str, int]) -> dict[str, int]:
        for provider, rpm in v.items():
            if rpm < 1:
                raise ValueError(f"{provider}: requests per minute must be at least 1")
        return v

    @model_validator(mode="after")
    def _check(self) -> ComparisonSpec:
        if not self.models:
            raise ValueError("Choose at least one model to compare")
        seen: dict[str, int] = {}
        for n, m in enumerate(self.models, start=1):
            if m.key in seen:
                raise ValueError(f"Model {m.key} is listed twice (models {seen[m.key]} and "
                                 f"{n}); each model can be compared once")
            seen[m.key] = n
        labels = [m.label for m in self.models if m.label]
        if len(labels) != len(set(labels)):
            raise ValueError("Two models have the same label; labels must tell them apart")
        if not self.bundled and not self.samples:
            raise ValueError("bundled: false needs samples: naming at least one uploaded "
                             "sample set or folder")
        if self.photos == () and self.prompts.empty:
            raise ValueError("Choose at least one photo or prompt (photos: all, or prompts: "
                             "all / a feature / prompt ids)")
        names = {m.key for m in self.models} | set(labels)
        unknown = [t for t in self.thresholds.models if t not in names]
        if unknown:
            raise ValueError("thresholds › models: " + ", ".join(unknown)
                             + " is not one of the compared models")
        return self

    # ---- derived -------------------------------------------------------------------------

    @property
    def weights(self) -> Weights:
        """The weights of this spec's comparison type, for "best overall"."""
        return TYPE_WEIGHTS[self.comparison_type]

    def model_for(self, name: str) -> ModelRef | None:
        """A compared model by provider/model key or label."""
        return next((m for m in self.models if name in (m.key, m.label)), None)

    def with_folders_under(self, base: Path) -> ComparisonSpec:
        """This spec with relative folder entries of ``samples`` made absolute against
        ``base`` (the spec file's folder), so a stored run finds them again from anywhere."""
        entries = []
        for entry in self.samples:
            if is_folder_ref(entry):
                path = Path(entry).expanduser()
                entry = str(path if path.is_absolute() else (base / path).resolve())
            entries.append(entry)
        return self.model_copy(update={"samples": tuple(entries)})

    def timeout_for(self, model: ModelRef) -> float:
        return model.timeout_s or self.timeout_s

    def threshold_models(self) -> list[ModelRef]:
        """The models the thresholds apply to."""
        if not self.thresholds.models:
            return list(self.models)
        return [m for m in self.models if m.key in self.thresholds.models
                or (m.label and m.label in self.thresholds.models)]

    def select_photos(self, samples: SampleSet) -> list[SamplePhoto]:
        if self.photos == "all":
            return list(samples.photos)
        return [p for pid in self.photos if (p := samples.photo(pid)) is not None]

    def select_prompts(self, samples: SampleSet) -> list[Prompt]:
        sel = self.prompts
        if sel.all:
            return list(samples.prompts)
        ids = set(sel.ids)
        return [q for q in samples.prompts if q.feature in sel.features or q.id in ids]

    def check_against(self, samples: SampleSet) -> list[str]:
        """Problems resolving this spec's photos and prompts against ``samples``
        (unknown ids or features, nothing selected). Empty when the spec can run."""
        problems: list[str] = []
        if self.photos != "all":
            missing = [p for p in self.photos if samples.photo(p) is None]
            if missing:
                problems.append("photos: unknown photo id(s): " + ", ".join(missing))
        known_features = set(samples.feature_names) | set(FEATURES)
        bad_features = [f for f in self.prompts.features if f not in known_features]
        if bad_features:
            problems.append("prompts › features: unknown feature(s): " + ", ".join(bad_features))
        missing_ids = [i for i in self.prompts.ids
                       if samples.prompt(i) is None and i not in samples.feature_names]
        if missing_ids:
            problems.append("prompts › ids: unknown prompt id(s): " + ", ".join(missing_ids))
        if not problems and not self.select_photos(samples) and not self.select_prompts(samples):
            problems.append("the spec selects no photos and no prompts from these samples")
        return problems

    def total_calls(self, samples: SampleSet) -> int:
        """Model calls the run makes (before retries and judge calls)."""
        items = len(self.select_photos(samples)) + len(self.select_prompts(samples))
        return items * len(self.models) * self.iterations


_FIELDS = tuple(ComparisonSpec.model_fields) + tuple(ModelRef.model_fields) \
    + tuple(Thresholds.model_fields) + tuple(JudgeSpec.model_fields) + ("type", "timeout")


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    what = getattr(exc, "problem", None) or "the text is not valid YAML"
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {what}"
    return str(what)


def _looks_like_path(text: str) -> bool:
    if "\n" in text or ": " in text or text.lstrip().startswith("{"):
        return False
    if text.strip().lower().endswith((".yaml", ".yml")):
        return True
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def parse_spec(data: Any) -> ComparisonSpec:
    """A spec from already-parsed data (a mapping); raises :class:`SpecError`."""
    if not isinstance(data, Mapping):
        raise SpecError(["a comparison spec must be a mapping of settings (key: value lines), "
                         "starting with models:"])
    try:
        return ComparisonSpec.model_validate(dict(data))
    except ValidationError as exc:
        raise SpecError(readable_errors(exc, _FIELDS)) from None


def load_spec(source: str | Path) -> ComparisonSpec:
    """A spec from a YAML file path or YAML text; raises :class:`SpecError` with readable
    messages for unreadable files, bad YAML and bad values."""
    text: str
    where = ""
    if isinstance(source, Path) or _looks_like_path(source):
        path = Path(source)
        where = f"{path.name}: "
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SpecError([f"{path}: no such file"]) from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
                "not a UTF-8 text file"
            raise SpecError([f"{path}: cannot be read ({reason})"]) from None
    else:
        text = source
    try:
        data = safe_yaml.load(text)
    except safe_yaml.YAMLRefused as exc:
        raise SpecError([where + str(exc)]) from None
    except yaml.YAMLError as exc:
        raise SpecError([where + _yaml_problem(exc)]) from None
    if data is None:
        raise SpecError([where + "the spec is empty; it needs at least models: and photos: or "
                                 "prompts:"])
    try:
        spec = parse_spec(data)
    except SpecError as exc:
        if not where:
            raise
        raise SpecError([where + e for e in exc.errors]) from None
    if where:  # read from a file: its folders are relative to the file
        spec = spec.with_folders_under(Path(source).expanduser().resolve().parent)
    return spec


def spec_to_dict(spec: ComparisonSpec) -> dict[str, Any]:
    """The spec as plain data in the YAML layout (defaults and unset values left out,
    except the fields that say what is compared)."""
    out: dict[str, Any] = {"name": spec.name}
    if spec.description:
        out["description"] = spec.description
    out["models"] = [m.model_dump(exclude_none=True) for m in spec.models]
    out["comparison_type"] = spec.comparison_type
    if spec.samples:
        out["samples"] = list(spec.samples)
    if not spec.bundled:
        out["bundled"] = False
    out["photos"] = spec.photos if spec.photos == "all" else list(spec.photos)
    out["prompts"] = spec.prompts.dump()
    defaults = ComparisonSpec.model_fields
    for field in ("iterations", "concurrency", "timeout_s", "temperature", "max_tokens",
                  "retries"):
        value = getattr(spec, field)
        if field in ("iterations", "concurrency", "timeout_s") or value != defaults[field].default:
            out[field] = value
    if spec.rate_limits_rpm:
        out["rate_limits_rpm"] = dict(spec.rate_limits_rpm)
    if spec.judge is not None:
        out["judge"] = spec.judge.model_dump(exclude_defaults=True)
    thresholds = spec.thresholds.model_dump(exclude_none=True)
    if spec.thresholds.models:
        thresholds["models"] = list(spec.thresholds.models)
    else:
        thresholds.pop("models", None)
    if thresholds:
        out["thresholds"] = thresholds
    return out


def dump_spec(spec: ComparisonSpec) -> str:
    """The spec as YAML that :func:`load_spec` reads back to an equal spec."""
    return yaml.safe_dump(spec_to_dict(spec), sort_keys=False, allow_unicode=True, width=96)
