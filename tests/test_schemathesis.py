"""A short schemathesis pass inside make test: the API (fakes behind it) against its own
/openapi.json, every check (`make fuzz` runs the long one)."""

from __future__ import annotations

from pathlib import Path

from tools import fuzz


def test_a_short_schemathesis_run_finds_no_failure(tmp_path: Path) -> None:
    # schemathesis' exit status: 0 only without server errors, schema violations or
    # requests the document calls invalid being accepted (its output shows on failure)
    assert fuzz.run(max_examples=5, seed=20261201, work=tmp_path) == 0
