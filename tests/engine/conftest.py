"""Fixtures shared by the engine tests."""

import pytest

from ipuexplore.engine import Pool


@pytest.fixture(scope="module")
def pools():
    """One pool per worker count the randomized tests draw (1 to 3), reused across examples."""
    ps = {wk: Pool(wk) for wk in (1, 2, 3)}
    yield ps
    for p in ps.values():
        p.close()
