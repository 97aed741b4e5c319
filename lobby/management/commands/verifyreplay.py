"""`python manage.py verifyreplay MATCH_ID`: re-simulate a stored recording, compare checksums.

Exit status 0 with one summary line when every checksum matches; 1 naming
the first tick whose state differs (or whose recorded call the game
refused); 2 for an unknown match, a match without a recording, or a
recording that cannot be read (missing file, another game version).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lobby import replays


class Command(BaseCommand):
    help = "Re-simulate a match's stored recording and compare every state checksum."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("match_id", type=int, help="the match's id (GET /api/matches)")

    def handle(self, *args: Any, **options: Any) -> None:
        match_id: int = options["match_id"]
        try:
            match = replays.match_with_replay(match_id)
            rec = replays.load(match)
        except replays.NoReplay as exc:
            raise CommandError(str(exc), returncode=2) from None
        verdict = replays.verify_recording(rec)
        span = f"ticks {rec.first_tick}..{rec.last_tick}"
        if not verdict.ok:
            raise CommandError(
                f"match {match_id}: the replay differs at tick {verdict.bad_tick} "
                f"({verdict.reason}; {span}, {verdict.checked} checksums "
                f"matched before)", returncode=1)
        self.stdout.write(
            f"match {match_id}: replay verified, {verdict.checked} checksums match "
            f"({rec.game} v{rec.version}, {span}, {len(rec.log)} calls)")
