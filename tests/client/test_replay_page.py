"""The replay viewer's page `/replay/<match_id>/` (client/views.py `replay`)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def test_the_page_names_its_match_and_document_and_the_offered_games(client: Any) -> None:
    answer = client.get("/replay/42/")
    assert answer.status_code == 200
    page = answer.content.decode()
    data = re.search(r'<script id="replay-data" type="application/json">(.*?)</script>', page)
    assert data is not None
    assert json.loads(data.group(1)) == {"match_id": 42, "url": "/api/matches/42/replay"}
    assert '<script id="offered-games" type="application/json">["arena", "paddle"]</script>' in page
    assert "client/js/replay.js" in page
    for control in ("timeline", "speed", "follow"):
        assert f'<label for="{control}">' in page, f"the {control} control has a label"


@pytest.mark.parametrize("path", ["/replay/abc/", "/replay/-1/", "/replay/1.5/", "/replay/"])
def test_anything_but_a_match_number_is_not_found(client: Any, path: str) -> None:
    assert client.get(path).status_code == 404
