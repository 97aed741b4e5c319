"""Random strings (session keys, unusable passwords) from one read of the OS's CSPRNG.

Django's `get_random_string` draws each character with `secrets.choice`,
which reads the operating system's random source (`os.urandom`, one system
call) at least once per character and again for every rejected draw: about
57 system calls for a 32-character session key, 41 for an unusable
password. Each one releases and retakes the GIL, and under a guest-session
storm on several CPUs every release woke another of the server's threads on
another CPU for nothing (issue #17). `random_string` reads the bytes it
needs at once and keeps each byte below the largest multiple of the
alphabet's size (the rest are rejected, so every character is exactly as
likely as with Django's), from the same source: `secrets.token_bytes`.
"""

from __future__ import annotations

import secrets


def random_string(length: int, allowed_chars: str) -> str:
    """`length` characters, each uniform over `allowed_chars` (at most 256 of them)."""
    size = len(allowed_chars)
    if not 1 <= size <= 256:
        raise ValueError("allowed_chars must have 1 to 256 characters")
    limit = 256 - 256 % size  # bytes below this map uniformly onto the alphabet
    out: list[str] = []
    while len(out) < length:
        # A little more than needed, so one read is nearly always enough.
        for byte in secrets.token_bytes(length - len(out) + 8):
            if byte < limit:
                out.append(allowed_chars[byte % size])
                if len(out) == length:
                    break
    return "".join(out)
