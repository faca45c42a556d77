"""Apply one mutmut mutant to this checkout, run the given tests, put the code back.

The quick loop for writing the test that kills a survivor: ``python mutation/try_mutant.py
NAME tests/unit/test_x.py::test_y`` prints KILLED or SURVIVED. The mutated function is read
from the mutmut run in ``--run-dir`` (default: ``$MUTMUT_RUN_DIR`` or ``.``) with mutmut's
own readers and swapped in for the same function (or method of the same class) in this
checkout with libcst, as ``mutmut apply`` does; the file is restored byte for byte after.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import libcst as cst


def _functions(name: str, run_dir: Path) -> tuple[Path, cst.FunctionDef, cst.FunctionDef]:
    """The source path, the unmutated function and its mutant, as the run stored them."""
    from mutmut.mutation.diff_apply import (
        find_mutant,
        read_functions_from_index,
        read_mutant_function,
        read_mutants_module,
        read_original_function,
    )

    here = Path.cwd()
    os.chdir(run_dir)
    try:
        path = Path(find_mutant(name).path)
        pair = read_functions_from_index(name, path)
        if pair is None:
            module = read_mutants_module(path)
            pair = (read_original_function(module, name), read_mutant_function(module, name))
    finally:
        os.chdir(here)
    return path, pair[0], pair[1]


def _target(module: cst.Module, name: str) -> cst.FunctionDef:
    from mutmut.utils.format_utils import orig_function_and_class_names_from_key

    func, cls = orig_function_and_class_names_from_key(name)
    body = module.body
    if cls is not None:
        owner = next(c for c in body if isinstance(c, cst.ClassDef) and c.name.value == cls)
        assert isinstance(owner.body, cst.IndentedBlock)
        body = owner.body.body
    return next(f for f in body if isinstance(f, cst.FunctionDef) and f.name.value == func)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name")
    parser.add_argument("tests", nargs="+")
    parser.add_argument("--run-dir", type=Path, default=Path(os.environ.get("MUTMUT_RUN_DIR", ".")))
    args = parser.parse_args()
    path, original, mutant = _functions(args.name, args.run_dir.resolve())
    saved = path.read_bytes()
    module = cst.parse_module(saved.decode())
    current = _target(module, args.name)
    if cst.Module([current]).code.strip() != cst.Module([original]).code.strip():
        print(f"{args.name}: the function changed since the mutmut run; run mutmut again", file=sys.stderr)
        return 2
    path.write_text(module.deep_replace(current, mutant).code)  # type: ignore[arg-type]
    try:
        rc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                             *args.tests], capture_output=True, text=True).returncode
    finally:
        path.write_bytes(saved)
    print(f"{args.name}: {'SURVIVED' if rc == 0 else 'KILLED'}" + ("" if rc in (0, 1) else f" (pytest exit {rc})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
