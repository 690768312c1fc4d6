"""Load time of each public checkpoint layout, at the project's own input size.

For every layout a checkpoint is written the way its project writes it (random weights, from
the reference architectures in tests/detectors/reference_nets.py), then timed: reading the
file (safetensors or torch.load(weights_only=True)), building the architecture, loading the
state dict strictly; and one forward pass of a batch of 2 at the layout's input size. Ratios
are against the plain torch.load + load_state_dict of the same file into the reference model.

    cd benchmarks && ../.venv/bin/python public_checkpoints.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dfbench  # noqa: E402
from dfbench.detectors.public import LAYOUTS  # noqa: E402
from dfbench.detectors.public.layout import read_checkpoint  # noqa: E402
from tests.detectors import reference_nets as ref  # noqa: E402
from tests.detectors.test_public import CASES, _save  # noqa: E402


def main() -> None:
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'layout':30s} {'file MB':>8s} {'load s':>7s} {'vs torch.load':>13s} {'forward 2 s':>11s}")
        for name in sorted(LAYOUTS):
            build, suffix = CASES[name]
            model = ref.randomize(build())
            path = _save(model, name, Path(tmp) / f"{name}{suffix}")
            start = time.perf_counter()
            det = dfbench.load_detector(name, weights=path)
            ours = time.perf_counter() - start
            start = time.perf_counter()
            raw = read_checkpoint(path)
            state = raw.get("model", raw.get("state_dict", raw)) if isinstance(raw, dict) else raw
            fresh = build()
            fresh.load_state_dict({k.removeprefix("module."): v for k, v in state.items()}, strict=True)
            baseline = time.perf_counter() - start
            size = LAYOUTS[name].input_size
            x = torch.rand(2, 3, size, size)
            start = time.perf_counter()
            with torch.no_grad():
                det(x)
            forward = time.perf_counter() - start
            print(f"{name:30s} {path.stat().st_size / 2**20:8.1f} {ours:7.2f} {ours / baseline:12.2f}x {forward:11.2f}")


if __name__ == "__main__":
    main()
