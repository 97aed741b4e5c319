"""The paddle game passes the game authors' test kit (engine.testing)."""

from __future__ import annotations

from engine.paddle import GAME, PaddleConfig
from engine.testing import GameContract


class TestPaddleContract(GameContract):
    definition = GAME
    # A fast court: play starts within a few ticks, balls score and bounce,
    # matches end by score or time and restart within one script.
    config = PaddleConfig(
        countdown_s=0.05, match_s=1.5, ended_s=0.1, score_limit=2, serve_delay_s=0.05,
        court_size=4000, paddle_length=1200, ball_radius=80, ball_speed=12000.0,
        max_ball_speed=30000.0, ball_speedup=1.2,
    )
    examples = 20
