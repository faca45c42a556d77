"""Mutation-testing report: the kill rate over the mutants that are not equivalent.

mutmut counts every surviving mutant against the suite, including the ones no test can
kill because they do not change behaviour (an SQL keyword in upper case, a sqlite3.Row key
in another case). Those are reviewed one by one and listed, with the reason, in
``mutation/equivalents/*.toml`` (one file per module); this script subtracts them, and reports an entry as stale
when its mutant no longer exists or no longer changes the line it named (so an edit that
renumbers a function's mutants cannot quietly excuse a different one).

Run from the folder that holds ``mutants/`` (``make mutate`` does):
``python mutation/report.py [--survivors FILE]`` prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections import Counter
from pathlib import Path

from mutmut.__main__ import SourceFileMutationData, status_by_exit_code, walk_mutatable_files
from mutmut.mutation.diff_apply import get_diff_for_mutant

EQUIVALENTS = Path(__file__).with_name("equivalents")


def _changed_line(diff: str) -> str:
    """The mutated line of a one-line mutation, stripped: an entry's fingerprint."""
    added = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    return added[0] if added else ""


def load_equivalents(path: Path = EQUIVALENTS) -> dict[str, tuple[str, str]]:
    """mutant name -> (fingerprint, reason)."""
    out: dict[str, tuple[str, str]] = {}
    for file in sorted(path.glob("*.toml")):
        for group in tomllib.loads(file.read_text()).get("equivalent", []):
            for entry in group["mutants"]:
                name, _, line = entry.partition(" | ")
                out[name.strip()] = (line.strip(), group["why"])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--survivors", type=Path, help="write every unexplained survivor's diff here")
    args = parser.parse_args()
    equivalents = load_equivalents()
    status: dict[str, str] = {}
    paths: dict[str, Path] = {}
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        if not Path("mutants", str(path) + ".meta").exists():
            continue
        data.load()
        for name, code in data.exit_code_by_key.items():
            status[name] = status_by_exit_code[code]
            paths[name] = path
    counts = Counter(status.values())
    stale: list[str] = []
    excused: list[str] = []
    for name, (line, _why) in equivalents.items():
        if name not in status:
            stale.append(f"{name}: no such mutant")
        elif _changed_line(get_diff_for_mutant(name, path=paths[name])) != line:
            stale.append(f"{name}: now mutates a different line")
        elif status[name] == "survived":
            excused.append(name)
    unexplained = sorted(n for n, s in status.items() if s == "survived" and n not in excused)
    if args.survivors:
        with args.survivors.open("w") as fh:
            for name in unexplained:
                fh.write(f"# {name}\n{get_diff_for_mutant(name, path=paths[name])}\n\n")
    killed = counts["killed"] + counts["timeout"]
    tested = killed + counts["survived"]
    judged = tested - len(excused)
    by_module = Counter(n.split(".x")[0] for n in unexplained)
    print(json.dumps({
        "mutants": len(status), "killed": killed, "survived": counts["survived"],
        "not_checked": counts["not checked"], "no_tests": counts["no tests"],
        "equivalent": len(excused), "stale_equivalents": stale,
        "raw_kill_rate": round(killed / tested, 3) if tested else None,
        "kill_rate_non_equivalent": round(killed / judged, 3) if judged else None,
        "unexplained_survivors_by_module": dict(by_module.most_common()),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
