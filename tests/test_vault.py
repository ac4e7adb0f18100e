"""Stored credentials are sealed (AES-GCM under RETORNO_DATA_KEY): a dump of the database holds no
usable secret, a key can be rotated, and what was stored in plain text before is sealed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from retorno import db, vault
from retorno.push import keys as push_keys
from retorno.settings import SettingsError
from tests.conftest import make_settings

KEY_A, KEY_B = vault.new_key(), vault.new_key()


async def _dump(engine) -> bytes:
    """Every row of every table, as text; on SQLite the database file and its WAL as well."""
    parts = []
    for table in db.table_classes():
        rows = await db.fetch(f'SELECT * FROM "{table._meta.tablename}"')
        parts.append(repr(rows).encode())
    if isinstance(engine, db.LocalSQLiteEngine):
        engine.writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        for suffix in ("", "-wal"):
            if os.path.exists(engine.path + suffix):
                with open(engine.path + suffix, "rb") as f:
                    parts.append(f.read())
    return b"\n".join(parts)


async def test_a_database_dump_holds_no_usable_private_key(engine, demo):
    dump = await _dump(engine)
    for brand in demo.values():
        private = (await push_keys._keys(brand.id)).private_key
        assert len(private) >= 40
        assert private.encode() not in dump  # neither the text of the key...
        raw = vault.decode_key(private)
        assert raw not in dump  # ...nor its bytes
    rows = await db.fetch("SELECT private_key FROM push_vapid_keys")
    assert rows and all(r["private_key"].startswith("sealed:v1:") for r in rows)


async def test_a_sealed_key_moved_to_another_brand_does_not_open(demo):
    bella, mare = demo["bella"].id, demo["mare"].id
    [row] = await db.fetch("SELECT private_key FROM push_vapid_keys WHERE brand = {}", bella)
    await db.write(
        lambda: db.fetch(
            "UPDATE push_vapid_keys SET private_key = {} WHERE brand = {}", row["private_key"], mare
        )
    )
    with pytest.raises(vault.VaultError, match="altered or moved"):
        await push_keys._keys(mare)


async def test_rotating_the_data_key_seals_everything_again_and_the_old_key_can_go(demo):
    before = {b.id: (await push_keys._keys(b.id)).private_key for b in demo.values()}
    vault.configure(vault.decode_key(KEY_B), (vault.DEV_KEY,))  # the new key, the old one kept to read
    assert await push_keys.seal_keys() == 2
    assert await push_keys.seal_keys() == 0  # idempotent
    vault.configure(vault.decode_key(KEY_B))  # the old key dropped
    after = {b.id: (await push_keys._keys(b.id)).private_key for b in demo.values()}
    assert after == before
    signed = (await push_keys.vapid_of(demo["bella"].id)).sign(
        {"aud": "https://push.example", "exp": 2**31 - 1, "sub": "mailto:a@b.c"}
    )
    assert signed["Authorization"].startswith("vapid t=")
    vault.configure(vault.decode_key(KEY_A))  # a key that never sealed them
    with pytest.raises(vault.VaultError, match="RETORNO_DATA_KEYS_PREVIOUS"):
        await push_keys._keys(demo["bella"].id)


async def test_retorno_secrets_rotate_on_the_command_line(database_url, demo):
    env = {**os.environ, "RETORNO_DATABASE_URL": database_url, "RETORNO_ENV": "test"}
    rotate = [sys.executable, "-m", "retorno", "secrets", "rotate"]
    first = subprocess.run(
        rotate, env=env | {"RETORNO_DATA_KEY": KEY_A}, capture_output=True, text=True, check=False
    )
    assert (
        first.returncode == 1 and "nothing changed" in first.stderr and "Traceback" not in first.stderr
    )  # the dev key is unknown to it
    done = subprocess.run(
        rotate,
        env=env
        | {"RETORNO_DATA_KEY": KEY_A, "RETORNO_DATA_KEYS_PREVIOUS": vault.new_key() + "," + _dev_key()},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "2 stored credentials sealed" in done.stdout
    vault.configure(vault.decode_key(KEY_A))
    assert len((await push_keys._keys(demo["bella"].id)).private_key) >= 40


def _dev_key() -> str:
    import base64

    return base64.urlsafe_b64encode(vault.DEV_KEY).decode().rstrip("=")


async def test_a_key_stored_in_plain_text_before_sealing_is_sealed_by_migrate(database_url, demo):
    private, public = push_keys.new_key_pair()
    await db.write(
        lambda: db.fetch(
            "UPDATE push_vapid_keys SET private_key = {}, public_key = {} WHERE brand = {}",
            private,
            public,
            demo["bella"].id,
        )
    )
    assert (await push_keys._keys(demo["bella"].id)).private_key == private  # read as it is meanwhile
    env = {**os.environ, "RETORNO_DATABASE_URL": database_url, "RETORNO_ENV": "test"}
    done = subprocess.run(
        [sys.executable, "-m", "retorno", "migrate"], env=env, capture_output=True, text=True, check=True
    )
    assert "1 keys sealed" in done.stdout
    [row] = await db.fetch("SELECT private_key FROM push_vapid_keys WHERE brand = {}", demo["bella"].id)
    assert row["private_key"].startswith("sealed:v1:") and private not in row["private_key"]
    assert (await push_keys._keys(demo["bella"].id)).private_key == private


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RETORNO_ENV": "production", "RETORNO_SECRET_KEY": "s" * 40}, "RETORNO_DATA_KEY is required"),
        ({"RETORNO_DATA_KEY": "short"}, "RETORNO_DATA_KEY must be 32 random bytes"),
        ({"RETORNO_DATA_KEYS_PREVIOUS": "nope"}, "RETORNO_DATA_KEYS_PREVIOUS must be 32 random bytes"),
        ({"RETORNO_SECRET_KEY": KEY_A, "RETORNO_DATA_KEY": KEY_A}, "must not be the session secret"),
    ],
)
def test_data_key_settings_are_checked(env, message):
    with pytest.raises(SettingsError, match=message):
        make_settings("sqlite:///x.db", **env)
    assert make_settings("sqlite:///x.db", RETORNO_DATA_KEY=KEY_A).data_key == KEY_A


async def test_rotating_seals_the_whatsapp_token_and_app_secret_again(demo, clock):
    from retorno.messages import settings as message_settings

    bella = demo["bella"].id
    await message_settings.save_settings(
        brand_id=bella,
        quiet_start="21:00",
        quiet_end="09:00",
        weekly_cap=3,
        whatsapp_number_id="1098765432",
        whatsapp_token="EAAG-token-de-teste",
        whatsapp_app_secret="segredo-do-app",
        now=clock(),
    )
    [row] = await db.fetch("SELECT whatsapp_token, whatsapp_app_secret FROM message_settings")
    assert row["whatsapp_token"].startswith("sealed:v1:") and "EAAG" not in row["whatsapp_token"]
    vault.configure(vault.decode_key(KEY_B), (vault.DEV_KEY,))
    assert await message_settings.seal_secrets() == 2
    assert await message_settings.seal_secrets() == 0
    vault.configure(vault.decode_key(KEY_B))
    opened = await message_settings.credentials(bella)
    assert (opened.token, opened.app_secret) == ("EAAG-token-de-teste", "segredo-do-app")
