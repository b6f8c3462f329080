"""pytest plugin of ``mutation.py``: records which test ran each line (one coverage context a test).

Loaded with ``-p _mutation_contexts`` under ``coverage run``; without coverage it does nothing.
"""

from __future__ import annotations

from typing import Any

import coverage


def _switch(item: Any) -> None:
    current = coverage.Coverage.current()
    if current is not None:
        current.switch_context(item.nodeid)


def pytest_runtest_setup(item: Any) -> None:
    """Lines run from here on belong to this test (its fixtures included)."""
    _switch(item)
