"""Start-up time of the quick commands against `python -c "import torch"`, measured in one run.

    python benchmarks/bench_startup.py [--rounds 5]

Prints one line per command (best of N wall-clock seconds) and, last, the ratio of `edvr --help`
to importing torch (the goal: under one third).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time


def best_of(cmd: list[str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    py = sys.executable
    torch_s = best_of([py, "-c", "import torch"], args.rounds)
    print(f"python -c 'import torch'   {torch_s:6.3f} s")
    results = {}
    for words in (["--help"], ["--version"], ["weights", "list"]):
        results[" ".join(words)] = t = best_of([py, "-m", "edvr_cli", *words], args.rounds)
        print(f"edvr {' '.join(words):<21} {t:6.3f} s")
    print(f"start-up: edvr --help {results['--help']:.3f} s, import torch {torch_s:.3f} s, "
          f"ratio {results['--help'] / torch_s:.2f}")


if __name__ == "__main__":
    main()
