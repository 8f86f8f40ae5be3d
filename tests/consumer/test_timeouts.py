"""Acceptance: incomplete groups close on time, convert flagged or dead-letter, free the offset."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from tests.consumer.checks import assert_exactly_once, assert_offsets_committed_to_end
from tests.consumer.harness import committed_offsets, dump_events, end_offsets, publish, tail

pytestmark = [pytest.mark.broker, pytest.mark.casa]

MISSING = 7


def subband_frequencies(path):
    with h5py.File(path, "r") as f:
        return np.asarray(f["Header/freq_array"]).ravel()


def test_wall_clock_timeout_converts_partial_and_dead_letters_too_few(consumer_setup, sim_root):
    from casacore.tables import table

    setup = consumer_setup
    root, sim = sim_root
    partial, few, complete = sim.dumps[0], sim.dumps[1], sim.dumps[2]
    setup.settings_env = {
        "DSA110_GROUP_TIMEOUT_S": "4",
        "DSA110_MIN_SUBBANDS": "15",
        "DSA110_OBSERVATION_HORIZON_S": "100000",
    }
    events = dump_events(partial, root, [sb for sb in range(16) if sb != MISSING])
    events += dump_events(few, root, [3, 9])
    events += dump_events(complete, root)
    publish(setup.bootstrap, setup.topics.subbands, events, root)

    run = setup.run(extra=["--idle-exit", "6"])

    assert run.returncode == 0, tail(run.log_path)
    partial_id = events[0].group_id
    few_id = dump_events(few, root)[0].group_id
    complete_id = dump_events(complete, root)[0].group_id
    ready, dead = assert_exactly_once(setup, [partial_id, complete_id], dead_groups=[few_id])
    assert ready[partial_id].record["subbands_missing"] == [MISSING]
    assert ready[partial_id].record["subbands_present"] == [sb for sb in range(16) if sb != MISSING]
    [letter] = [e for e in dead if e.record["reason"] == "INCOMPLETE_GROUP"]
    assert letter.record["group_id"] == few_id
    assert "2 of 16" in letter.record["message"]
    assert dict(letter.headers)["dsa110-subbands-present"] == b"3,9"

    # The missing subband's channels are in the MS, flagged; the others are not all flagged.
    missing_freqs = subband_frequencies(partial.files[MISSING])
    ms = ready[partial_id].record["ms_path"]
    with table(f"{ms}::SPECTRAL_WINDOW", ack=False) as spw:
        chan_freq = spw.getcol("CHAN_FREQ")[0]
    with table(ms, ack=False) as main:
        flags = main.getcol("FLAG")  # (rows, channels, pols)
    in_missing = np.isclose(chan_freq[:, None], missing_freqs[None, :], rtol=0, atol=1.0).any(1)
    assert in_missing.sum() == len(missing_freqs)
    assert flags[:, in_missing, :].all()
    assert not flags[:, ~in_missing, :].all()

    # Neither incomplete group holds the committed offset back.
    assert_offsets_committed_to_end(setup)
    ends = end_offsets(setup.bootstrap, setup.topics.subbands)
    committed = committed_offsets(setup.bootstrap, setup.group, setup.topics.subbands)
    assert all(committed[p] == end for p, end in ends.items() if end > 0)


def test_observation_horizon_closes_groups_of_a_backlog(consumer_setup, sim_root):
    """With a long wall-clock timeout, later dumps in the stream close an incomplete group."""
    setup = consumer_setup
    root, sim = sim_root
    # Dumps are 51.5 s apart here (4 integrations): 120 s = the third dump after.
    setup.settings_env = {
        "DSA110_GROUP_TIMEOUT_S": "3600",
        "DSA110_MIN_SUBBANDS": "12",
        "DSA110_OBSERVATION_HORIZON_S": "120",
    }
    dumps = sim.dumps[3:9]
    events = dump_events(dumps[0], root, list(range(14)))
    for dump in dumps[1:]:
        events += dump_events(dump, root)
    # All in one partition, so the later dumps move that partition's observation time.
    publish(setup.bootstrap, setup.topics.subbands, events, root, partition=0)

    run = setup.run(extra=["--idle-exit", "6"], timeout=240)

    assert run.returncode == 0, tail(run.log_path)
    groups = [dump_events(d, root)[0].group_id for d in dumps]
    ready, _ = assert_exactly_once(setup, groups)
    assert ready[groups[0]].record["subbands_missing"] == [14, 15]
    assert_offsets_committed_to_end(setup)
