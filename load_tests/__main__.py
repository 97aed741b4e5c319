"""``python -m load_tests run|bench ...`` (see :mod:`load_tests.cli`)."""

from __future__ import annotations

from load_tests.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
