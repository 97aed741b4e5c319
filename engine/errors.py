"""The engine's one error tree.

Every error the engine raises on purpose is an :class:`EngineError` (or its
subclass :class:`FrameError` for rejected client frames). Each carries a
machine-readable ``code`` (see :class:`engine.protocol.ErrorCode`) and a human
``message``; the runtime turns them into ``error`` frames, never crashes.
"""

from __future__ import annotations


class CodedError(Exception):
    """The base of every refusal with a machine-readable ``code`` and a human ``message``.

    The project's layers raise subclasses (the engine's rules, tokens, rooms,
    chat, the HTTP API, staff actions); each becomes an ``error`` frame or a
    JSON error answer carrying ``code`` and ``message``, never a crash.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class EngineError(CodedError):
    """A rule of the engine was broken by the caller.

    ``code`` is a stable identifier (``room_full``, ``already_joined``,
    ``not_in_room``, ``wrong_phase``, ``bad_config``, ``bad_checkpoint``...);
    ``message`` explains it for humans and names the offending state.
    """

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(code, message or code)
        # str() names the code too: these reach logs as well as error frames.
        self.args = (f"{code}: {message}" if message else code,)


class FrameError(EngineError):
    """A client frame was rejected by :func:`engine.protocol.parse_client_frame`.

    ``code`` is one of ``bad_frame``, ``unknown_type`` or ``invalid``.
    """
