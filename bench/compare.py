"""Comparison runner: 4 models × 50 items × 3 iterations against the simulator at 100 ms.

    python bench/compare.py

Same as ``switchyard bench compare``: progress goes to stderr, the result is the last line of
stdout as JSON: calls, wall_s, ideal_s (calls × latency / concurrency), overhead_ratio
(wall_s / ideal_s; target ≤ 1.10) and details.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from core.compare.bench import run_compare_bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--stream", action="store_true",
                        help="streamed answers (measures the simulator's pacing too)")
    parser.add_argument("--in-process", action="store_true",
                        help="serve the simulator from a thread of this process")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    result = run_compare_bench(
        items=args.items, iterations=args.iterations, concurrency=args.concurrency,
        latency_ms=args.latency_ms, stream=args.stream, in_process=args.in_process,
        seed=args.seed, progress=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
