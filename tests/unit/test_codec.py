"""The wire codec: envelopes that cannot blow up the decoder, and task calls bound, encoded and
validated before anything is sent, with errors that name the argument."""

from __future__ import annotations

import msgspec
import pytest

from asyncjobs import ConfigError, Context, TaskArgumentError
from asyncjobs.codec import TaskCodec
from asyncjobs.protocol import ANY_DECODER


async def send(ctx: Context, to: str, subject: str = "hi", *, urgent: bool = False) -> None:
    """A task whose Context is filled by the worker, with a default and a keyword-only flag."""


async def totals(rows: list[list[int]]) -> int:
    return sum(map(sum, rows))


def test_a_call_is_bound_in_parameter_order_with_defaults_and_no_context() -> None:
    codec = TaskCodec("send", send)
    assert [p.name for p in codec.params] == ["to", "subject", "urgent"]
    assert codec.context_index == 0
    raw = codec.encode_args("delay", ("a@example.com",), {"urgent": True})
    assert ANY_DECODER.decode(raw) == ["a@example.com", "hi", True]
    assert codec.decode_args(raw) == (["a@example.com", "hi"], {"urgent": True})


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((1,), {}, "send.delay(): argument 'to': Expected `str`, got `int`"),
        ((), {}, "send.delay(): missing a required argument: 'to'"),
        (("a", "b", "c"), {}, "send.delay(): too many positional arguments"),
        ((object(),), {}, "send.delay(): argument 'to': "),
    ],
)
def test_bad_calls_are_refused_naming_the_argument(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(TaskArgumentError) as caught:
        TaskCodec("send", send).encode_args("delay", args, kwargs)
    assert str(caught.value).startswith(message), caught.value


def test_explain_names_the_argument_and_keeps_the_inner_path() -> None:
    codec = TaskCodec("totals", totals)
    with pytest.raises(msgspec.ValidationError) as caught:
        codec.args_decoder.decode(msgspec.msgpack.encode([[[1], [2, "x"]]]))
    assert str(caught.value) == "Expected `int`, got `str` - at `$[0][1][1]`"
    assert codec.explain(caught.value) == "argument 'rows': Expected `int`, got `str` - at `$[1][1]`"


def test_explain_leaves_a_message_without_an_argument_path_alone() -> None:
    codec = TaskCodec("totals", totals)
    with pytest.raises(msgspec.ValidationError) as caught:
        codec.args_decoder.decode(msgspec.msgpack.encode([[1], [2]]))
    assert codec.explain(caught.value) == str(caught.value)


def test_task_signatures_the_codec_cannot_carry_are_config_errors() -> None:
    async def star(*args: int) -> None: ...

    async def late(n: int, ctx: Context) -> None: ...

    with pytest.raises(ConfigError, match=r"\*args and \*\*kwargs"):
        TaskCodec("star", star)
    with pytest.raises(ConfigError, match="a Context parameter must come first"):
        TaskCodec("late", late)


def test_decoder_bombs_fail_small() -> None:
    import tracemalloc

    from asyncjobs.protocol import ENVELOPE_DECODER

    bombs = [
        b"\x94\xa3p-l\xa4work\xdd\xff\xff\xff\xff",  # array32 claiming 4 G entries
        b"\x94\xa3p-m\xa4work\xdf\xff\xff\xff\xff",  # map32 claiming 4 G entries
        b"\x94\xa3p-b\xa4work\xc6\xff\xff\xff\xff",  # bin32 claiming 4 GiB
        b"\x94\xa3p-n\xa4work" + b"\x91" * 200_000 + b"\xc0\xcb" + bytes(8),  # nesting
    ]
    for bomb in bombs:
        tracemalloc.start()
        with pytest.raises((msgspec.DecodeError, RecursionError)):
            ENVELOPE_DECODER.decode(bomb)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 10 << 20, peak
