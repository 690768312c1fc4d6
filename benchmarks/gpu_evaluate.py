"""GPU check for "bring your own detector": deepfakebench_xception at 256 px through evaluate()'s
default suite (the standard protocol, standard-v3) on one GPU, with images per second per attack.

The weights are random (nothing is downloaded; a checkpoint in DeepfakeBench's own layout is
written first and loaded through the layout), so the accuracies say nothing; the throughput
and that every cell runs on the GPU do. Expected well under 10 minutes on one modern GPU.

    .venv/bin/python benchmarks/gpu_evaluate.py [--max-samples 160]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dfbench  # noqa: E402
from tests.detectors import reference_nets as ref  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-samples", type=int, default=160)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this check needs a GPU")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "xception.pth"
        torch.save(ref.randomize(ref.deepfakebench_xception()).state_dict(), path)
        start = time.perf_counter()
        detector = dfbench.load_detector("deepfakebench_xception", weights=path)
        print(f"load: {time.perf_counter() - start:.2f} s")
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        results = dfbench.evaluate(detector, image_size=256, max_samples=args.max_samples, device="cuda",
                                   cache_dir=Path(tmp) / "cache")
        wall = time.perf_counter() - start
    records = results.records
    print(f"evaluate(): {len(records)} cells in {wall:.1f} s, peak GPU memory "
          f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB, batch sizes {sorted(set(records.batch_size))}")
    for (attack, norm), group in records.groupby(["attack", "norm"]):
        seconds = group.seconds.sum()
        print(f"  {attack:10s} {norm:4s} {len(group)} eps: {group.n_samples.sum() / seconds:8.1f} images/s crafting")
    print(results.table.to_string())
    print(f"{results.summary.failed} cell(s) failed")
    sys.exit(1 if results.summary.failed else 0)


if __name__ == "__main__":
    main()
