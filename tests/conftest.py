"""Fixtures; the helpers themselves are in ``tests/support.py``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.support import Archive, standard_pages


@pytest.fixture
def archive():
    """The standard fixture archive, served on 127.0.0.1 for the test."""
    pages, expected = standard_pages()
    with Archive(pages) as served:
        served.expected = expected
        yield served


@pytest.fixture
def runner():
    return CliRunner()
