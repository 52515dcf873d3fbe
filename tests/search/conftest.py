import pytest
from search_support import make_spec


@pytest.fixture
def spec_factory():
    return make_spec
