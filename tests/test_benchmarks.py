"""The converter benchmark's report plumbing (the measurements themselves are a script,
not a test): results land in the right docs section, and a capped disk is labelled."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "converter_vs_reference.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("converter_vs_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _runs() -> list[dict]:
    load = (1.0, 1.0, 1.0)
    return [
        {
            "kind": "ours",
            "round": 0,
            "wall": 5.0,
            "process_wall": 7.0,
            "peak_rss_gb": 0.9,
            "cpu_s": 6.25,
            "load": load,
            "ok": True,
            "stages": {"validate": 1.5, "total": 5.0},
        },
        {
            "kind": "reference",
            "round": 0,
            "wall": 50.0,
            "process_wall": 52.0,
            "peak_rss_gb": 10.0,
            "cpu_s": 51.5,
            "load": load,
            "ok": True,
            "stages": {"total": 50.0},
        },
        {
            "kind": "floor",
            "round": 0,
            "wall": 4.0,
            "read_s": 2.0,
            "reads": {"plain": 3.0, "advised": 2.0, "threads": 2.5},
            "write_s": 2.0,
            "load": load,
        },
    ]


def test_results_replace_only_their_own_section(bench, tmp_path):
    doc = tmp_path / "converter.md"
    doc.write_text(
        "intro\n<!-- BENCHMARK:START -->\nold fast\n<!-- BENCHMARK:END -->\nmiddle\n"
        "<!-- BENCHMARK-SLOWDISK:START -->\nold slow\n<!-- BENCHMARK-SLOWDISK:END -->\nend\n"
    )
    bench.update_docs(doc, "new slow", "SLOWDISK")
    text = doc.read_text()
    assert "old fast" in text and "old slow" not in text and "new slow" in text
    assert text.startswith("intro\n") and text.endswith("end\n")
    with pytest.raises(SystemExit, match="BENCHMARK-OTHER"):
        bench.update_docs(doc, "x", "OTHER")


def test_report_states_ratios_and_a_read_cap(bench):
    summary = bench.summarise(_runs(), int(3.45e9))
    assert summary["ratio_reference"] == pytest.approx(0.1)
    assert summary["ratio_floor"] == pytest.approx(1.25)
    assert "reads capped" not in bench.render(summary, _runs())
    assert "read 2.00 (plain 3.00, advised 2.00, threads 2.50)" in bench.render(summary, _runs())
    summary["read_limit_mb_s"] = 550.0
    assert "reads capped at 550 MB/s" in bench.render(summary, _runs())


@pytest.mark.parametrize(
    ("memory", "said"),
    [
        ("backed", "memory touched before each drop"),
        ("reclaimed", "caches dropped only"),
        ("kept", "memory kept, as on hardware"),
    ],
)
def test_report_states_the_memory_state(bench, memory, said):
    summary = bench.summarise(_runs(), int(3.45e9))
    assert said not in bench.render(summary, _runs())
    summary["memory"] = memory
    assert f"{said} (`--memory {memory}`)" in bench.render(summary, _runs())


def test_read_and_write_at_once_is_reported_apart_from_the_floor(bench):
    runs = _runs()
    assert "at once" not in bench.render(bench.summarise(runs, int(3.45e9)), runs)
    runs[2]["together_s"] = 3.0
    summary = bench.summarise(runs, int(3.45e9))
    assert summary["ratio_floor"] == pytest.approx(1.25)  # the floor stays read + write
    text = bench.render(summary, runs)
    assert "perfect overlap of the two would take: median 3.00 s" in text
    assert "+ write 2.00; both at once 3.00 | 4.00 |" in text


def test_every_run_lists_its_cpu_seconds(bench):
    text = bench.render(bench.summarise(_runs(), int(3.45e9)), _runs())
    assert "| 0 | ours | 5.00 | 7.00 | 6.25 | 0.90 |" in text
    assert "| 0 | reference | 50.00 | 52.00 | 51.50 | 10.00 |" in text


@pytest.mark.parametrize(
    ("device", "features", "expected"),
    [
        ("0x0005", "0110010100000000", True),  # balloon, bit 5 (free page reporting) set
        ("0x0005", "0110000100000000", False),  # balloon without it
        ("0x0002", "0110010100000000", False),  # a block device: bit 5 means something else
    ],
)
def test_free_page_reporting_is_read_from_the_balloon_features(
    bench, tmp_path, device, features, expected
):
    virtio = tmp_path / "virtio0"
    virtio.mkdir()
    (virtio / "device").write_text(device + "\n")
    (virtio / "features").write_text(features + "\n")
    assert bench.free_page_reporting(tmp_path) is expected
    summary = bench.summarise(_runs(), int(3.45e9))
    summary["free_page_reporting"] = expected
    assert ("free page reporting" in bench.render(summary, _runs())) is expected


def test_disk_device_names_a_block_device(bench, tmp_path):
    device = bench.disk_device(tmp_path)
    major, minor = device.split(":")
    assert major.isdigit() and minor.isdigit()


def test_memory_kept_pauses_reporting_and_restores_it(bench, tmp_path):
    order = tmp_path / "page_reporting_order"
    order.write_text("9\n")
    touched = []
    with bench.memory_kept(order, touch=lambda: touched.append(order.read_text().strip())):
        assert order.read_text().strip() == str(bench.NO_REPORTING_ORDER)
    assert touched == [str(bench.NO_REPORTING_ORDER)]  # touched with reporting paused
    assert order.read_text() == "9\n"
    with pytest.raises(RuntimeError), bench.memory_kept(order, touch=lambda: None):
        raise RuntimeError("a run failed")
    assert order.read_text() == "9\n"


def test_memory_kept_says_what_it_needs(bench, tmp_path):
    with (
        pytest.raises(SystemExit, match="needs a writable"),
        bench.memory_kept(tmp_path / "missing", touch=lambda: None),
    ):
        pass
