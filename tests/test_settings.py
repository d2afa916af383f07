"""Settings: the env readers, and production refusing to start half-configured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from pianorhythm.env import env_bool, env_int, env_list, require

ROOT = Path(__file__).resolve().parent.parent


def test_env_bool_reads_common_spellings() -> None:
    assert env_bool("X", False, {"X": "yes"}) is True
    assert env_bool("X", True, {"X": "0"}) is False
    assert env_bool("X", True, {}) is True


def test_env_bool_rejects_garbage_naming_the_variable() -> None:
    with pytest.raises(ImproperlyConfigured, match="DEBUG"):
        env_bool("DEBUG", True, {"DEBUG": "maybe"})


def test_env_int_enforces_bounds() -> None:
    assert env_int("N", 3, {"N": "7"}) == 7
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("N", 3, {"N": "0"}, minimum=1)
    with pytest.raises(ImproperlyConfigured, match="integer"):
        env_int("N", 3, {"N": "seven"})


def test_env_list_drops_blanks() -> None:
    assert env_list("H", None, {"H": " a.example, ,b.example "}) == ["a.example", "b.example"]


def test_require_names_the_missing_variable() -> None:
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        require("SECRET_KEY", {})


def _manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def production_env(tmp_path: Path) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = tmp_path / "jwt.pem"
    public = tmp_path / "jwt.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return {
        "DEBUG": "0",
        "SECRET_KEY": "x" * 20 + "-production-secret-key-with-enough-entropy-0123456789",
        "ALLOWED_HOSTS": "piano.example.org",
        "JWT_PRIVATE_KEY_FILE": str(private),
        "JWT_PUBLIC_KEY_FILE": str(public),
        "VAR_DIR": str(tmp_path / "var"),
    }


def test_check_deploy_is_clean_in_production(production_env: dict[str, str]) -> None:
    result = _manage(["check", "--deploy", "--fail-level", "WARNING"], production_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "JWT_PRIVATE_KEY_FILE"])
def test_production_refuses_to_start_without(production_env: dict[str, str], missing: str) -> None:
    env = {**production_env, missing: ""}
    result = _manage(["check"], env)
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr


def test_production_has_debug_off_and_secure_cookies(production_env: dict[str, str]) -> None:
    code = (
        "from django.conf import settings as s;"
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0)"
    )
    result = _manage(["shell", "-v", "0", "-c", code], production_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "True"]


def test_embedded_database_and_keys_are_private_to_their_owner(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    result = _manage(["migrate", "-v", "0"], {"VAR_DIR": str(var_dir), "DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    assert var_dir.stat().st_mode & 0o777 == 0o700
    for path in var_dir.iterdir():  # the database and the development keys
        assert path.stat().st_mode & 0o077 == 0, f"{path.name} is readable by others"
    assert (var_dir / "db.sqlite3").stat().st_size > 0


def test_an_existing_world_readable_database_is_made_private(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    database = var_dir / "db.sqlite3"
    database.touch(mode=0o644)
    database.chmod(0o644)
    result = _manage(["migrate", "-v", "0"], {"VAR_DIR": str(var_dir), "DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    assert database.stat().st_mode & 0o777 == 0o600


def test_postgresql_connections_come_from_a_bounded_pool(tmp_path: Path) -> None:
    code = (
        "from django.conf import settings as s; d = s.DATABASES['default'];"
        "print(d['CONN_MAX_AGE'], sorted(d['OPTIONS']['pool'].items()))"
    )
    env = {
        "DEBUG": "1",
        "VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/piano",
        "DATABASE_POOL_SIZE": "7",
        "DATABASE_POOL_TIMEOUT": "2.5",
    }
    result = _manage(["shell", "-v", "0", "-c", code], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0 [('max_size', 7), ('min_size', 2), ('timeout', 2.5)]"


def test_kept_connections_are_refused(tmp_path: Path) -> None:
    env = {"DEBUG": "1", "VAR_DIR": str(tmp_path / "var"), "DATABASE_CONN_MAX_AGE": "60"}
    result = _manage(["check"], env)
    assert result.returncode != 0
    assert "DATABASE_CONN_MAX_AGE" in result.stderr


def test_the_loaded_application_is_out_of_the_garbage_collectors_sight(tmp_path: Path) -> None:
    # docs/architecture.md, Garbage collection: full collections must not walk Django.
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    script = "import gc, pianorhythm.asgi; print(gc.get_freeze_count(), len(gc.get_objects()))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**base, "VAR_DIR": str(tmp_path / "var"), "DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    frozen, watched = (int(n) for n in result.stdout.split())
    assert frozen > 50_000
    assert watched < frozen / 10
