"""Providers' published windows and the binding limit."""

import pytest

from sonar.errors import UserError
from sonar.plan.providers import binding_limit, get_provider, providers


def test_every_provider_is_dated_and_lists_a_real_model():
    for provider in providers().values():
        assert provider.as_of.startswith("2025")
        assert set(provider.windows) <= {"scout", "maverick"} and provider.windows
        assert all(0 < tokens <= 10_485_760 for tokens in provider.windows.values())


def test_the_smallest_limit_binds_and_ties_name_the_outer_one():
    assert binding_limit({"memory": 100, "engine": 50, "model": 200, "provider": None}) == ("engine", 50)
    assert binding_limit({"memory": 100, "engine": 90, "model": 90, "provider": 90}) == ("provider", 90)
    assert binding_limit({"memory": None, "engine": None, "model": None, "provider": None}) == ("memory", None)


def test_names_are_case_blind_and_unknowns_are_user_errors():
    assert get_provider(" Groq ").window("scout") == 131_072
    with pytest.raises(UserError, match="--provider 'nowhere': unknown"):
        get_provider("nowhere")
    with pytest.raises(UserError, match="no window for 'maverick'"):
        get_provider("cloudflare").window("maverick")
