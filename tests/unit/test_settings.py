from __future__ import annotations

from pathlib import Path

from dochooks.settings import from_env


def test_environment_variables_set_each_setting() -> None:
    s = from_env(
        {
            "DOCHOOKS_DATABASE_URL": "postgresql://db/x",
            "DOCHOOKS_DATA_DIR": "/srv/dochooks",
            "DOCHOOKS_DELIVERY_TIMEOUT": "2.5",
            "DOCHOOKS_RETRY_TIME_SCALE": "0.01",
            "DOCHOOKS_ALLOW_PRIVATE_TARGETS": "1",
            "DOCHOOKS_PORT": "9999",
        }
    )
    assert s.database_url == "postgresql://db/x"
    assert s.data_dir == Path("/srv/dochooks")
    assert (s.delivery_timeout, s.retry_time_scale, s.allow_private_targets, s.port) == (2.5, 0.01, True, 9999)


def test_flags_win_over_the_environment_and_defaults_are_safe() -> None:
    s = from_env({"DOCHOOKS_PORT": "9999"}, port=7000)
    assert s.port == 7000
    d = from_env({})
    assert d.database_url == "sqlite:///./dochooks.db"
    assert d.delivery_timeout == 15.0 and d.retry_time_scale == 1.0 and d.allow_private_targets is False
