"""How long `callqa --help` (and `callqa calls --help`) take to start, in a fresh process.

    python bench/cli_startup.py [--runs 7] [--json out.json]

Each run is a new `python -c "from api.cli import main; main()" ARGS` (what the
`callqa` script does), timed wall-clock from spawn to exit; the median and the best
are printed. The target is under 1 s: the CLI imports pipeline code (search, analysis,
transcription, the database, Celery) only inside the commands that need it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import json
import os
import platform
import statistics
import subprocess
import time

ROOT = Path(__file__).resolve().parent.parent


def time_run(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from api.cli import main; main()", *args],
                   cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result: dict[str, object] = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
                                 f"load average {os.getloadavg()[0]:.1f} before"}
    for name, argv in (("help", ["--help"]), ("calls_help", ["calls", "--help"])):
        time_run(argv)  # warm the file cache and .pyc files
        times = [time_run(argv) for _ in range(args.runs)]
        result[f"{name}_median_s"] = round(statistics.median(times), 3)
        result[f"{name}_best_s"] = round(min(times), 3)
    result["load_after"] = round(os.getloadavg()[0], 1)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
