"""Per-task encoding of calls and results: binding, msgpack encoding and validation of a task's
arguments, and the decoder of its return value. The wire structs are in ``protocol``."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import msgspec

from .context import Context
from .errors import ConfigError, PayloadTooLarge, TaskArgumentError
from .protocol import ENCODER, Envelope, envelope_bytes


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
        self.signature: inspect.Signature = signature.replace(parameters=params)
        self.keyword_only: tuple[str, ...] = tuple(p.name for p in params if p.kind is p.KEYWORD_ONLY)
        # a call giving every parameter by position binds to itself: no need for Signature.bind
        self._positional = len(self.keyword_only) == 0
        arg_types = tuple(hints.get(p.name, Any) for p in params)
        self.args_decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(
            tuple[arg_types] if arg_types else tuple[()]  # type: ignore[valid-type]
        )
        # a pipeline step's call: its first argument is filled in later (the step before's
        # value), so the call is checked without it
        self._piped_decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(
            tuple[(type(None), *arg_types[1:])]  # type: ignore[misc]
            if arg_types else tuple[()]
        )
        return_type = hints.get("return", Any)
        self.result_decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(
            type(None) if return_type is None else return_type
        )

    def encode_args(
        self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], *, piped: bool = False
    ) -> bytes:
        """Bind, encode and validate a call. Raises ``TaskArgumentError`` naming the argument.
        ``piped``: the first argument is left out (a nil stands in for it until the step before
        gives its value)."""
        where = f"{self.name}.{method}()"
        if piped:
            if not self.params or self.params[0].kind is inspect.Parameter.KEYWORD_ONLY:
                raise TaskArgumentError(f"{where}: {self.name} takes no positional parameter "
                                        "for the value of the step before")
            args = (None, *args)
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
            (self._piped_decoder if piped else self.args_decoder).decode(encoded)
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
    payload = envelope_bytes(envelope)
    if len(payload) > limit:
        raise PayloadTooLarge(task, len(payload), limit)
    return payload
