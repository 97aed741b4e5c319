"""Process-level HTTP endpoints."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from lobby.http import api


@api("GET", "HEAD")
def healthz(request: HttpRequest) -> HttpResponse:
    """200 while the process serves."""
    return JsonResponse({"status": "ok"})
