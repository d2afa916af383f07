"""Development secrets, generated on first run into an ignored directory.

Only the embedded (DEBUG) configuration uses these; production reads its keys from
files named in the environment and refuses to start without them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    # Atomic rename: two processes starting together both end up with one key.
    if not path.exists():
        os.replace(tmp, path)
    else:
        tmp.unlink()


def private_directory(path: Path) -> Path:
    """``path``, made if missing, readable by this user only (new directories only: an
    operator's existing directory keeps its mode)."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True)
    return path


def private_file(path: Path) -> Path:
    """``path``, created empty if missing, readable and writable by this user only.

    For the SQLite database: SQLite creates it with the process umask (usually 0644, world-
    readable) and gives its journal files the same mode, so it is made 0600 first.
    """
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    elif path.stat().st_mode & 0o077 and path.stat().st_uid == os.getuid():
        path.chmod(0o600)
    return path


def dev_secret_key(directory: Path) -> str:
    path = directory / "dev-secret-key.txt"
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(50).encode())
    return path.read_text().strip()


def dev_jwt_keys(directory: Path) -> tuple[Path, Path]:
    """Paths of an Ed25519 key pair (PEM), made on first use."""
    private_path = directory / "dev-jwt-ed25519.pem"
    public_path = directory / "dev-jwt-ed25519.pub.pem"
    if not private_path.exists():
        key = Ed25519PrivateKey.generate()
        _write_private(
            private_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
    if not public_path.exists():
        private = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        _write_private(
            public_path,
            private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
    return private_path, public_path
