"""Pure parts of the ingest: seq tracking, bindings, bad-data monitor, acks, wire format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest import bound
from ingest.acks import AckCoalescer, ack_payload
from ingest.bindings import Binding, BindingIndex
from ingest.bound import BoundMessage, WireFormatError
from ingest.contract import DeviceMessage, Measurement
from ingest.monitor import BadDataMonitor
from ingest.sequence import SeqTracker

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# --- sequence tracking --------------------------------------------------------------------


def test_contiguous_seq_advances_through_filled_gaps() -> None:
    t = SeqTracker()
    for seq in (10, 11, 13, 14):
        t.handled("d", seq)
    assert t.acked("d") == 11
    assert t.missing("d") == 1
    assert t.gaps_opened == 1
    t.handled("d", 12)
    assert t.acked("d") == 14
    assert t.missing("d") == 0


def test_duplicates_and_old_seqs_change_nothing() -> None:
    t = SeqTracker()
    for seq in (5, 6, 6, 3, 5):
        t.handled("d", seq)
    assert t.acked("d") == 6
    assert t.gaps_opened == 0


def test_giving_up_a_gap_never_confirms_a_seq_that_was_not_handled() -> None:
    """Issue 14, finding 6: above max_pending the gap used to be declared lost and the ack
    jumped past it, confirming seq 2 although it was never stored."""
    t = SeqTracker(max_pending=3)
    t.handled("d", 1)
    for seq in (3, 4, 5, 6, 7):  # 2 never comes
        t.handled("d", seq)
    assert t.acked("d") == 1
    assert t.checks() == {"d": 1}  # the caller asks the database how far "d" is contiguous
    assert t.checks() == {}
    t.advance_to("d", 1)  # the database has nothing more: the ack stays
    assert t.acked("d") == 1
    t.handled("d", 2)  # it arrives at last: everything remembered follows
    assert t.acked("d") == 5  # 6 and 7 were forgotten (memory bound): they come back or are read
    assert t.checks() == {"d": 5}  # ... from the database, now that it has caught up
    t.advance_to("d", 7)
    assert t.acked("d") == 7


def test_the_database_advances_a_device_past_what_this_process_saw() -> None:
    t = SeqTracker()
    t.seed("d", 86)  # the retained ack lags the database after a crash
    t.advance_to("d", 951)  # 87..951 are stored
    t.handled("d", 952)
    assert t.acked("d") == 952
    t.advance_to("d", 900)  # never backwards
    assert t.acked("d") == 952


@given(st.permutations(list(range(20))))
def test_any_arrival_order_acks_everything_once_complete(order: list[int]) -> None:
    t = SeqTracker()
    t.handled("d", -1)  # first contact before the run
    for seq in order:
        t.handled("d", seq)
    assert t.acked("d") == 19
    assert t.missing("d") == 0


# --- bindings -----------------------------------------------------------------------------


def test_readings_follow_the_binding_valid_at_measurement_time() -> None:
    index = BindingIndex(
        [
            Binding("cuff-1", "alice", at(0), at(60)),
            Binding("cuff-1", "bob", at(60), None),
            Binding("cgm-9", "carol", at(30), None),
        ]
    )
    assert index.patient_at("cuff-1", at(-1)) is None
    assert index.patient_at("cuff-1", at(0)) == "alice"
    assert index.patient_at("cuff-1", at(59.9)) == "alice"
    assert index.patient_at("cuff-1", at(60)) == "bob"
    assert index.patient_at("cuff-1", at(10_000)) == "bob"
    assert index.patient_at("cgm-9", at(10)) is None
    assert index.patient_at("unknown", at(10)) is None


def test_a_binding_gap_is_unbound() -> None:
    index = BindingIndex([Binding("d", "p", at(0), at(10)), Binding("d", "q", at(20), None)])
    assert index.patient_at("d", at(15)) is None


def test_a_binding_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="end after"):
        Binding("d", "p", at(10), at(10))


# --- bad data monitor ---------------------------------------------------------------------


def test_a_device_that_keeps_sending_bad_data_alerts_once_per_window() -> None:
    m = BadDataMonitor(threshold=3, window_s=600)
    fired = [m.rejected("d", at(i)) for i in range(6)]
    assert fired == [False, False, True, False, False, False]
    # a burst in a later window alerts again (3 within 10 minutes, 10 minutes after the last alert)
    assert [m.rejected("d", at(20 + i)) for i in range(3)] == [False, False, True]


def test_sporadic_bad_data_does_not_alert() -> None:
    m = BadDataMonitor(threshold=3, window_s=600)
    assert not any(m.rejected("d", at(i * 6)) for i in range(10))  # one every 6 minutes


# --- device acks --------------------------------------------------------------------------


def test_acks_are_coalesced_per_device_and_interval() -> None:
    c = AckCoalescer(min_interval_s=1.0)
    c.record({"a": 5, "b": 1}, {})
    assert sorted(c.due(100.0)) == [("a", 5, []), ("b", 1, [])]
    c.record({"a": 6}, {"a": [(6, "implausible")]})
    c.record({"a": 8}, {})
    assert c.due(100.5) == []  # too soon for "a"
    assert c.due(101.0) == [("a", 8, [(6, "implausible")])]
    assert c.due(105.0) == []


def test_ack_payload_names_the_seq_and_rejections() -> None:
    doc = orjson.loads(ack_payload("a", 8, [(6, "implausible")], T0))
    assert doc == {
        "v": 1, "device_id": "a", "acked_seq": 8,
        "rejected": [{"seq": 6, "reason": "implausible"}], "at": T0.isoformat(),
    }  # fmt: skip


# --- bus wire format ----------------------------------------------------------------------


def test_bound_messages_survive_the_wire_exactly() -> None:
    message = DeviceMessage(
        "cuff-1", 42, at(1.000001), at(2), (Measurement("glucose", 99.088, "mg/dL", 5.5, "mmol/L"),),
        {"meal": "before"},
    )  # fmt: skip
    b = BoundMessage("alice", message)
    assert bound.decode(bound.encode(b)) == b


@pytest.mark.parametrize("data", [b"", b"{}", b'{"w": 2}', b"[1]", b'{"w":1,"p":"x"}'])
def test_foreign_records_raise_wire_format_error(data: bytes) -> None:
    with pytest.raises(WireFormatError):
        bound.decode(data)


def test_after_a_restart_acks_never_pass_what_the_device_was_last_told() -> None:
    t = SeqTracker()
    t.seed("d", 4)  # retained ack: 0..4 were handled before the restart
    t.handled("d", 11)  # the first reading after the restart; 5..10 may still be on the device
    assert t.acked("d") == 4
    for seq in range(5, 11):
        t.handled("d", seq)
    assert t.acked("d") == 11
