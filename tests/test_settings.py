"""Settings come only from the environment; a bad value stops start-up naming its variable."""

import subprocess
import sys

import pytest

from retorno.settings import DEV_SECRET, SettingsError, load_settings
from tests.conftest import DATA_KEY


def test_defaults_give_a_sqlite_file_under_var_and_the_local_base_host():
    s = load_settings({})
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("/var/retorno.sqlite3")
    assert s.engine == "sqlite"
    assert s.base_host == "localhost:8000"
    assert s.env == "development"


def test_a_postgresql_url_switches_the_engine():
    s = load_settings({"RETORNO_DATABASE_URL": "postgres://u@db:5432/retorno"})
    assert s.engine == "postgres"
    assert s.database_url == "postgresql://u@db:5432/retorno"


def test_production_refuses_the_default_secret():
    with pytest.raises(SettingsError, match="RETORNO_SECRET_KEY"):
        load_settings({"RETORNO_ENV": "production"})
    with pytest.raises(SettingsError, match="RETORNO_SECRET_KEY"):
        load_settings({"RETORNO_ENV": "production", "RETORNO_SECRET_KEY": DEV_SECRET})
    ok = load_settings(
        {"RETORNO_ENV": "production", "RETORNO_SECRET_KEY": "x" * 40, "RETORNO_DATA_KEY": DATA_KEY}
    )
    assert ok.production and ok.scheme == "https"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RETORNO_DATABASE_URL", "mysql://root@localhost/retorno"),
        ("RETORNO_DATABASE_URL", "sqlite:///"),
        ("RETORNO_BASE_HOST", "https://localhost:8000/"),
        ("RETORNO_ENV", "staging"),
        ("RETORNO_SECRET_KEY", "short"),
        ("RETORNO_TRUSTED_PROXIES", "10.0.0.1,proxy.example"),
        ("RETORNO_SMTP_CONNECTIONS", "0"),
        ("RETORNO_SMTP_CONNECTIONS", "muitas"),
    ],
)
def test_a_bad_value_names_its_variable(variable, value):
    with pytest.raises(SettingsError) as info:
        load_settings({variable: value})
    assert str(info.value).startswith(variable)


def test_the_secret_never_shows_in_the_settings_repr():
    s = load_settings({"RETORNO_SECRET_KEY": "s3cr3t-" * 6})
    assert "s3cr3t" not in repr(s)


def test_the_command_stops_with_one_clear_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "RETORNO_ENV": "production", "RETORNO_VAR_DIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", "retorno", "migrate"], env=env, capture_output=True, text=True
    )
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "RETORNO_SECRET_KEY" in lines[0]
