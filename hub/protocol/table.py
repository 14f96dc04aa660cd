"""One table of every command a hub speaks: decode a frame, name it for metrics, refuse the unknown."""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from hub.protocol.commands import Command, CommandSpec
from hub.protocol.fields import bad, command_id

__all__ = ["CommandTable"]


class CommandTable:
    """Built once from the core's specs and the application's; read on every frame."""

    def __init__(self, specs: Iterable[CommandSpec]) -> None:
        self._by_type: dict[str, CommandSpec] = {}
        self._labels: dict[type, str] = {}
        self._uncounted: set[type] = set()
        for spec in specs:
            if spec.name in self._by_type:
                raise ValueError(f"command {spec.name!r} is defined twice")
            self._by_type[spec.name] = spec
            self._labels[spec.command] = spec.label
            if not spec.counted:
                self._uncounted.add(spec.command)

    @property
    def specs(self) -> list[CommandSpec]:
        return list(self._by_type.values())

    def decode(self, data: str | bytes, *, now: float) -> Command:
        """Decode one inbound text frame.

        Args:
            data: the frame's payload (``str``, or UTF-8 ``bytes`` on the fast path).
            now: the current epoch time (some commands check timestamps).

        Returns:
            The command.

        Raises:
            ProtocolError: ``bad_request`` for anything that is not a well-formed command,
                with the command's ``id`` when it could be read.
        """
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise bad("frame is not valid JSON") from None
        if not isinstance(obj, dict):
            raise bad("frame must be a JSON object")
        cid = command_id(obj)
        kind = obj.get("type")
        if not isinstance(kind, str):
            raise bad("'type' must be a string", cid)
        spec = self._by_type.get(kind)
        if spec is None:
            raise bad(f"unknown type {kind[:32]!r}", cid)
        return spec.decode(obj, cid, now)

    def label(self, command: Command) -> str:
        """The ``type`` label of ``hub_frames_received_total`` (every decoded command has one)."""
        return self._labels[type(command)]

    def counted(self, command: Command) -> bool:
        """Whether ``command`` counts against the per-connection command rate."""
        return type(command) not in self._uncounted

    def labels(self) -> list[str]:
        return [spec.label for spec in self._by_type.values()]
