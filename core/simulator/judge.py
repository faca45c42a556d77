"""Judge mode: a simulated model asked to grade an answer grades it for real.

A comparison with an LLM judge sends the judge a prompt built by
``core.compare.scoring.build_judge_prompt``: an "You are an impartial evaluator" header,
RUBRIC / QUESTION / REFERENCE ANSWER sections, the answer fenced between ``<<<`` and ``>>>``
and a request for ``{"score": 0-10, "reason": "..."}``. Answering such a prompt like any
other known prompt (with the question's reference) would make every judged answer look
right, so the simulator recognises the template by its text (it imports nothing outside
``core.simulator``, as a real provider would not) and compares the fenced answer with the
reference: a word-overlap F1 and an in-order match of the words, averaged. A judge's profile
sets how sharp it is: ``reference_agreement`` (how good the model is) shrinks its scores
towards the middle less and adds less noise. Randomness comes from the caller's seeded
generator, so judging is as reproducible as every other simulated answer.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher

_HEADER_RE = re.compile(r"^\s*You are an impartial evaluator\b", re.IGNORECASE)
# The fenced answer opens on its own "ANSWER:" line ("REFERENCE ANSWER:" does not match)
_ANSWER_OPEN_RE = re.compile(r"(?:^|\n)[ \t]*ANSWER:[ \t]*\r?\n[ \t]*<<<[ \t]*(?:\r?\n)?")
_ANSWER_CLOSE = ">>>"
_SECTION_RE = re.compile(r"(?im)^[ \t]*(RUBRIC|QUESTION|REFERENCE ANSWER):[ \t]*$")


@dataclass(frozen=True)
class JudgeRequest:
    """The parts of a judge prompt (empty strings for absent sections)."""

    answer: str
    reference: str = ""
    question: str = ""
    rubric: str = ""


def parse_judge_request(prompt: str | None) -> JudgeRequest | None:
    """The judge request in ``prompt``, or None when it is not one.

    A judge prompt starts with the evaluator header and holds a fenced ANSWER block. The
    answer is what a model wrote and may contain anything, so it runs from the opening
    fence to the LAST closing fence; the sections before it come from the spec and samples.
    """
    text = prompt or ""
    if not _HEADER_RE.match(text):
        return None
    opening = _ANSWER_OPEN_RE.search(text)
    if opening is None:
        return None
    close = text.rfind(_ANSWER_CLOSE)
    if close < opening.end():
        return None
    answer = text[opening.end():close].strip()
    head = text[:opening.start()]
    sections: dict[str, str] = {}
    pieces = _SECTION_RE.split(head)
    for name, body in zip(pieces[1::2], pieces[2::2], strict=False):
        sections[name.upper()] = body.strip()
    return JudgeRequest(answer, sections.get("REFERENCE ANSWER", ""),
                        sections.get("QUESTION", ""), sections.get("RUBRIC", ""))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", unicodedata.normalize("NFKC", text or "").casefold())


def similarity(answer: str, reference: str) -> float:
    """0-1 agreement of two texts: the mean of the word-bag F1 and the in-order match ratio.

    On words, not characters, so "SAFE" and "UNSAFE" do not agree at all."""
    a, r = _words(answer), _words(reference)
    if not a and not r:
        return 1.0
    if not a or not r:
        return 0.0
    overlap = sum((Counter(a) & Counter(r)).values())
    f1 = 2 * overlap / (len(a) + len(r))
    order = SequenceMatcher(None, r, a, autojunk=False).ratio()
    return (f1 + order) / 2


def _relevance(answer: str, question: str) -> float:
    """Without a reference: the share of the question's longer words the answer takes up."""
    topics = {w for w in _words(question) if len(w) > 3}
    if not topics:
        return 0.5
    return len(topics & set(_words(answer))) / len(topics)


def judge_reply(request: JudgeRequest, sharpness: float, rng: random.Random,
                known_reference: str | None = None) -> str:
    """The judge's JSON reply: ``{"score": 0-10, "reason": one sentence}``.

    ``sharpness`` is the judge's quality (0-1, the profile's ``reference_agreement``): the
    raw 0-10 agreement is shrunk towards 5 by up to half for a poor judge and gets Gaussian
    noise of ``2.5 · (1 - sharpness)`` points (capped at two deviations). Without a
    reference in the prompt, the one the simulator knows for the question is used, else the
    answer is graded on how much of the question it addresses.
    """
    sharp = min(max(float(sharpness), 0.0), 1.0)
    reference = request.reference or (known_reference or "")
    if not request.answer.strip():
        raw, basis = 0.0, "empty"
    elif reference:
        raw, basis = similarity(request.answer, reference), "reference"
    else:
        raw, basis = _relevance(request.answer, request.question), "question"
    sd = 2.5 * (1.0 - sharp)
    noise = max(-2 * sd, min(2 * sd, rng.gauss(0.0, sd))) if sd > 0 else 0.0
    points = 5.0 + (10.0 * raw - 5.0) * (0.5 + 0.5 * sharp) + noise
    score = 0 if basis == "empty" else int(min(10, max(0, round(points))))
    pct = round(100 * raw)
    if basis == "empty":
        reason = "The answer is empty."
    elif basis == "question":
        reason = (f"There is no reference answer; the answer addresses about {pct}% of what "
                  "the question asks about.")
    elif score >= 8:
        reason = f"The answer agrees with the reference answer ({pct}% match)."
    elif score >= 4:
        reason = (f"The answer only partly agrees with the reference answer ({pct}% match) "
                  "and misses or changes details.")
    else:
        reason = f"The answer does not agree with the reference answer ({pct}% match)."
    return json.dumps({"score": score, "reason": reason})
