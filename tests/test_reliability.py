"""RELIABILITY.md names a test for each case it lists: every test it names must exist, so the catalogue cannot
point at a test that was renamed or removed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = (REPOSITORY_ROOT / "RELIABILITY.md").read_text()
NAMED = sorted(set(re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)(?:\[[^\]]*\])?`", CATALOGUE)))


def test_the_catalogue_names_tests() -> None:
    assert len(NAMED) > 50


@pytest.mark.parametrize(("path", "name"), NAMED, ids=[f"{path}::{name}" for path, name in NAMED])
def test_every_test_the_catalogue_names_exists(path: str, name: str) -> None:
    source = (REPOSITORY_ROOT / path).read_text()
    assert re.search(rf"^def {name}\(", source, re.MULTILINE), f"{path} has no {name}"
