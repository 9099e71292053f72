"""Builds the source of each script from its file, the helpers it includes and the protocol
constants it names, and reads its signature.

- A line ``--- @include lib/<helper>`` pulls in ``lib/<helper>.lua`` (and, first, what that
  includes), once per script however often it is named. Redis runs a script's whole source on
  each call, so a script carries only the helpers it includes.
- An upper-case name such as ``FIELD_STATE`` or ``REPLY_DONE`` is a protocol constant
  (``protocol.lua_constants()``): the script starts with a ``local`` for each one it names. A
  name with a known prefix that the protocol does not declare is an error.
- ``PUBLISH`` names the publish command: ``'PUBLISH'``, or ``'SPUBLISH'`` in the sharded
  variant of each script (``load(..., sharded=True)``), for a cluster, whose subscribers listen
  on the node that serves the channel's slot (the channel shares the queue's hash tag).
- The lines ``local <name> = KEYS[i]`` and ``local <name> = ARGV[i]`` (or
  ``tonumber(ARGV[i])``) bind the script's fixed
  keys and arguments to names, in order from 1: they are its signature, which its Python
  wrapper must follow (``Scripts``). Variable tails (``KEYS[3..]``) are described in comments;
  an optional last key or argument is bound as ``KEYS[i] or false`` and passed as a tail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from ..protocol import lua_constants

_FOLDER = files(__package__)
_INCLUDE = re.compile(r"^--- @include (\S+)$", re.M)
_CONSTANT = re.compile(
    r"\b((?:FIELD|STATE|STAT|REPLY|ERROR|MARK|CONTROL|EVENT|KEY|AFTER|PIPED|PRIORITY|UNIQUE|RATE)_[A-Z_]+)\b")
_BINDING = re.compile(r"^local (\w+) = (?:tonumber\()?(KEYS|ARGV)\[(\d+)\]\)?(?! or)", re.M)
_LUA_STRING = re.compile(r"[A-Za-z0-9_:.\-]*")


class ScriptSourceError(Exception):
    """A script's source is not well formed (a bad include, an undeclared constant...)."""


@dataclass(frozen=True, slots=True)
class ScriptSource:
    name: str
    text: str
    keys: tuple[str, ...]
    """Names of the fixed keys, KEYS[1], KEYS[2]..."""
    args: tuple[str, ...]
    """Names of the fixed arguments, ARGV[1], ARGV[2]..."""


def _with_includes(
    folder: Traversable, text: str, done: list[str], parts: list[str], stack: tuple[str, ...]
) -> None:
    """Append the helpers ``text`` includes (each once, dependencies first) to ``parts``."""
    for include in _INCLUDE.findall(text):
        if include in stack:
            raise ScriptSourceError(f"include cycle: {' -> '.join((*stack, include))}")
        if include in done:
            continue
        resource = folder.joinpath(f"{include}.lua")
        if not resource.is_file():
            raise ScriptSourceError(f"no helper {include}.lua to include")
        helper = resource.read_text()
        _with_includes(folder, helper, done, parts, (*stack, include))
        done.append(include)
        parts.append(helper)


_PUBLISH = re.compile(r"redis\.call\(PUBLISH,")


def _prelude(text: str, sharded: bool) -> str:
    constants = lua_constants()
    lines = []
    if _PUBLISH.search(text):
        lines.append(f"local PUBLISH = '{'SPUBLISH' if sharded else 'PUBLISH'}'")
    for name in sorted(set(_CONSTANT.findall(text))):
        if name not in constants:
            raise ScriptSourceError(f"{name} is not a constant of asyncjobs.protocol")
        value = constants[name]
        if isinstance(value, str):
            if not _LUA_STRING.fullmatch(value):
                raise ScriptSourceError(f"{name}: {value!r} cannot be a plain Lua string")
            value_text = f"'{value}'"
        else:
            value_text = str(value)
        lines.append(f"local {name} = {value_text}")
    return "\n".join(lines)


def _signature(text: str, kind: str) -> tuple[str, ...]:
    bound = [(int(index), var) for var, of, index in _BINDING.findall(text) if of == kind]
    if [index for index, _ in bound] != list(range(1, len(bound) + 1)):
        raise ScriptSourceError(f"{kind} must be bound in order from {kind}[1]")
    return tuple(var for _, var in bound)


def compose(body: str, folder: Traversable = _FOLDER, *, sharded: bool = False) -> str:
    """``body`` preceded by the helpers it includes and the constants it names (``sharded``:
    it publishes with SPUBLISH)."""
    parts: list[str] = []
    _with_includes(folder, body, [], parts, ())
    text = "\n\n".join([*parts, body])
    return f"{_prelude(text, sharded)}\n\n{text}"


def load(name: str, folder: Traversable = _FOLDER, *, sharded: bool = False) -> ScriptSource:
    """The full source of the script ``<name>.lua`` of ``folder``, and its signature
    (``sharded``: the variant for a cluster, which publishes with SPUBLISH)."""
    body = folder.joinpath(f"{name}.lua").read_text()
    try:
        return ScriptSource(name, compose(body, folder, sharded=sharded), _signature(body, "KEYS"),
                            _signature(body, "ARGV"))
    except ScriptSourceError as exc:
        raise ScriptSourceError(f"{name}.lua: {exc}") from None
