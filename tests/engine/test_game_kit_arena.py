"""The arena passes the game authors' test kit (engine.testing)."""

from __future__ import annotations

from engine.arena import GAME, GameConfig
from engine.testing import GameContract


class TestArenaContract(GameContract):
    definition = GAME
    # A small map and room (joins hit room_full) where random scripts meet:
    # hits, kills, respawns and pickups happen, and a match starts, ends and
    # restarts within one script.
    config = GameConfig(
        max_players=4, min_players=2, countdown_s=0.5, match_s=3.0, ended_s=0.5,
        score_limit=2, pickup_interval_s=0.5, respawn_s=0.3, fire_cooldown_s=0.1,
        projectile_damage=50, map_width=480, map_height=320,
        walls=((200, 120, 80, 80),),
        spawn_points=((40, 40), (440, 40), (40, 280), (440, 280)),
        pickup_spots=((240, 40), (240, 280)), spawn_clear_radius=40.0,
    )
    examples = 20
