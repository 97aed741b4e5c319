"""Fixtures of the runtime tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.settle import settle


@pytest.fixture(autouse=True)
async def _settled() -> AsyncIterator[None]:
    """Each test's rooms are closed and their lobby work done before the next test."""
    yield
    await settle()
