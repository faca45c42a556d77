"""Apply one mutmut mutant to this checkout, run the given tests, put the code back.

The quick loop for writing the test that kills a survivor: ``python mutation/try_mutant.py
NAME tests/unit/test_x.py::test_y`` prints KILLED or SURVIVED. The mutant's diff is read
from the mutmut run in ``--run-dir`` (default: ``$MUTMUT_RUN_DIR`` or ``.``) with ``mutmut
show``; GNU patch finds the function wherever it now sits in the file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path


def _diff(name: str, run_dir: Path) -> str:
    mutmut = Path(sys.executable).with_name("mutmut")
    out = subprocess.run([str(mutmut), "show", name], cwd=run_dir, capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("--- "))
    return "\n".join(lines[start:]) + "\n"


def _patch(diff: str, *, reverse: bool) -> None:
    args = ["patch", "-p0", "--silent", "--no-backup-if-mismatch"] + (["-R"] if reverse else [])
    subprocess.run(args, input=diff, text=True, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name")
    parser.add_argument("tests", nargs="+")
    parser.add_argument("--run-dir", type=Path, default=Path(os.environ.get("MUTMUT_RUN_DIR", ".")))
    args = parser.parse_args()
    diff = _diff(args.name, args.run_dir)
    _patch(diff, reverse=False)
    try:
        rc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                             *args.tests], capture_output=True, text=True).returncode
    finally:
        _patch(diff, reverse=True)
    print(f"{args.name}: {'SURVIVED' if rc == 0 else 'KILLED'}" + ("" if rc in (0, 1) else f" (pytest exit {rc})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
