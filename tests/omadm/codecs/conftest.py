"""Fixtures of the OMA-DM codec tests: the corpus of real-looking DM messages."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS_DIR = Path(__file__).parent / "corpus"
CORPUS = sorted(CORPUS_DIR.glob("*.xml"))


@pytest.fixture(params=CORPUS, ids=[p.stem for p in CORPUS])
def corpus_file(request: pytest.FixtureRequest) -> Path:
    """Each corpus message in turn."""
    path: Path = request.param
    return path


@pytest.fixture
def corpus() -> dict[str, bytes]:
    """All corpus messages by file stem."""
    return {p.stem: p.read_bytes() for p in CORPUS}
