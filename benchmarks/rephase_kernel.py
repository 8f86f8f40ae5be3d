"""Benchmark: the block kernels of ``converter.rephase`` on one block, one thread.

A block of the correlator's layout (16 subbands of 48 channels in chunks of 128 rows ×
12 channels × 1 polarisation, 2 polarisations, channels stored descending, 6,912 rows:
one block of a full dump) is built in memory, and the re-phasing kernel (DATA) and the
gathering kernel (FLAG, the path taken when some flags are set) fill it again and again.
With ``--against DIR`` (another checkout, e.g. ``git worktree add /tmp/before HEAD~1``)
the same block is filled by that checkout's kernels too, alternately, and their results
must be identical. The machine is shared, so the report gives min, median and max of
``--rounds`` alternating rounds; compare ratios from one run, not figures across runs.

    .venv/bin/python benchmarks/rephase_kernel.py [--against /tmp/before] [--rounds 10]

Results: the docstring of ``converter/rephase.py`` and docs/converter.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ROWS, SUBBANDS, CHANNELS, POLS = 6912, 16, 48, 2
CHUNK = (128, 12, 1)
WIDTH_HZ = 244140.625


def load_rephase(checkout: Path, name: str) -> ModuleType:
    """``converter/rephase.py`` of ``checkout`` as a module of its own."""
    spec = importlib.util.spec_from_file_location(name, checkout / "converter" / "rephase.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no converter/rephase.py under {checkout}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def block_inputs(rephase: ModuleType) -> dict[str, Any]:
    """One block's sources (chunks in storage order), phasor inputs and output buffers."""
    from converter.reader import BlockSource, ChunkGrid

    rows, chans, pols = CHUNK
    grid = ChunkGrid(chunk=CHUNK, grid=(ROWS // rows, CHANNELS // chans, POLS // pols))
    n_chunks = grid.grid[0] * grid.chunks_per_row_chunk
    offsets = np.arange(n_chunks, dtype=np.int64) * grid.chunk_elements
    rng = np.random.default_rng(1)
    size = n_chunks * grid.chunk_elements
    values = [
        (rng.standard_normal(size) + 1j * rng.standard_normal(size)).astype(np.complex64)
        for _ in range(SUBBANDS)
    ]

    def batch(per_subband: list[np.ndarray]) -> Any:
        sources = [BlockSource(v, offsets, 0, grid) for v in per_subband]
        firsts = [CHANNELS * (SUBBANDS - 1 - s) for s in range(SUBBANDS)]
        return rephase.Batch.of(sources, firsts, [True] * SUBBANDS, CHANNELS, (0, 1)).at(0)

    shape = (ROWS, SUBBANDS * CHANNELS, POLS)
    return {
        "data": batch(values),
        "flags": batch([v.real > 1.5 for v in values]),
        "lowest": 1.311e9 + WIDTH_HZ * CHANNELS * np.arange(SUBBANDS),
        "k": rng.uniform(-2e-6, 2e-6, ROWS),
        "data_out": np.zeros(shape, np.complex64),
        "flags_out": np.zeros(shape, bool),
    }


def kernels(rephase: ModuleType, inputs: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """The two kernels on the block; each call returns its output buffer."""

    def data() -> Any:
        rephase.rephase_into(
            inputs["data"], inputs["lowest"], inputs["k"], WIDTH_HZ, inputs["data_out"], ROWS
        )
        return inputs["data_out"]

    def flags() -> Any:
        rephase.gather_into(inputs["flags"], inputs["flags_out"], ROWS)
        return inputs["flags_out"]

    return {"DATA (re-phase)": data, "FLAG (gather)": flags}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    sides = {"this checkout": load_rephase(ROOT, "rephase_here")}
    if args.against:
        sides[f"{args.against}"] = load_rephase(args.against.resolve(), "rephase_against")
    runs = {}
    for label, module in sides.items():
        module.load_kernels()
        runs[label] = kernels(module, block_inputs(module))
    first = next(iter(runs.values()))
    for name in first:  # every side fills the block alike (and is compiled before timing)
        expected = first[name]().copy()
        for label, side in runs.items():
            if not np.array_equal(side[name](), expected):
                raise SystemExit(f"{name}: {label} fills the block differently")
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for label, side in runs.items():
            for name, kernel in side.items():
                start = time.perf_counter()
                kernel()
                times.setdefault((name, label), []).append(time.perf_counter() - start)
    visibilities = ROWS * SUBBANDS * CHANNELS * POLS
    print(f"one block: {ROWS} rows × {SUBBANDS * CHANNELS} channels × {POLS} pols, one thread")
    for (name, label), seconds in times.items():
        median = statistics.median(seconds)
        print(
            f"{name:16s} {label:24s} s/block min {min(seconds):.4f} median {median:.4f} "
            f"max {max(seconds):.4f}   ns/visibility (median) {median / visibilities * 1e9:.2f}"
        )


if __name__ == "__main__":
    main()
