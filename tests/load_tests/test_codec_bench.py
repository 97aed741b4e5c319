"""The codec micro-benchmark runs, and every decoder it times sees every frame."""

from __future__ import annotations

import json
from pathlib import Path

from load_tests.codec_bench import main


def test_codec_bench_runs_small(tmp_path: Path) -> None:
    out = tmp_path / "codec.json"
    assert main(["--frames", "300", "--repeat", "1", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert set(results) == {
        f"{name}/{kind}"
        for name in ("codec", "websockets", "daphne")
        for kind in ("binary", "text")
    }
    assert all(r["frames_per_s"] > 0 for r in results.values())
