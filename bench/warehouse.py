"""Usage-page queries on the warehouse's rollups vs pandas on the raw events.

    python bench/warehouse.py --events 10000000

Same as ``switchyard bench warehouse``: progress goes to stderr, the result is the last
line of stdout as JSON (events, switchyard_ms, pandas_ms, ratio, ingest_events_per_s).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from core.warehouse.bench import run_warehouse_bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    result = run_warehouse_bench(
        args.events, days=args.days, repeat=args.repeat,
        progress=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
