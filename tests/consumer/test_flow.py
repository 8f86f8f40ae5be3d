"""End to end on the real broker: complete groups in, one MS-ready each, offsets committed."""

from __future__ import annotations

import pytest

from tests.consumer.harness import (
    by_group,
    dump_events,
    publish,
    read_events,
    tail,
    uncommitted,
)

pytestmark = [pytest.mark.broker, pytest.mark.casa]


def test_complete_groups_are_converted_once_and_committed(consumer_setup, sim_root):
    setup = consumer_setup
    root, sim = sim_root
    dumps = sim.dumps[:3]
    events = [e for dump in dumps for e in dump_events(dump, root)]
    publish(setup.bootstrap, setup.topics.subbands, events, root)

    run = setup.run(extra=["--idle-exit", "6"])

    assert run.returncode == 0, tail(run.log_path)
    ready = by_group(read_events(setup.bootstrap, setup.topics.ms_ready), "MeasurementSetReady")
    expected = {e.group_id for e in events}
    assert set(ready) == expected
    assert all(len(v) == 1 for v in ready.values())
    for group_id, [event] in ready.items():
        assert event.key == group_id.encode()
        assert event.record["subbands_present"] == list(range(16))
        assert event.record["subbands_missing"] == []
        assert event.record["revision"] == 1
        assert (setup.output_dir / f"{group_id}.ms").is_dir()
    assert read_events(setup.bootstrap, setup.topics.dead_letter) == []
    assert uncommitted(setup.bootstrap, setup.group, setup.topics.subbands) == {}
    assert run.summary is not None and run.summary["converted"] == 3
