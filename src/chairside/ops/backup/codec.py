"""How bytes are stored in a repository: zstd compression and AES-256-GCM stream encryption.

The encrypted stream format (docs/backup-format.md)::

    b"CSENC1\\n" | 16-byte key_id | chunks: 4-byte BE length N | 12-byte nonce | N bytes

Each chunk holds up to :data:`CHUNK_SIZE` bytes of plaintext; its nonce is random and
its associated data binds the chunk index and a final-chunk flag, so a reordered,
truncated or flipped stream fails authentication instead of decrypting to garbage.
The key is 32 bytes read from a file; its ``key_id`` (first 16 hex of its SHA-256)
is written in clear so a wrong key is named before any decryption is tried.

Errors::

    KeyMissingError (ConfigError)     encryption is configured but the key file is unusable
    WrongKeyError (ConfigError)       the data was encrypted with another key
    IntegrityError (OperationFailed)  a checksum or an authentication tag does not match
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, Protocol

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chairside.errors import ConfigError, OperationFailedError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MAGIC = b"CSENC1\n"
KEY_ID_LENGTH = 16
NONCE_LENGTH = 12
TAG_LENGTH = 16
CHUNK_SIZE = 4 * 1024 * 1024
ALGORITHM = "AES-256-GCM"
DEFAULT_ZSTD_LEVEL = 1
_COPY_BUFFER = 1024 * 1024


class KeyMissingError(ConfigError):
    """Encryption is configured, but the key file is missing, unreadable or malformed."""


class WrongKeyError(ConfigError):
    """The data was encrypted with a key other than the configured one (or none is set)."""


class IntegrityError(OperationFailedError):
    """Stored bytes do not match their checksum, or fail authentication."""


@dataclass(frozen=True)
class BackupKey:
    """A 32-byte AES key and its public ``key_id``."""

    secret: bytes
    source: str = "<memory>"

    def __post_init__(self) -> None:
        if len(self.secret) != 32:
            raise KeyMissingError(
                f"backup key from {self.source} has {len(self.secret)} bytes; "
                "it must be 32 raw bytes or 64 hex characters"
            )

    @property
    def key_id(self) -> str:
        return key_id_of(self.secret)

    def __repr__(self) -> str:  # never print the secret
        return f"BackupKey(key_id={self.key_id!r}, source={self.source!r})"


def key_id_of(secret: bytes) -> str:
    """The public identifier of a key: the first 16 hex characters of its SHA-256."""
    return hashlib.sha256(secret).hexdigest()[:KEY_ID_LENGTH]


def load_key(path: Path | None) -> BackupKey | None:
    """The key in ``path`` (32 raw bytes or 64 hex), or None when encryption is off."""
    if path is None:
        return None
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KeyMissingError(
            f"CHAIRSIDE_BACKUP_KEY_FILE={str(path)!r} does not exist; encryption is configured, "
            "so nothing is written or read without it (create one with: "
            f"head -c 32 /dev/urandom > {path}; chmod 600 {path})"
        ) from None
    except OSError as exc:
        raise KeyMissingError(
            f"CHAIRSIDE_BACKUP_KEY_FILE={str(path)!r} cannot be read ({exc.strerror}); "
            "it must be readable by the user running chairside (and by the postgres user "
            "for WAL archiving)"
        ) from None
    text = raw.strip()
    if len(text) == 64:
        try:
            return BackupKey(bytes.fromhex(text.decode("ascii")), source=str(path))
        except (UnicodeDecodeError, ValueError):
            pass
    if len(raw) == 32:
        return BackupKey(raw, source=str(path))
    raise KeyMissingError(
        f"CHAIRSIDE_BACKUP_KEY_FILE={str(path)!r} holds {len(raw)} bytes; a key is 32 raw "
        "bytes or 64 hex characters"
    )


def generate_key_file(path: Path) -> BackupKey:
    """Write a new random key (hex) to ``path`` with mode 0600 and return it."""
    secret = os.urandom(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret.hex() + "\n")
    return BackupKey(secret, source=str(path))


# ---- checksums -------------------------------------------------------------------------


def sha256_file(path: Path) -> tuple[int, str]:
    """The size and SHA-256 (hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(_COPY_BUFFER):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """The SHA-256 of ``data`` as hex."""
    return hashlib.sha256(data).hexdigest()


class DigestingReader(io.RawIOBase):
    """Reads through ``source`` and keeps the size and SHA-256 of what passed."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.size = 0
        self._digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        with memoryview(buffer) as view:
            data = self.source.read(view.nbytes)
            view[: len(data)] = data
        self.size += len(data)
        self._digest.update(data)
        return len(data)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class Writable(Protocol):
    """Anything bytes can be written to (a file, :class:`DigestingWriter`)."""

    def write(self, data: bytes, /) -> int: ...


class DigestingWriter:
    """Writes through to ``target`` and keeps the size and SHA-256 of what passed."""

    def __init__(self, target: Writable) -> None:
        self.target = target
        self.size = 0
        self._digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        written = self.target.write(data)
        self.size += len(data)
        self._digest.update(data)
        return written

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class ChunkReader(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (e.g. :func:`decrypt_chunks`)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        with memoryview(buffer) as view:
            count = min(view.nbytes, len(self._pending))
            view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


# ---- compression -----------------------------------------------------------------------


def compress_bytes(data: bytes, *, level: int = DEFAULT_ZSTD_LEVEL) -> bytes:
    """``data`` as one zstd frame."""
    return zstandard.ZstdCompressor(level=level, write_checksum=True).compress(data)


_ONE_SHOT_LIMIT = 256 * 1024 * 1024


def decompress_bytes(data: bytes) -> bytes:
    """The content of a zstd frame; :class:`IntegrityError` if it is not one."""
    decompressor = zstandard.ZstdDecompressor()
    try:
        stated = zstandard.frame_content_size(data)
    except zstandard.ZstdError:
        stated = -1
    # One frame that states a plausible size (what compress_bytes writes) is decompressed
    # in one allocation, 2-3x faster than the stream reader, which WAL replay waits on. A
    # damaged header stating a huge size must not become a huge allocation: the stream
    # reader takes that, and several frames or damage (it names which).
    if 0 <= stated <= _ONE_SHOT_LIMIT:
        try:
            return decompressor.decompress(data, allow_extra_data=False)
        except zstandard.ZstdError:
            pass
    try:
        return decompressor.stream_reader(data, read_across_frames=True).read()
    except zstandard.ZstdError as exc:
        raise IntegrityError(f"stored data is not a valid zstd stream: {exc}") from None


def compress_file(source: Path, target: Path, *, level: int = DEFAULT_ZSTD_LEVEL) -> None:
    """Compress ``source`` into ``target`` (streaming, multi-threaded on large files)."""
    compressor = zstandard.ZstdCompressor(level=level, write_checksum=True, threads=-1)
    with source.open("rb") as src, target.open("wb") as dst:
        compressor.copy_stream(src, dst, read_size=_COPY_BUFFER, write_size=_COPY_BUFFER)


def decompress_file(source: Path, target: Path) -> None:
    """Decompress the zstd file ``source`` into ``target``."""
    try:
        with source.open("rb") as src, target.open("wb") as dst:
            zstandard.ZstdDecompressor().copy_stream(src, dst, read_size=_COPY_BUFFER)
    except zstandard.ZstdError as exc:
        raise IntegrityError(f"{source.name} is not a valid zstd stream: {exc}") from None


# ---- encryption ------------------------------------------------------------------------


def _aad(index: int, final: bool) -> bytes:
    return struct.pack(">QB", index, 1 if final else 0)


def _chunks(handle: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """Plaintext chunks with a flag on the last one (an empty input is one empty chunk)."""
    current = handle.read(CHUNK_SIZE)
    while True:
        following = handle.read(CHUNK_SIZE)
        yield current, not following
        if not following:
            return
        current = following


def encrypt_stream(source: BinaryIO, target: Writable, key: BackupKey) -> None:
    """Encrypt everything readable from ``source`` into ``target``."""
    cipher = AESGCM(key.secret)
    target.write(MAGIC + key.key_id.encode("ascii"))
    for index, (plain, final) in enumerate(_chunks(source)):
        nonce = os.urandom(NONCE_LENGTH)
        sealed = cipher.encrypt(nonce, plain, _aad(index, final))
        target.write(struct.pack(">I", len(sealed)) + nonce + sealed)


def stored_key_id(header: bytes) -> str | None:
    """The key_id an encrypted object names, or None when it is not encrypted."""
    if not header.startswith(MAGIC) or len(header) < len(MAGIC) + KEY_ID_LENGTH:
        return None
    return header[len(MAGIC) : len(MAGIC) + KEY_ID_LENGTH].decode("ascii", "replace")


def check_key(stored: str | None, key: BackupKey | None, *, what: str) -> None:
    """Refuse before decrypting when ``key`` is not the one ``what`` was encrypted with."""
    if stored is None:
        return
    if key is None:
        raise WrongKeyError(
            f"{what} is encrypted with key {stored}, but no key is configured; set "
            "CHAIRSIDE_BACKUP_KEY_FILE to the file holding that key"
        )
    if key.key_id != stored:
        raise WrongKeyError(
            f"{what} is encrypted with key {stored}, but the configured key "
            f"({key.source}) is {key.key_id}; use the key it was written with"
        )


def decrypt_stream(source: BinaryIO, target: BinaryIO, key: BackupKey, *, what: str) -> None:
    """Decrypt ``source`` into ``target``; wrong key, tampering or truncation all raise."""
    for plain in decrypt_chunks(source, key, what=what):
        target.write(plain)


def decrypt_chunks(source: IO[bytes], key: BackupKey, *, what: str) -> Iterator[bytes]:
    """The plaintext of ``source``, one authenticated chunk at a time."""
    header = source.read(len(MAGIC) + KEY_ID_LENGTH)
    stored = stored_key_id(header)
    if stored is None:
        raise IntegrityError(f"{what} is not an encrypted Chairside object (bad header)")
    check_key(stored, key, what=what)
    cipher = AESGCM(key.secret)
    index = 0
    pending = _read_chunk(source, what=what)
    if pending is None:
        raise IntegrityError(f"{what} is truncated: no data after the header")
    while pending is not None:
        following = _read_chunk(source, what=what)
        nonce, sealed = pending
        try:
            plain = cipher.decrypt(nonce, sealed, _aad(index, following is None))
        except InvalidTag:
            raise IntegrityError(
                f"{what} fails authentication at chunk {index}: the data was changed or truncated"
            ) from None
        yield plain
        pending = following
        index += 1


def _read_chunk(source: IO[bytes], *, what: str) -> tuple[bytes, bytes] | None:
    prefix = source.read(4 + NONCE_LENGTH)
    if not prefix:
        return None
    if len(prefix) < 4 + NONCE_LENGTH:
        raise IntegrityError(f"{what} is truncated inside a chunk header")
    (length,) = struct.unpack(">I", prefix[:4])
    if length < TAG_LENGTH or length > CHUNK_SIZE + TAG_LENGTH:
        raise IntegrityError(f"{what} has a chunk of impossible length {length}")
    sealed = source.read(length)
    if len(sealed) != length:
        raise IntegrityError(f"{what} is truncated inside a chunk")
    return prefix[4:], sealed


def encrypt_file(source: Path, target: Path, key: BackupKey) -> tuple[int, str]:
    """Encrypt the file ``source`` into ``target``; the size and SHA-256 of ``target``.

    The checksum is taken of the bytes as they are written, so the encrypted copy (as
    large as the file) is not read a second time to checksum it.
    """
    with source.open("rb") as src, target.open("wb") as dst:
        digesting = DigestingWriter(dst)
        encrypt_stream(src, digesting, key)
    return digesting.size, digesting.hexdigest()


def decrypt_file(source: Path, target: Path, key: BackupKey, *, what: str) -> None:
    """Decrypt the file ``source`` into ``target``."""
    with source.open("rb") as src, target.open("wb") as dst:
        decrypt_stream(src, dst, key, what=what)


def encrypt_bytes(data: bytes, key: BackupKey) -> bytes:
    """``data`` encrypted in the stream format."""
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, key)
    return out.getvalue()


def decrypt_bytes(data: bytes, key: BackupKey | None, *, what: str) -> bytes:
    """The plaintext of an encrypted object; refuses a missing or wrong key by key_id."""
    stored = stored_key_id(data[: len(MAGIC) + KEY_ID_LENGTH])
    if stored is None:
        raise IntegrityError(f"{what} is not an encrypted Chairside object (bad header)")
    check_key(stored, key, what=what)
    assert key is not None  # check_key refused a missing key
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(data), out, key, what=what)
    return out.getvalue()
