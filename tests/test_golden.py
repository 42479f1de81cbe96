"""The golden runs: a fresh run must equal the stored one exactly (tests/golden_runs.py)."""

import json

import pytest

from tests.golden_runs import PATH, RUNS

STORED = json.loads(PATH.read_text())


def test_every_golden_run_is_stored():
    assert sorted(STORED) == sorted(RUNS)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_golden_run_unchanged(name):
    fresh, stored = json.loads(json.dumps(RUNS[name]())), STORED[name]
    for part in stored:
        moved = {
            k: (stored[part].get(k), fresh[part].get(k))
            for k in stored[part].keys() | fresh[part].keys()
            if json.dumps(stored[part].get(k)) != json.dumps(fresh[part].get(k))  # NaN too
        }
        assert not moved, f"{name} {part} moved (stored, fresh): {moved}"
