"""The hot-path micro-benchmark runs, and each pair it compares does the same work."""

from __future__ import annotations

import json
from pathlib import Path

from load_tests.hotpath_bench import main


def test_hotpath_bench_runs_small(tmp_path: Path) -> None:
    out = tmp_path / "hotpath.json"
    main(["--number", "200", "--json", str(out)])
    results = json.loads(out.read_text())
    assert set(results) == {
        "parse_input_general_us", "parse_input_us", "counter_inc_us", "tally_add_us",
        "read_callback_wrapped_us", "read_callback_direct_us", "snapshot_via_layer_us",
        "snapshot_direct_us",
    }
    assert all(value > 0 for value in results.values())
