"""Benchmark: the converter against the pyuvdata reference path and the disk floor.

One full-size dump (117 antennas, 24 integrations, 16 × 48 channels, 2 pols, ~3.4 GB)
is simulated into a work directory (not the repository) and then converted
alternately by ``converter.convert_group`` ("ours") and by
``converter.reference.convert_with_pyuvdata`` ("reference"), each run in its own child
process from a cold page cache (``echo 3 > /proc/sys/vm/drop_caches``, or
``posix_fadvise(DONTNEED)`` on every input where /proc is read-only), default options,
both fsyncing their output. The disk floor is measured the same way: read every input
cold, then write and fsync as many bytes as our MS holds, one after the other. Every
timed part starts right after its own cache drop (the children drop again once their
imports are done), with memory in the state ``--memory`` names, alike on every side:
``backed`` (default) reads the inputs once through a buffer before the drop, so the
memory the page cache is about to use has been touched, as on hardware that keeps its
memory; ``reclaimed`` only drops; ``kept`` is ``backed`` with the machine's free page
reporting paused for the whole run and its free memory touched once first, so that no
memory goes back to the host at all. They differ on a virtual machine that hands free
memory back to its host (virtio-balloon free page reporting, stated in the report):
memory taken back costs ~1.7 µs of CPU per 4 KB page at its first touch, and freed
memory goes back within ~2 s, so ``backed`` keeps only some of it. ``kept`` behaves as
hardware does (needs root; the reporting order is restored afterwards).

Reported per run: the wall time of the conversion call (what the ratios use; Python
start-up and imports are reported separately as process wall), the child's peak RSS and
CPU seconds (``wait4``), our per-stage times, and the load average. The machine is
shared, so runs alternate and the table shows medians and every run.

    .venv/bin/python benchmarks/converter_vs_reference.py --workdir /tmp/dsa110-bench \\
        > /tmp/dsa110-bench.log 2>&1 &

``--docs docs/converter.md`` writes the results between the BENCHMARK markers there
(``--section NAME``: between the BENCHMARK-NAME markers).

``--read-limit MBPS`` emulates a slower disk than this machine's: the benchmark and
every child join a cgroup (v1 ``blkio``, needs root) that caps reads from the work
directory's disk at MBPS × 10⁶ bytes/s, for ours, the reference and the floor alike
(writes are not capped: cgroup v1 does not throttle buffered write-back).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BLKIO = Path("/sys/fs/cgroup/blkio")
READ_BUFFER = 16 * 2**20
#: Linux reads at most max(read_ahead_kb, max_sectors_kb) per WILLNEED call (the rest
#: of a larger range is silently ignored), so the ``advised`` floor asks in steps.
ADVICE_STEP_BYTES = 4 * 2**20
#: Our stages in pipeline order (converter.convert); read/rephase/write overlap.
STAGE_ORDER = (
    "inspect",
    "validate",
    "geometry",
    "create",
    "wait_read",
    "read_rephase",
    "wait_write",
    "write",
    "writeback",
    "flush",
    "publish",
    "total",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dsa110-bench"))
    parser.add_argument("--rounds", type=int, default=2, help="ours/reference/floor rounds")
    parser.add_argument("--antennas", type=int, default=117)
    parser.add_argument("--docs", type=Path, default=None, help="markdown file to update")
    parser.add_argument("--section", default="", help="docs section: BENCHMARK-<SECTION> markers")
    parser.add_argument(
        "--read-limit",
        type=float,
        default=None,
        metavar="MBPS",
        help="cap reads from the work directory's disk (emulate a slower disk; root)",
    )
    parser.add_argument(
        "--memory",
        choices=MEMORY_STATES,
        default="backed",
        help="memory before each timed part: inputs touched then dropped (backed), dropped "
        "only (reclaimed: on a VM, free memory goes back to the host), or backed with the "
        "VM's free page reporting paused for the run (kept: as on hardware; root)",
    )
    parser.add_argument("--child", choices=["ours", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return run_child(args.child, args.files, args.output, args.memory)
    if args.read_limit is None:
        return run_benchmark(args)
    args.workdir.mkdir(parents=True, exist_ok=True)
    with read_limit(args.workdir, int(args.read_limit * 1e6)):
        return run_benchmark(args)


@contextlib.contextmanager
def read_limit(path: Path, bytes_per_s: int) -> Iterator[None]:
    """Cap reads from the disk holding ``path`` for this process and its future children.

    A cgroup v1 ``blkio`` throttle (the kernel's own I/O limiter): the only way to
    measure the converter on a disk as slow as the issue's reference machine here.
    """
    if not (BLKIO / "blkio.throttle.read_bps_device").exists():
        raise SystemExit(f"--read-limit needs a writable cgroup v1 blkio hierarchy at {BLKIO}")
    device = disk_device(path)
    group = BLKIO / f"dsa110-bench-{os.getpid()}"
    group.mkdir()
    try:
        (group / "blkio.throttle.read_bps_device").write_text(f"{device} {bytes_per_s}\n")
        (group / "cgroup.procs").write_text(f"{os.getpid()}\n")
        print(f"reads from disk {device} capped at {bytes_per_s / 1e6:.0f} MB/s", flush=True)
        yield
    finally:
        (BLKIO / "cgroup.procs").write_text(f"{os.getpid()}\n")
        group.rmdir()


def disk_device(path: Path) -> str:
    """``major:minor`` of the whole disk under ``path`` (throttles apply to disks)."""
    dev = path.stat().st_dev
    sysfs = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if (sysfs / "partition").exists():
        return (sysfs.resolve().parent / "dev").read_text().strip()
    return f"{os.major(dev)}:{os.minor(dev)}"


# --------------------------------------------------------------------------- child side


def run_child(kind: str, files: list[Path], output: Path, memory: str) -> int:
    """Convert once and print one JSON line: call wall time, stages, MS size."""
    if kind == "ours":
        from converter import ConversionOptions, convert_group
        from dsa110_stream.casa_env import build_tables_without_locks

        build_tables_without_locks()  # as in the CLI's and the consumer's workers
        cold_cache(files, memory)
        start = time.perf_counter()
        result = convert_group(files, output, ConversionOptions(force=True))
        wall = time.perf_counter() - start
        record = {"wall": wall, "stages": result.stage_seconds, "ms_bytes": result.ms_bytes}
    else:
        import warnings

        from converter.reference import convert_with_pyuvdata

        warnings.simplefilter("ignore")
        cold_cache(files, memory)
        start = time.perf_counter()
        stages = convert_with_pyuvdata(files, output)
        wall = time.perf_counter() - start
        record = {"wall": wall, "stages": stages, "ms_bytes": tree_bytes(output)}
    print("RESULT " + json.dumps(record), flush=True)
    return 0


# -------------------------------------------------------------------------- parent side


def run_benchmark(args: argparse.Namespace) -> int:
    workdir = args.workdir.resolve()
    files = simulate_dump(workdir, args.antennas)
    input_bytes = sum(f.stat().st_size for f in files)
    print(f"{len(files)} input files, {input_bytes / 1e9:.2f} GB in {workdir}", flush=True)
    warm_up(workdir)
    with memory_kept() if args.memory == "kept" else contextlib.nullcontext():
        runs = run_rounds(args, files, workdir)
    summary = summarise(runs, input_bytes)
    summary["read_limit_mb_s"] = args.read_limit
    summary["memory"] = args.memory
    text = render(summary, runs)
    print(text, flush=True)
    (workdir / "results.json").write_text(json.dumps({"summary": summary, "runs": runs}, indent=2))
    if args.docs:
        update_docs(args.docs, text, args.section)
    return 0


def run_rounds(args: argparse.Namespace, files: list[Path], workdir: Path) -> list[dict[str, Any]]:
    """Ours, the reference and the floor, one after the other, ``args.rounds`` times."""
    runs: list[dict[str, Any]] = []
    for round_index in range(args.rounds):
        for kind in ("ours", "reference"):
            run = convert_cold(kind, files, workdir, args.memory)
            run["round"] = round_index
            runs.append(run)
            report_run(run)
        ms_bytes = next(r["ms_bytes"] for r in reversed(runs) if r["kind"] == "ours")
        floor = disk_floor(files, ms_bytes, workdir, args.memory)
        floor["round"] = round_index
        runs.append(floor)
        report_run(floor)
    return runs


def simulate_dump(workdir: Path, antennas: int) -> list[Path]:
    """The full-size dump, simulated once and reused while its truth file says it is whole."""
    incoming = workdir / "incoming"
    truth_path = workdir / "truth.json"
    if truth_path.exists():
        from simulator import load_truth

        truth = load_truth(truth_path)
        files = [truth.dumps[0].files[sb] for sb in sorted(truth.dumps[0].files)]
        if len(files) == 16 and all(f.exists() for f in files):
            return files
    shutil.rmtree(incoming, ignore_errors=True)
    from simulator import SimulationConfig, simulate

    print(f"simulating a {antennas}-antenna dump into {incoming} ...", flush=True)
    start = time.perf_counter()
    result = simulate(incoming, SimulationConfig(n_antennas=antennas), truth_path=truth_path)
    print(f"simulated in {time.perf_counter() - start:.0f} s", flush=True)
    return [result.dumps[0].files[sb] for sb in sorted(result.dumps[0].files)]


def warm_up(workdir: Path) -> None:
    """Convert a tiny dump once so numba's kernel cache exists (compiled once per install)."""
    from simulator import SimulationConfig, simulate

    small = workdir / "warmup"
    shutil.rmtree(small, ignore_errors=True)
    result = simulate(
        small / "incoming", SimulationConfig(n_antennas=4), truth_path=small / "t.json"
    )
    files = [str(p) for p in result.files]
    subprocess.run(
        [sys.executable, __file__, "--child", "ours", "--output", str(small / "w.ms"), *files],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(small, ignore_errors=True)


def convert_cold(kind: str, files: list[Path], workdir: Path, memory: str) -> dict[str, Any]:
    output = workdir / f"{kind}.ms"
    shutil.rmtree(output, ignore_errors=True)
    drop_caches(files)
    load = os.getloadavg()
    command = [sys.executable, __file__, "--child", kind, "--memory", memory]
    command += ["--output", str(output)]
    report = workdir / f"{kind}.out"
    with report.open("w") as sink:
        start = time.perf_counter()
        process = subprocess.Popen([*command, *map(str, files)], stdout=sink)
        # wait4, not wait: the peak RSS of this child alone.
        _, status, usage = os.wait4(process.pid, 0)
        process_wall = time.perf_counter() - start
    stdout = report.read_text()
    run: dict[str, Any] = {
        "kind": kind,
        "load": load,
        "process_wall": process_wall,
        "peak_rss_gb": usage.ru_maxrss * 1024 / 1e9,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "ok": os.waitstatus_to_exitcode(status) == 0,
    }
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            run.update(json.loads(line.removeprefix("RESULT ")))
    shutil.rmtree(output, ignore_errors=True)
    return run


def disk_floor(files: list[Path], ms_bytes: int, workdir: Path, memory: str) -> dict[str, Any]:
    """Cold read of every input, then write and fsync ``ms_bytes``, one after the other.

    The read is timed once per strategy in READ_STRATEGIES (cold each time) and the
    fastest counts, so the floor is the strictest yardstick this disk allows. Also
    timed, not part of the floor: the prefetcher's read while a thread writes and
    fsyncs the same bytes (``together_s``), what the disk allows a conversion that
    overlaps the two perfectly.
    """
    reads = {strategy: cold_read(files, strategy, memory) for strategy in READ_STRATEGIES}
    load = os.getloadavg()
    read_s = min(reads.values())
    target = workdir / "floor.bin"
    mark = time.perf_counter()
    write_and_fsync(target, ms_bytes)
    write_s = time.perf_counter() - mark
    target.unlink()
    together_s = cold_read(
        files, "threads", memory, alongside=functools.partial(write_and_fsync, target, ms_bytes)
    )
    target.unlink()
    return {
        "kind": "floor",
        "load": load,
        "reads": reads,
        "read_s": read_s,
        "write_s": write_s,
        "together_s": together_s,
        "wall": read_s + write_s,
        "ms_bytes": ms_bytes,
    }


def write_and_fsync(target: Path, n_bytes: int) -> None:
    payload = memoryview(os.urandom(READ_BUFFER))
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        written = 0
        while written < n_bytes:
            written += os.write(fd, payload[: min(len(payload), n_bytes - written)])
        os.fsync(fd)
    finally:
        os.close(fd)


#: How the floor reads the inputs: ``plain`` sequential 16 MB reads; ``advised``, the
#: same while a second thread asks the kernel to read each file ahead
#: (``POSIX_FADV_WILLNEED`` in 4 MB steps: many requests in flight); ``threads``, the
#: converter's own :class:`~converter.prefetch.Prefetcher` (two reading threads).
READ_STRATEGIES = ("plain", "advised", "threads")


def cold_read(
    files: list[Path], strategy: str, memory: str, alongside: Callable[[], None] | None = None
) -> float:
    """Seconds to read every input once from a cold page cache; with ``alongside``, run
    on its own thread from the drop on, until both the read and it are done."""
    from converter.prefetch import Prefetcher

    def advise() -> None:
        for path in files:
            fd = os.open(path, os.O_RDONLY)
            try:
                for start in range(0, path.stat().st_size, ADVICE_STEP_BYTES):
                    os.posix_fadvise(fd, start, ADVICE_STEP_BYTES, os.POSIX_FADV_WILLNEED)
            finally:
                os.close(fd)

    cold_cache(files, memory)
    start = time.perf_counter()
    beside = threading.Thread(target=alongside) if alongside is not None else None
    if beside is not None:
        beside.start()
    if strategy == "threads":
        with Prefetcher.whole_files(files) as prefetcher:
            prefetcher.join()
    else:
        if strategy == "advised":
            threading.Thread(target=advise, daemon=True).start()
        read_through(files)
    if beside is not None:
        beside.join()
    return time.perf_counter() - start


def read_through(files: list[Path]) -> None:
    """Read every file once through a 16 MB buffer (the copy touches every page)."""
    buffer = bytearray(READ_BUFFER)
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            while os.readv(fd, [buffer]):
                pass
        finally:
            os.close(fd)


#: Memory states before a timed part (see the module docstring), as the report says them.
MEMORY_STATES = {
    "backed": "memory touched before each drop",
    "reclaimed": "caches dropped only",
    "kept": "free page reporting paused for the run, free memory touched once, and memory "
    "touched before each drop: memory kept, as on hardware",
}


def cold_cache(files: list[Path], memory: str) -> None:
    """Empty the page cache right before a timed part, leaving memory as ``memory`` says.

    ``backed``: the inputs are read once first, so the memory their pages will occupy
    again has just been touched (on hardware memory always is; a virtual machine that
    hands free memory back to its host would otherwise charge the timed part ~1.4 s of
    CPU per 3.45 GB at first touch). ``reclaimed``: only the drop. ``kept``: as
    ``backed``, inside :func:`memory_kept`.
    """
    if memory in ("backed", "kept"):
        read_through(files)
    drop_caches(files)


def together(run: dict[str, Any]) -> str:
    """The floor run's read and write at once, as its report says it (if measured)."""
    return f"; both at once {run['together_s']:.2f}" if "together_s" in run else ""


def floor_reads(run: dict[str, Any]) -> str:
    return ", ".join(f"{name} {seconds:.2f}" for name, seconds in run["reads"].items())


def drop_caches(files: list[Path]) -> None:
    subprocess.run(["sync"], check=True)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        for path in files:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


#: virtio-balloon feature bit: the guest reports free memory to the host, which takes
#: it back; the guest's next first touch of such memory waits for the host.
BALLOON_F_REPORTING = 5
VIRTIO_BALLOON_DEVICE = "0x0005"


def free_page_reporting(devices: Path = Path("/sys/bus/virtio/devices")) -> bool:
    """Whether this (virtual) machine hands free memory back to its host."""
    for device in devices.glob("*"):
        try:
            if (device / "device").read_text().strip() != VIRTIO_BALLOON_DEVICE:
                continue
            features = (device / "features").read_text().strip()
        except OSError:
            continue
        if len(features) > BALLOON_F_REPORTING and features[BALLOON_F_REPORTING] == "1":
            return True
    return False


#: Linux hands the host free blocks of at least 2**order pages; above the largest
#: order (10) it hands over nothing.
PAGE_REPORTING_ORDER = Path("/sys/module/page_reporting/parameters/page_reporting_order")
NO_REPORTING_ORDER = 11
#: Memory left untouched by :func:`touch_free_memory`, so the machine never runs short.
SPARE_MEMORY = 3 * 2**30


@contextlib.contextmanager
def memory_kept(
    parameter: Path = PAGE_REPORTING_ORDER, touch: Callable[[], None] | None = None
) -> Iterator[None]:
    """Pause free page reporting for the run and touch the free memory once first, so
    that the host backs all of it and takes none back: memory as on hardware."""
    try:
        order = parameter.read_text().strip()
        parameter.write_text(f"{NO_REPORTING_ORDER}\n")
    except OSError as exc:
        raise SystemExit(f"--memory kept needs a writable {parameter} (root): {exc}") from exc
    try:
        (touch or touch_free_memory)()
        yield
    finally:
        parameter.write_text(f"{order}\n")


def touch_free_memory() -> None:
    """Write to all available memory but SPARE_MEMORY once, in a child, then free it."""
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    available = next(int(line.split()[1]) * 1024 for line in meminfo if "MemAvailable" in line)
    size = max(0, available - SPARE_MEMORY)
    print(f"touching {size / 2**30:.1f} GiB of free memory once", flush=True)
    subprocess.run(
        [sys.executable, "-c", f"import numpy; numpy.ones({size}, numpy.uint8)"], check=True
    )


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


# ----------------------------------------------------------------------------- report


def report_run(run: dict[str, Any]) -> None:
    load = "/".join(f"{x:.1f}" for x in run["load"])
    if run["kind"] == "floor":
        print(
            f"floor: read {run['read_s']:.2f} s ({floor_reads(run)}) + write "
            f"{run['write_s']:.2f} s = "
            f"{run['wall']:.2f} s{together(run)} (load {load})",
            flush=True,
        )
        return
    if not run.get("ok") or "wall" not in run:
        print(f"{run['kind']}: FAILED (peak RSS {run['peak_rss_gb']:.2f} GB)", flush=True)
        return
    print(
        f"{run['kind']}: {run['wall']:.2f} s (process {run['process_wall']:.2f} s), "
        f"CPU {run['cpu_s']:.2f} s, peak RSS {run['peak_rss_gb']:.2f} GB, load {load}",
        flush=True,
    )


def summarise(runs: list[dict[str, Any]], input_bytes: int) -> dict[str, Any]:
    def walls(kind: str) -> list[float]:
        return [r["wall"] for r in runs if r["kind"] == kind and "wall" in r]

    ours, reference, floor = walls("ours"), walls("reference"), walls("floor")
    rss = {
        kind: max(r["peak_rss_gb"] for r in runs if r["kind"] == kind)
        for kind in ("ours", "reference")
    }
    seen = {k for r in runs if r["kind"] == "ours" for k in r.get("stages", {})}
    stage_names = [s for s in STAGE_ORDER if s in seen] + sorted(seen - set(STAGE_ORDER))
    stages = {
        name: statistics.median(
            r["stages"][name] for r in runs if r["kind"] == "ours" and name in r.get("stages", {})
        )
        for name in stage_names
    }
    ref_stage_names = list(
        dict.fromkeys(k for r in runs if r["kind"] == "reference" for k in r.get("stages", {}))
    )
    ref_stages = {
        name: statistics.median(r["stages"][name] for r in runs if r["kind"] == "reference")
        for name in ref_stage_names
    }
    median = {k: statistics.median(v) for k, v in (("ours", ours), ("reference", reference),
                                                   ("floor", floor)) if v}  # fmt: skip
    together_s = [r["together_s"] for r in runs if r["kind"] == "floor" and "together_s" in r]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "memory_gb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9,
        "free_page_reporting": free_page_reporting(),
        "input_gb": input_bytes / 1e9,
        "median_wall": median,
        "ratio_reference": median["ours"] / median["reference"] if reference else None,
        "ratio_floor": median["ours"] / median["floor"] if floor else None,
        "together_s": statistics.median(together_s) if together_s else None,
        "peak_rss_gb": rss,
        "ours_stages": stages,
        "reference_stages": ref_stages,
    }


def render(summary: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    m = summary["median_wall"]
    rss = summary["peak_rss_gb"]
    lines = [
        f"Measured {summary['date']} on {summary['cpus']} CPUs, "
        f"{summary['memory_gb']:.0f} GB RAM (a machine shared with other work: load "
        "averages per run below), input "
        f"{summary['input_gb']:.2f} GB, {len(runs)} runs alternating, cold page cache"
        + (
            " (free memory handed back to the host: virtio-balloon free page reporting)"
            if summary.get("free_page_reporting")
            else ""
        )
        + (
            f"; {MEMORY_STATES[summary['memory']]} (`--memory {summary['memory']}`)"
            if summary.get("memory") in MEMORY_STATES
            else ""
        )
        + (
            f"; reads capped at {summary['read_limit_mb_s']:.0f} MB/s (`--read-limit`)."
            if summary.get("read_limit_mb_s")
            else "."
        ),
        "",
        "| | median wall (s) | peak RSS (GB) | ratio | target |",
        "|---|---:|---:|---:|---:|",
        f"| ours | {m['ours']:.2f} | {rss['ours']:.2f} | | RSS ≤ 2 GB |",
        f"| pyuvdata reference | {m['reference']:.2f} | {rss['reference']:.2f} | "
        f"ours/ref = {summary['ratio_reference']:.3f} | ≤ 0.45 |",
        f"| disk floor | {m['floor']:.2f} | | ours/floor = {summary['ratio_floor']:.3f} | ≤ 1.3 |",
        "",
        *(
            [
                "Not the floor, for reference: the same read and write at once (the "
                "prefetcher reading while a thread writes and fsyncs), what a perfect "
                f"overlap of the two would take: median {summary['together_s']:.2f} s.",
                "",
            ]
            if summary.get("together_s") is not None
            else []
        ),
        "Per-stage seconds, ours (median; read, rephase and write overlap, so they add up "
        "to more than the wall time):",
        "",
        "| stage | s |",
        "|---|---:|",
        *(f"| {name} | {value:.2f} |" for name, value in summary["ours_stages"].items()),
        "",
        "Per-stage seconds, reference (median):",
        "",
        "| stage | s |",
        "|---|---:|",
        *(f"| {name} | {value:.2f} |" for name, value in summary["reference_stages"].items()),
        "",
        "Every run:",
        "",
        "| round | run | wall (s) | process wall (s) | CPU (s) | peak RSS (GB) | load 1/5/15 min |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        load = "/".join(f"{x:.1f}" for x in run["load"])
        if run["kind"] == "floor":
            lines.append(
                f"| {run['round']} | floor: read {run['read_s']:.2f} ({floor_reads(run)}) "
                f"+ write {run['write_s']:.2f}{together(run)} | {run['wall']:.2f} | | | | {load} |"
            )
        else:
            wall = f"{run['wall']:.2f}" if "wall" in run else "failed"
            cpu = f"{run['cpu_s']:.2f}" if "cpu_s" in run else ""
            lines.append(
                f"| {run['round']} | {run['kind']} | {wall} | {run['process_wall']:.2f} | "
                f"{cpu} | {run['peak_rss_gb']:.2f} | {load} |"
            )
    return "\n".join(lines)


def update_docs(path: Path, text: str, section: str = "") -> None:
    name = f"BENCHMARK-{section}" if section else "BENCHMARK"
    start, end = f"<!-- {name}:START -->", f"<!-- {name}:END -->"
    document = path.read_text(encoding="utf-8")
    if start not in document or end not in document:
        raise SystemExit(f"{path} has no {start} ... {end} section")
    head, rest = document.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{text}\n{end}{tail}", encoding="utf-8")
    print(f"updated {path}", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
