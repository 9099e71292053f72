"""The protocol's contract with the scripts, checked without a server: every script loads, names
only declared constants, includes only helpers that exist, and binds its keys and arguments."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from asyncjobs.protocol import (
    ENCODER,
    ENVELOPE_DECODER,
    Envelope,
    Field,
    JobState,
    Outcome,
    QueuedEntry,
    Stat,
    decode_notice_body,
    decode_queued,
    encode_notice,
    envelope_bytes,
    lua_constants,
    split_notice,
)
from asyncjobs.scripts import SOURCES
from asyncjobs.scripts.source import ScriptSourceError, load


def test_every_script_loads_with_a_signature() -> None:
    for name, source in SOURCES.items():
        assert source.keys, f"{name}.lua binds no key"
        assert "--- @include" not in source.text.split("\n\n", 1)[0], name


def test_finish_counts_each_outcome_under_the_state_it_stores() -> None:
    # finish.lua passes a job's final state as the name of the counter it increments
    assert Stat.COMPLETE == JobState.COMPLETE and Stat.FAILED == JobState.FAILED


def test_every_lua_constant_is_a_plain_value() -> None:
    constants = lua_constants()
    assert constants["FIELD_STATE"] == Field.STATE == "s"
    assert constants["REPLY_DONE"] == 1
    assert len({Field(f).value for f in Field}) == len(Field), "two fields share a name"


def write(folder: Path, name: str, text: str) -> None:
    path = folder / f"{name}.lua"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({"s": "local k = KEYS[1]\nreturn FIELD_NOPE"}, "FIELD_NOPE is not a constant"),
        ({"s": "--- @include lib/missing\nlocal k = KEYS[1]"}, "no helper lib/missing.lua"),
        ({"s": "--- @include lib/a\nlocal k = KEYS[1]", "lib/a": "--- @include lib/b",
          "lib/b": "--- @include lib/a"}, "include cycle: lib/a -> lib/b -> lib/a"),
        ({"s": "local k = KEYS[2]"}, "KEYS must be bound in order from KEYS[1]"),
        ({"s": "local k = KEYS[1]\nlocal a = ARGV[1]\nlocal c = ARGV[3]"}, "ARGV must be bound"),
    ],
)
def test_a_malformed_script_is_refused_with_its_reason(
    tmp_path: Path, files: dict[str, str], error: str
) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    with pytest.raises(ScriptSourceError, match=error.replace("[", r"\[").replace("]", r"\]")):
        load("s", tmp_path)


def test_a_helper_included_twice_is_in_the_source_once(tmp_path: Path) -> None:
    write(tmp_path, "lib/a", "local function a() return 1 end")
    write(tmp_path, "lib/b", "--- @include lib/a\nlocal function b() return a() end")
    write(tmp_path, "s", "--- @include lib/a\n--- @include lib/b\nlocal k = KEYS[1]\n"
                         "local n = tonumber(ARGV[1])\nlocal o = KEYS[2] or false\nreturn b()")
    source = load("s", tmp_path)
    assert source.text.count("local function a()") == 1
    assert source.text.index("function a()") < source.text.index("function b()")
    assert (source.keys, source.args) == (("k",), ("n",))


def test_queued_entries_and_notices_round_trip() -> None:
    assert decode_queued(b"s1700000000.25 reports.daily run") == QueuedEntry(
        JobState.SCHEDULED, 1700000000.25, "reports.daily run"
    )
    outcome = ENCODER.encode(Outcome(value=msgspec.Raw(ENCODER.encode([1, 2]))))
    job_id, body = split_notice(encode_notice("abc", "t" * 300, outcome))
    task, decoded = decode_notice_body(body)
    assert (job_id, task, decoded.error) == ("abc", "t" * 300, None)
    assert split_notice(encode_notice("abc", "t", b"x" * 5000)) == ("abc", b"")


def test_envelopes_without_a_trace_context_keep_their_four_elements_and_still_decode() -> None:
    args = msgspec.Raw(ENCODER.encode([1, "x"]))
    old = ENCODER.encode(["job-1", "tasks.add", args, 12.5])  # as written before the trace field
    assert ENVELOPE_DECODER.decode(old) == Envelope("job-1", "tasks.add", args, 12.5, None)
    assert envelope_bytes(Envelope("job-1", "tasks.add", args, 12.5)) == old
    carrier = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    traced = envelope_bytes(Envelope("job-1", "tasks.add", args, 12.5, carrier))
    assert traced[0] == 0x95 and traced.startswith(b"\x95" + old[1:])
    assert ENVELOPE_DECODER.decode(traced).trace == carrier
    # a worker that predates the field reads the first four elements and ignores the rest
    before = msgspec.defstruct("Before", [("id", str), ("task", str), ("args", msgspec.Raw),
                                          ("enqueued_at", float)], array_like=True)
    assert msgspec.msgpack.decode(traced, type=before).id == "job-1"
