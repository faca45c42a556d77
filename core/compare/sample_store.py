"""Users' own sample sets: uploaded photos (with optional labels) and prompt sets, saved per
organization so that comparisons can name them and past runs find them again.

The Compare page calls this API (the organization always comes from the signed-in user)::

    store = SampleStore()        # under settings.sample_sets_path (SWITCHYARD_SAMPLE_SETS)

    check = check_upload(photos=[(file_name, data), ...], labels=labels_yaml or None,
                         prompt_files=[(file_name, data), ...], default_feature=None)
    check.samples, check.problems               # a preview: what would be saved, and why not

    saved = store.save(org_id, "Product shots", photos=..., labels=..., prompt_files=...,
                       actor=username, default_feature=None)
    saved.info       # SampleSetInfo: id, name, photos, labelled_photos, prompts, features,
                     #                size_bytes, created_at, created_by
    saved.problems   # list[Problem]: skipped items (level "error") and warnings
    store.list(org_id)            -> list[SampleSetInfo], newest first
    store.get(org_id, set_id)     -> SampleSetInfo
    store.load(org_id, set_id)    -> SampleSet (its photos and prompts)
    store.delete(org_id, set_id)  -> SampleSetInfo of the removed set

    # What a spec runs on: bundled samples merged with the sets (and folders) it names.
    samples, problems = resolve_samples(spec, org_id)
    # The same before there is a spec (the page's pickers): bundled + these sets.
    samples, problems = resolve_sources([set_id, ...], org_id, bundled=True)

``save`` raises :class:`SampleStoreError` (with ``problems``) when nothing in the upload can be
used, the name is empty or taken, or the organization has too many sets; ``get``, ``load``
and ``delete`` raise :class:`UnknownSampleSet` for an id that is not a set of *this*
organization (including ids that are not ids at all, such as ``../other-org/x``).
``resolve_samples`` raises :class:`core.compare.spec.SpecError` when a named set is gone.

On disk a set is ``<root>/<org_id>/<set_id>/`` in the ``data/samples`` layout
(``labels.yaml``, ``photos/``, ``prompts.yaml``) plus ``set.json``, so
:func:`core.compare.samples.load_sample_set` reads it back. A save is written to a hidden
temporary folder and renamed into place: an interrupted save leaves no half-written set.
Sets never change once saved (a comparison that names one sees the same items when it is
resumed or reopened); to change a set, save a new one and delete the old.
"""

from __future__ import annotations

import io
import logging
import os
import re
import secrets
import shutil
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict

from core.compare.samples import (
    MAX_PHOTO_BYTES,
    Problem,
    Prompt,
    SamplePhoto,
    SampleSet,
    bundled_samples,
    load_prompt_upload,
    load_sample_set,
    match_uploaded_photos,
    slug_id,
)
from core.compare.spec import SAMPLE_SET_ID_RE, SpecError, is_folder_ref
from core.domain import check_org_id
from core.files import fsync_dir

if TYPE_CHECKING:
    from core.compare.spec import ComparisonSpec

log = logging.getLogger(__name__)

MAX_SETS_PER_ORG = 100
MAX_SET_PHOTOS = 200
MAX_SET_BYTES = 200 * 1024 * 1024  # all photos of one set
MAX_PHOTO_PIXELS = 40_000_000  # 40 megapixels: above any provider's image limit
MAX_SET_PROMPTS = 1000
MAX_TEXT_FILE_BYTES = 5 * 1024 * 1024  # a labels or prompt file
MAX_NAME_CHARS = 80
STALE_TEMP_S = 3600.0  # a temporary folder this old belongs to a save that died

_EXT = {"image/jpeg": ".jpg", "image/png": ".png"}
_TMP_PREFIX = ".tmp-"
_TRASH_PREFIX = ".deleted-"


class SampleStoreError(ValueError):
    """An upload or request the store refuses; ``problems`` says what was wrong with items."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()):
        self.problems = list(problems)
        super().__init__(message)


class UnknownSampleSet(SampleStoreError):
    """No such set in this organization (or the id is not a valid set id)."""


class SampleSetInfo(BaseModel):
    """What the page lists about a saved set."""

    model_config = ConfigDict(frozen=True)

    id: str
    org_id: str
    name: str
    photos: int = 0
    labelled_photos: int = 0
    prompts: int = 0
    features: tuple[str, ...] = ()
    size_bytes: int = 0
    created_at: datetime
    created_by: str = ""


@dataclass(frozen=True)
class UploadCheck:
    """An upload as it would be saved: the usable items and everything wrong with the rest."""

    photos: list[SamplePhoto]
    prompts: list[Prompt]
    problems: list[Problem] = field(default_factory=list)
    unmatched_labels: tuple[str, ...] = ()  # names in the labels that match no photo

    @property
    def samples(self) -> SampleSet:
        return SampleSet(photos=self.photos, prompts=self.prompts)

    @property
    def empty(self) -> bool:
        return not self.photos and not self.prompts


def labels_note(unmatched: Sequence[str]) -> str | None:
    """The sentence that says which labels were not used (None when all were)."""
    if not unmatched:
        return None
    names = ", ".join(unmatched[:10]) + (f" and {len(unmatched) - 10} more"
                                         if len(unmatched) > 10 else "")
    return (f"The labels name {len(unmatched)} photo(s) that are not in the set, so those "
            f"labels were not used: {names}. Check the file names, or add the photos.")


@dataclass(frozen=True)
class SavedSet:
    info: SampleSetInfo
    problems: list[Problem]
    unmatched_labels: tuple[str, ...] = ()  # names in the labels that match no saved photo

    @property
    def labels_note(self) -> str | None:
        """Which labels were not used, in a sentence (None when all were)."""
        return labels_note(self.unmatched_labels)


# ---- checking an upload ---------------------------------------------------------------------

def _pixels_problem(name: str, data: bytes) -> Problem | None:
    """A photo too large in pixels (decompression bombs included), judged from its header."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        return Problem(name, f"has more than {MAX_PHOTO_PIXELS // 1_000_000} megapixels; "
                             "resize it", unit="item")
    except Exception:  # noqa: BLE001 - not an image: load_uploaded_photos says so
        return None
    if width * height > MAX_PHOTO_PIXELS:
        return Problem(name, f"is {width}×{height} pixels, more than "
                             f"{MAX_PHOTO_PIXELS // 1_000_000} megapixels; resize it",
                       unit="item")
    return None


def _text_file(name: str, data: bytes | str | None, what: str) -> tuple[bytes | str | None,
                                                                         Problem | None]:
    if data is not None and len(data) > MAX_TEXT_FILE_BYTES:
        return None, Problem(name, f"is larger than {MAX_TEXT_FILE_BYTES // 2**20} MB; split "
                                   f"the {what}", unit="item")
    return data, None


def check_upload(photos: Iterable[tuple[str, bytes]] = (), labels: bytes | str | None = None,
                 prompt_files: Iterable[tuple[str, bytes | str]] = (),
                 default_feature: str | None = None, labels_name: str = "labels.yaml",
                 ) -> UploadCheck:
    """What :meth:`SampleStore.save` would keep of an upload, without writing anything.

    ``photos`` are (file name, bytes) of JPEG/PNG files; ``labels`` is YAML in the
    labels.yaml schema keyed by file name; ``prompt_files`` are CSV or YAML prompt sets
    (``default_feature`` for rows that name none). Bad items become problems; the rest stay.
    """
    problems: list[Problem] = []
    kept: list[tuple[str, bytes]] = []
    total = 0
    for n, (name, data) in enumerate(photos, start=1):
        name = Path(str(name)).name or f"photo-{n}"
        data = bytes(data)
        if len(kept) >= MAX_SET_PHOTOS:
            problems.append(Problem(name, f"not saved: a set holds at most {MAX_SET_PHOTOS} "
                                          "photos", unit="item"))
            continue
        if len(data) > MAX_PHOTO_BYTES:
            problems.append(Problem(name, f"is larger than {MAX_PHOTO_BYTES // 2**20} MB",
                                    unit="item"))
            continue
        if total + len(data) > MAX_SET_BYTES:
            problems.append(Problem(name, f"not saved: the set's photos would pass "
                                          f"{MAX_SET_BYTES // 2**20} MB", unit="item"))
            continue
        too_big = _pixels_problem(name, data)
        if too_big is not None:
            problems.append(too_big)
            continue
        total += len(data)
        kept.append((name, data))
    labels, problem = _text_file(labels_name, labels, "labels")
    if problem:
        problems.append(problem)
    good_photos, found, unmatched = match_uploaded_photos(kept, labels, labels_name)
    problems += found
    photo_ids = {p.id for p in good_photos}
    prompts: list[Prompt] = []
    first_in: dict[str, str] = {}
    for raw_name, raw in prompt_files:
        name = Path(str(raw_name)).name or "prompts"
        text, problem = _text_file(name, raw, "prompt set")
        if problem or text is None:
            problems.append(problem or Problem(name, "is empty", unit="item"))
            continue
        loaded, found = load_prompt_upload(name, text, default_feature)
        problems += found
        for q in loaded:
            if q.id in first_in:
                problems.append(Problem(name, f"prompt id '{q.id}' is also in "
                                              f"{first_in[q.id]}; give it another id",
                                        unit="item"))
                continue
            if q.photo and q.photo not in photo_ids:
                problems.append(Problem(name, f"prompt '{q.id}' names photo '{q.photo}', "
                                              "which is not in this upload", unit="item"))
                continue
            if len(prompts) >= MAX_SET_PROMPTS:
                problems.append(Problem(name, f"prompt '{q.id}' not saved: a set holds at "
                                              f"most {MAX_SET_PROMPTS} prompts", unit="item"))
                continue
            first_in[q.id] = name
            prompts.append(q)
    good_photos, prompts = _clear_of_bundled(good_photos, prompts, first_in, problems)
    return UploadCheck(good_photos, prompts, problems, tuple(unmatched))


def _free_id(base: str, taken: set[str]) -> str:
    stem, k = base[:76], 2
    while f"{stem}-{k}" in taken:
        k += 1
    return f"{stem}-{k}"


def _clear_of_bundled(photos: list[SamplePhoto], prompts: list[Prompt],
                      files: dict[str, str], problems: list[Problem]) -> tuple[list[SamplePhoto], list[Prompt]]:
    """Rename uploaded photos and prompts whose id a bundled one already has: specs merge
    uploads into the bundled samples, where the bundled item would win (``coffee.jpg`` is a
    common name). Prompts follow their photo's new id."""
    bundled = bundled_samples()
    taken = {p.id for p in bundled.photos} | {p.id for p in photos}
    renamed: dict[str, str] = {}
    out_photos = []
    for p in photos:
        if bundled.photo(p.id) is not None:
            new = _free_id(p.id, taken)
            taken.add(new)
            renamed[p.id] = new
            problems.append(Problem(p.name, f"saved with id '{new}': '{p.id}' is a bundled "
                                            "sample photo's id", unit="item", level="warning"))
            p = p.model_copy(update={"id": new})
        out_photos.append(p)
    taken = {q.id for q in bundled.prompts} | {q.id for q in prompts}
    out_prompts = []
    for q in prompts:
        update: dict[str, Any] = {}
        if q.photo in renamed:
            update["photo"] = renamed[q.photo]
        if bundled.prompt(q.id) is not None:
            update["id"] = _free_id(q.id, taken)
            taken.add(update["id"])
            problems.append(Problem(files.get(q.id, "prompts"), f"prompt '{q.id}' saved with id "
                                               f"'{update['id']}': a bundled prompt has its id",
                                    unit="item", level="warning"))
        out_prompts.append(q.model_copy(update=update) if update else q)
    return out_photos, out_prompts


# ---- the on-disk layout ---------------------------------------------------------------------

def _labels_doc(photos: Sequence[SamplePhoto], files: dict[str, str]) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for p in photos:
        entry: dict[str, Any] = {"id": p.id}
        if p.title:
            entry["title"] = p.title
        entry["tags"] = p.tag_names
        if p.synonyms():
            entry["synonyms"] = p.synonyms()
        if p.description:
            entry["description"] = p.description
        entry["safety"] = list(p.safety)
        if p.source:
            entry["source"] = p.source
        if p.licence:
            entry["licence"] = p.licence
        entry["uploaded_as"] = p.name  # the file name the user chose (ignored on load)
        entries[files[p.id]] = entry
    return {"version": 1, "photos": entries}


def _prompts_doc(prompts: Sequence[Prompt]) -> dict[str, Any]:
    features: dict[str, Any] = {}
    for q in prompts:
        item: dict[str, Any] = {"id": q.id, "prompt": q.text}
        if q.reference:
            item["reference"] = q.reference
        if q.photo:
            item["photo"] = q.photo
        if q.assertions:
            item["assertions"] = [a.as_dict() for a in q.assertions]
        features.setdefault(q.feature, {"prompts": []})["prompts"].append(item)
    return {"version": 1, "features": features}


def _write(path: Path, data: bytes) -> None:
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _yaml_bytes(doc: Any) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=96).encode("utf-8")


def _set_id(name: str) -> str:
    base = re.sub(r"[^a-z0-9\-]+", "-", slug_id(name)).strip("-")[:40].strip("-") or "set"
    return f"{base}-{secrets.token_hex(3)}"


def _clean_name(name: str) -> str:
    text = " ".join(str(name or "").split())
    if not text:
        raise SampleStoreError("Give the sample set a name")
    if len(text) > MAX_NAME_CHARS:
        raise SampleStoreError(f"The name is too long (at most {MAX_NAME_CHARS} characters)")
    return text


class SampleStore:
    """Saved sample sets of every organization under one root folder, each org in its own
    subfolder; every method takes the organization and never reaches outside its folder."""

    def __init__(self, root: Path | None = None) -> None:
        if root is None:
            from core.settings import get_settings

            root = get_settings().sample_sets_path
        self.root = Path(root)

    # -- paths ------------------------------------------------------------------------------
    def _org_dir(self, org_id: str) -> Path:
        try:
            check_org_id(org_id)
        except ValueError as exc:
            raise SampleStoreError(str(exc)) from None
        return self.root / org_id

    def _set_dir(self, org_id: str, set_id: str) -> Path:
        """The folder of ``set_id`` in ``org_id``'s folder; an id that is not an id (dots,
        slashes, anything a path could be built from) is simply not a set."""
        org_dir = self._org_dir(org_id)
        if not isinstance(set_id, str) or not SAMPLE_SET_ID_RE.fullmatch(set_id):
            raise UnknownSampleSet(f"'{set_id}' is not a sample set id")
        folder = org_dir / set_id
        # Defence in depth: a symlink planted in the org folder must not lead elsewhere.
        if folder.is_symlink() or (folder.exists()
                                   and folder.resolve().parent != org_dir.resolve()):
            raise UnknownSampleSet(f"no sample set '{set_id}' in organization {org_id}")
        return folder

    # -- reading ----------------------------------------------------------------------------
    def list(self, org_id: str) -> list[SampleSetInfo]:
        """The organization's sets, newest first (temporary and unreadable folders skipped)."""
        org_dir = self._org_dir(org_id)
        if not org_dir.is_dir():
            return []
        out = []
        for child in org_dir.iterdir():
            if child.name.startswith(".") or not SAMPLE_SET_ID_RE.fullmatch(child.name):
                continue
            info = self._read_info(org_id, child)
            if info is not None:
                out.append(info)
        out.sort(key=lambda i: (i.created_at, i.id), reverse=True)
        return out

    def _read_info(self, org_id: str, folder: Path) -> SampleSetInfo | None:
        try:
            info = SampleSetInfo.model_validate_json((folder / "set.json").read_bytes())
        except (OSError, ValueError) as exc:
            log.warning("sample set %s cannot be read: %s", folder, exc)
            return None
        if info.org_id != org_id or info.id != folder.name:
            log.warning("sample set %s belongs elsewhere (%s/%s)", folder, info.org_id, info.id)
            return None
        return info

    def get(self, org_id: str, set_id: str) -> SampleSetInfo:
        folder = self._set_dir(org_id, set_id)
        info = self._read_info(org_id, folder) if folder.is_dir() else None
        if info is None:
            raise UnknownSampleSet(f"no sample set '{set_id}' in organization {org_id}")
        return info

    def load(self, org_id: str, set_id: str) -> SampleSet:
        """The set's photos (read from disk when sent) and prompts."""
        self.get(org_id, set_id)
        samples, problems = load_sample_set(self._set_dir(org_id, set_id))
        errors = [p for p in problems if p.level == "error"]
        if errors:
            raise SampleStoreError(f"sample set '{set_id}' is damaged on disk", errors)
        return samples

    # -- writing ----------------------------------------------------------------------------
    def save(self, org_id: str, name: str, *, photos: Iterable[tuple[str, bytes]] = (),
             labels: bytes | str | None = None,
             prompt_files: Iterable[tuple[str, bytes | str]] = (), actor: str = "",
             default_feature: str | None = None) -> SavedSet:
        """Save an upload as a new set; bad items are skipped and reported, good ones kept."""
        org_dir = self._org_dir(org_id)
        name = _clean_name(name)
        existing = self.list(org_id)
        if any(i.name.lower() == name.lower() for i in existing):
            raise SampleStoreError(f"A sample set named '{name}' already exists; choose "
                                   "another name or delete that set first")
        if len(existing) >= MAX_SETS_PER_ORG:
            raise SampleStoreError(f"This organization has {len(existing)} sample sets, the "
                                   f"most it can keep; delete one first")
        check = check_upload(photos, labels, prompt_files, default_feature)
        if check.empty:
            raise SampleStoreError("Nothing to save: no photo or prompt in the upload could be "
                                   "used", check.problems)
        set_id = _set_id(name)
        files = {p.id: f"photos/{p.id}{_EXT.get(p.mime, '.jpg')}" for p in check.photos}
        info = SampleSetInfo(
            id=set_id, org_id=org_id, name=name, photos=len(check.photos),
            labelled_photos=sum(p.labelled for p in check.photos), prompts=len(check.prompts),
            features=tuple(dict.fromkeys(q.feature for q in check.prompts)),
            size_bytes=sum(len(p.read_bytes()) for p in check.photos),
            created_at=datetime.now(UTC), created_by=actor)
        org_dir.mkdir(parents=True, exist_ok=True)
        self._sweep(org_dir)
        tmp = org_dir / f"{_TMP_PREFIX}{set_id}-{secrets.token_hex(4)}"
        try:
            tmp.mkdir()
            if check.photos:
                (tmp / "photos").mkdir()
                for p in check.photos:
                    _write(tmp / files[p.id], p.read_bytes())
                _write(tmp / "labels.yaml", _yaml_bytes(_labels_doc(check.photos, files)))
            if check.prompts:
                _write(tmp / "prompts.yaml", _yaml_bytes(_prompts_doc(check.prompts)))
            _write(tmp / "set.json", info.model_dump_json(indent=2).encode())
            fsync_dir(tmp)
            os.rename(tmp, org_dir / set_id)  # atomic: the set appears whole or not at all
            fsync_dir(org_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return SavedSet(info, check.problems, check.unmatched_labels)

    def delete(self, org_id: str, set_id: str) -> SampleSetInfo:
        """Remove a set (renamed away first, so a half-deleted set is never listed).
        Past runs that named it can no longer be resumed or reopened with its items."""
        info = self.get(org_id, set_id)
        folder = self._set_dir(org_id, set_id)
        trash = folder.with_name(f"{_TRASH_PREFIX}{set_id}-{secrets.token_hex(4)}")
        try:
            os.rename(folder, trash)
        except FileNotFoundError:  # deleted a moment ago by someone else
            raise UnknownSampleSet(f"no sample set '{set_id}' in organization {org_id}"
                                   ) from None
        shutil.rmtree(trash, ignore_errors=True)
        return info

    @staticmethod
    def _sweep(org_dir: Path) -> None:
        """Remove what saves and deletes that died left behind."""
        now = time.time()
        for child in org_dir.iterdir():
            if not child.name.startswith((_TMP_PREFIX, _TRASH_PREFIX)):
                continue
            try:
                old = now - child.stat().st_mtime > STALE_TEMP_S
            except OSError:
                continue
            if old or child.name.startswith(_TRASH_PREFIX):
                shutil.rmtree(child, ignore_errors=True)


# ---- what a spec runs on ----------------------------------------------------------------------

def resolve_samples(spec: ComparisonSpec, org_id: str, *, store: SampleStore | None = None,
                    allow_folders: bool = False, base_dir: Path | None = None,
                    ) -> tuple[SampleSet, list[Problem]]:
    """What ``spec`` runs on; see :func:`resolve_sources` (with its samples and bundled)."""
    return resolve_sources(spec.samples, org_id, bundled=spec.bundled, store=store,
                           allow_folders=allow_folders, base_dir=base_dir)


def resolve_sources(entries: Sequence[str], org_id: str, *, bundled: bool = True,
                    store: SampleStore | None = None, allow_folders: bool = False,
                    base_dir: Path | None = None) -> tuple[SampleSet, list[Problem]]:
    """Photos and prompts from the bundled samples (unless ``bundled`` is false) merged with
    each of ``entries`` (a spec's ``samples``) in order — the organization's
    uploaded sets by id, and folders in the data/samples layout when ``allow_folders``
    (headless runs: a folder is read from the server's disk, which a page user must not
    choose). Relative folders resolve against ``base_dir`` (default: the working folder).

    Returns the samples and the problems met (ids taken by an earlier source are skipped and
    reported). A set that is gone, a missing folder or a folder where none is allowed raise
    :class:`SpecError`. Starting, resuming and reopening a run all call this, so they see
    the same items.
    """
    problems: list[Problem] = []
    errors: list[str] = []
    result: SampleSet | None = bundled_samples() if bundled else None
    for entry in entries:
        source = entry
        if is_folder_ref(entry):
            if not allow_folders:
                errors.append(f"samples: '{entry}' is a folder; only headless runs "
                              "(switchyard compare) read folders — upload it as a sample set")
                continue
            folder = Path(entry).expanduser()
            if not folder.is_absolute():
                folder = (base_dir or Path.cwd()) / folder
            if not folder.is_dir():
                errors.append(f"samples: there is no folder {folder}")
                continue
            loaded, found = load_sample_set(folder)
            problems += [Problem(f"{entry}/{p.source}", p.message, p.row, p.unit, p.level)
                         for p in found]
            if not loaded.photos and not loaded.prompts:
                errors.append(f"samples: {folder} has no usable photos or prompts (it needs "
                              "labels.yaml with photos/ and/or prompts.yaml)")
                continue
        else:
            store = store or SampleStore()
            try:
                loaded = store.load(org_id, entry)
            except UnknownSampleSet:
                errors.append(f"samples: there is no sample set '{entry}' in this "
                              "organization (it may have been deleted)")
                continue
            except SampleStoreError as exc:
                errors.append(f"samples: {exc}: " + "; ".join(str(p) for p in exc.problems))
                continue
            source = f"sample set {entry}"
        if result is None:
            result = loaded
            continue
        result, clashes = result.merged(loaded.photos, loaded.prompts, source=source)
        problems += clashes
    if errors:
        raise SpecError(errors)
    if result is None:
        raise SpecError(["samples: with the bundled samples left out, name at least one "
                         "sample set"])
    return result, problems
