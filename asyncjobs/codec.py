"""The wire format: msgspec (msgpack) structs, and per-task encoding of calls and results.

A job travels as an ``Envelope``, encoded as a msgpack array whose first element is the job id,
so the Lua scripts can read the id without decoding the rest (see ``scripts/lib.lua``).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import msgspec

from .context import Context
from .errors import ConfigError, PayloadTooLarge, TaskArgumentError


class Envelope(msgspec.Struct, array_like=True, frozen=True):
    """One call of a task. ``args`` holds the encoded arguments, decoded by the task's codec."""

    id: str
    task: str
    args: msgspec.Raw
    enqueued_at: float


class ErrorKind(StrEnum):
    ERROR = "error"
    TIMEOUT = "timeout"
    DEAD = "dead"


class ErrorInfo(msgspec.Struct, array_like=True, frozen=True):
    kind: ErrorKind
    type: str
    message: str
    traceback: str = ""


NIL = msgspec.Raw(b"\xc0")  # msgpack nil


class Outcome(msgspec.Struct, array_like=True, frozen=True):
    """How a job ended: the encoded return value, or the error."""

    value: msgspec.Raw = NIL
    error: ErrorInfo | None = None


class DeadLetter(msgspec.Struct, array_like=True, frozen=True):
    """An entry of the dead-letter list; ``payload`` is the job's bytes exactly as they were."""

    reason: str
    message: str
    payload: bytes
    queue: str
    worker_id: str
    at: float
    job_id: str | None = None


NOTICE_MAX_OUTCOME = 4096
"""Outcomes up to this many bytes travel in the completion notice, so a waiter needs no read."""


ENCODER = msgspec.msgpack.Encoder()
ENVELOPE_DECODER = msgspec.msgpack.Decoder(Envelope)
OUTCOME_DECODER = msgspec.msgpack.Decoder(Outcome)
DEAD_LETTER_DECODER = msgspec.msgpack.Decoder(DeadLetter)
ANY_DECODER: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder()
_NOTICE_BODY_DECODER = msgspec.msgpack.Decoder(tuple[str, Outcome])


def encode_notice(job_id: str, task: str, outcome: bytes) -> bytes:
    """What a finished job publishes on the done channel: ``<id>``, or, when the outcome is
    small, ``<id> <msgpack [task, outcome]>`` (a job id has no space)."""
    if len(outcome) > NOTICE_MAX_OUTCOME:
        return job_id.encode()
    return b"%s \x92%s%s" % (job_id.encode(), ENCODER.encode(task), outcome)


def decode_notice_body(body: bytes) -> tuple[Outcome, str]:
    """A notice's outcome and task name, from the part after ``<id> ``."""
    task, outcome = _NOTICE_BODY_DECODER.decode(body)
    return outcome, task


class TaskCodec:
    """Binds, encodes and validates the calls of one task function, and decodes its results.

    Arguments travel as a msgpack array in parameter order (defaults applied); a parameter
    annotated ``Context`` is not sent, the worker fills it.
    """

    def __init__(self, name: str, fn: Callable[..., Any]) -> None:
        self.name = name
        try:
            hints = typing.get_type_hints(fn)
        except Exception as exc:
            raise ConfigError(f"task {name}: cannot resolve type hints: {exc}") from exc
        signature = inspect.signature(fn)
        params: list[inspect.Parameter] = []
        self.context_index: int | None = None
        for index, param in enumerate(signature.parameters.values()):
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ConfigError(f"task {name}: *args and **kwargs parameters are not supported")
            if hints.get(param.name) is Context:
                if index != 0:
                    raise ConfigError(f"task {name}: a Context parameter must come first")
                self.context_index = 0
                continue
            params.append(param)
        self.params = params
        self.signature = signature.replace(parameters=params)
        self.keyword_only = tuple(p.name for p in params if p.kind is p.KEYWORD_ONLY)
        # a call giving every parameter by position binds to itself: no need for Signature.bind
        self._positional = len(self.keyword_only) == 0
        arg_types = tuple(hints.get(p.name, Any) for p in params)
        self.args_decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(
            tuple[arg_types] if arg_types else tuple[()]  # type: ignore[valid-type]
        )
        return_type = hints.get("return", Any)
        self.result_decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(
            type(None) if return_type is None else return_type
        )

    def encode_args(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
        """Bind, encode and validate a call. Raises ``TaskArgumentError`` naming the argument."""
        where = f"{self.name}.{method}()"
        if self._positional and not kwargs and len(args) == len(self.params):
            values = list(args)
        else:
            try:
                bound = self.signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TaskArgumentError(f"{where}: {exc}") from None
            bound.apply_defaults()
            values = [bound.arguments[p.name] for p in self.params]
        try:
            encoded = ENCODER.encode(values)
        except (TypeError, ValueError, OverflowError) as exc:
            raise TaskArgumentError(f"{where}: {self._culprit(values, exc)}") from None
        try:
            self.args_decoder.decode(encoded)
        except msgspec.ValidationError as exc:
            raise TaskArgumentError(f"{where}: {self.explain(exc)}") from None
        return encoded

    def _culprit(self, values: list[Any], exc: Exception) -> str:
        for param, value in zip(self.params, values, strict=True):
            try:
                ENCODER.encode(value)
            except (TypeError, ValueError, OverflowError) as inner:
                return f"argument {param.name!r}: {inner}"
        return str(exc)

    def explain(self, exc: msgspec.ValidationError) -> str:
        """``Expected `str`, got `int` - at `$[0]` `` -> ``argument 'to': Expected `str`, got `int```."""
        text = str(exc)
        message, sep, path = text.rpartition(" - at `$[")
        if not sep:
            return text
        index_text, _, rest = path.partition("]")
        if not index_text.isdigit() or int(index_text) >= len(self.params):
            return text
        name = self.params[int(index_text)].name
        inner = rest.rstrip("`")
        return f"argument {name!r}: {message}" + (f" - at `${inner}`" if inner else "")

    def decode_args(self, raw: bytes) -> tuple[list[Any], dict[str, Any]]:
        """The worker's side: positional and keyword arguments, validated against the hints."""
        values: tuple[Any, ...] = self.args_decoder.decode(raw)
        positional: list[Any] = []
        keyword: dict[str, Any] = {}
        for param, value in zip(self.params, values, strict=True):
            if param.kind is param.KEYWORD_ONLY:
                keyword[param.name] = value
            else:
                positional.append(value)
        return positional, keyword


def encode_envelope(envelope: Envelope, *, task: str, limit: int) -> bytes:
    payload = ENCODER.encode(envelope)
    if len(payload) > limit:
        raise PayloadTooLarge(task, len(payload), limit)
    return payload
