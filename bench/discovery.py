"""Model discovery of every demo provider against the simulator at its normal latency.

    python bench/discovery.py

Same as ``switchyard bench discovery``: progress goes to stderr, the result is the last line
of stdout as JSON: providers, models, cold_s / warm_s (first run: every model new; second:
nothing changed), serial_s (the same providers one after another, the baseline), ratio
(serial_s / warm_s), wall_s (the slower parallel run), target_s (10) and ok.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from core.catalog.bench import run_discovery_bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    result = run_discovery_bench(seed=args.seed,
                                 progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
