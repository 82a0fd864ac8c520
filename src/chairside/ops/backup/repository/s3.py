"""A repository in any S3-compatible object store (AWS S3, SeaweedFS, MinIO, Ceph…).

``s3://bucket/prefix`` takes its endpoint, region, addressing style, credentials and
server-side encryption from the ``CHAIRSIDE_S3_*`` settings; a URL may override them for
one repository (a DR copy usually lives in another region or on another endpoint)::

    s3://dr-bucket/chairside?endpoint=https://s3.eu-west-1.example&region=eu-west-1
        &addressing=path&profile=dr&sse=AES256

Credentials never go in the URL: they come from the settings or the usual AWS chain
(environment, ``profile``, instance role). Each object is written by one PUT or one
multipart upload, both atomic in S3: a failed upload is aborted and leaves the previous
object (or none). Every object carries its SHA-256 as user metadata, so a copier can
compare checksums without downloading. Retries are bounded (``s3_max_attempts`` with
botocore's exponential backoff), so an unreachable endpoint fails in seconds with an
error naming the repository.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, cast
from urllib.parse import parse_qs, urlsplit

import boto3
import boto3.exceptions
import botocore.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from chairside.config import Settings, get_settings
from chairside.errors import ChairsideError, InputError
from chairside.ops.backup.repository.base import (
    ObjectInfo,
    ObjectNotFoundError,
    RepositoryError,
    validate_key,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from mypy_boto3_s3.client import S3Client

AddressingStyle = Literal["auto", "path", "virtual"]
SHA256_METADATA = "sha256"
# When an object was first archived (ISO 8601, UTC), set by a DR sync: S3 sets its own
# LastModified on upload, so ``stat`` reports this instead when present.
ARCHIVED_AT_METADATA = "archived-at"
_URL_OPTIONS = {"endpoint", "region", "addressing", "profile", "sse", "sse_kms_key_id"}
_MB = 1024 * 1024
# Error codes that mean "these credentials are not accepted", whatever the store calls it.
_AUTH_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "403",
}
log = logging.getLogger("chairside.backup.s3")

_STREAM_BUFFER = 1024 * 1024
# How often one streamed read may reconnect and resume before it gives up.
_STREAM_RESUMES = 3
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


@dataclass(frozen=True)
class S3Location:
    """Where an S3 repository is and how to talk to it (no secrets)."""

    bucket: str
    prefix: str
    endpoint_url: str | None
    region: str | None
    addressing_style: AddressingStyle
    profile: str | None
    sse: str
    sse_kms_key_id: str | None

    @classmethod
    def parse(cls, url: str, settings: Settings) -> S3Location:
        """Split ``s3://bucket/prefix?options`` and fill the gaps from ``settings``."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.hostname:
            raise InputError(
                f"repository {url!r} is not an S3 URL; use s3://bucket/prefix", field="repository"
            )
        if parts.username or parts.password or "@" in parts.netloc:
            raise InputError(
                f"repository {_redacted(url)!r} carries credentials in the URL; put them in "
                "CHAIRSIDE_S3_ACCESS_KEY_ID / CHAIRSIDE_S3_SECRET_ACCESS_KEY or an AWS profile",
                field="repository",
            )
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        unknown = sorted(set(options) - _URL_OPTIONS)
        if unknown:
            raise InputError(
                f"repository {url!r} has unknown option(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(_URL_OPTIONS))}",
                field="repository",
            )
        addressing = options.get("addressing", settings.s3_addressing_style)
        if addressing not in {"auto", "path", "virtual"}:
            raise InputError(
                f"repository {url!r}: addressing={addressing!r}; use auto, path or virtual",
                field="repository",
            )
        sse = options.get("sse", settings.s3_sse)
        if sse not in {"none", "AES256", "aws:kms"}:
            raise InputError(
                f"repository {url!r}: sse={sse!r}; use none, AES256 or aws:kms",
                field="repository",
            )
        return cls(
            bucket=parts.hostname,
            prefix=parts.path.strip("/"),
            endpoint_url=options.get("endpoint", settings.s3_endpoint_url),
            region=options.get("region", settings.s3_region),
            addressing_style=cast(AddressingStyle, addressing),
            profile=options.get("profile", settings.s3_profile),
            sse=sse,
            sse_kms_key_id=options.get("sse_kms_key_id", settings.s3_sse_kms_key_id),
        )


class S3Repository:
    """Objects under ``prefix/`` in one bucket; keys are the paths below the prefix."""

    # Listings give LastModified only (S3 lists no metadata): the upload time, which for a
    # DR copy is later than the archive time ``stat`` reports (see ``read_archive``).
    listed_time_is_upload_time = True

    def __init__(self, url: str, location: S3Location, settings: Settings) -> None:
        self._url = url
        self.location = location
        self.page_size = settings.s3_list_page_size
        self.max_attempts = settings.s3_max_attempts
        self.client = _make_client(location, settings)
        self.transfer_config = TransferConfig(
            multipart_threshold=settings.s3_multipart_threshold_mb * _MB,
            multipart_chunksize=settings.s3_multipart_chunk_mb * _MB,
            max_concurrency=settings.s3_max_concurrency,
        )

    @classmethod
    def from_url(cls, url: str, settings: Settings | None = None) -> S3Repository:
        """The repository at ``s3://bucket/prefix[?options]`` (settings fill what is unsaid)."""
        settings = settings or get_settings()
        return cls(url, S3Location.parse(url, settings), settings)

    @property
    def url(self) -> str:
        return self._url

    # ---- writes ------------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes, *, archived_at: datetime | None = None) -> None:
        """Store ``data`` in one PUT (atomic), with its SHA-256 as metadata.

        ``archived_at``: when the object was first archived (a DR copy keeps the
        primary's time, which ``stat`` then reports as the modification time).
        """
        extra = self._extra_args(hashlib.sha256(data).hexdigest(), archived_at=archived_at)
        with self._errors(f"cannot write {key}"):
            self.client.put_object(
                Bucket=self.location.bucket,
                Key=self._object_key(key),
                Body=data,
                **extra,
            )

    def put_file(self, key: str, path: Path, *, sha256: str | None = None) -> None:
        """Upload ``path`` (multipart above the threshold; a failed upload is aborted).

        ``sha256``: the file's checksum when the caller already computed it.
        """
        extra = self._extra_args(sha256 or _file_sha256(path))
        with self._errors(f"cannot write {key}"):
            self.client.upload_file(
                Filename=str(path),
                Bucket=self.location.bucket,
                Key=self._object_key(key),
                ExtraArgs=extra,
                Config=self.transfer_config,
            )

    def delete(self, key: str) -> None:
        with self._errors(f"cannot delete {key}"):
            self.client.delete_object(Bucket=self.location.bucket, Key=self._object_key(key))

    # ---- reads -------------------------------------------------------------------------

    def get_bytes(self, key: str) -> bytes:
        with self._errors(f"cannot read {key}", missing_key=key):
            response = self.client.get_object(
                Bucket=self.location.bucket, Key=self._object_key(key)
            )
            return response["Body"].read()

    def open_read(self, key: str) -> IO[bytes]:
        """The object as a stream; a connection lost mid-object resumes where it broke.

        A broken stream is reopened with a ranged GET pinned to the object's ETag (so the
        rest comes from the same object), up to :data:`_STREAM_RESUMES` times; after that,
        or for any other failure, the error names the repository.
        """
        with self._errors(f"cannot read {key}", missing_key=key):
            response = self.client.get_object(
                Bucket=self.location.bucket, Key=self._object_key(key)
            )
        return io.BufferedReader(_BodyReader(self, key, response), _STREAM_BUFFER)

    def _get_rest(self, key: str, offset: int, etag: str) -> Any:
        """The body of ``key`` from byte ``offset`` on, if the object is still ``etag``."""
        with self._errors(f"cannot resume reading {key} at byte {offset}", missing_key=key):
            response = self.client.get_object(
                Bucket=self.location.bucket,
                Key=self._object_key(key),
                Range=f"bytes={offset}-",
                IfMatch=etag,
            )
        return response["Body"]

    def get_file(self, key: str, path: Path) -> None:
        """Download to a temp file beside ``path`` and rename it into place."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        os.close(fd)
        try:
            with self._errors(f"cannot read {key}", missing_key=key):
                self.client.download_file(
                    Bucket=self.location.bucket,
                    Key=self._object_key(key),
                    Filename=tmp_name,
                    Config=self.transfer_config,
                )
            os.replace(tmp_name, path)
        finally:
            Path(tmp_name).unlink(missing_ok=True)

    def stat(self, key: str) -> ObjectInfo | None:
        """Size, time and (when we wrote it) SHA-256 of the object; None when absent.

        The time is the ``archived-at`` metadata when a sync stored one, else LastModified.
        """
        try:
            with self._errors(f"cannot stat {key}", missing_key=key):
                head = self.client.head_object(
                    Bucket=self.location.bucket, Key=self._object_key(key)
                )
        except ObjectNotFoundError:
            return None
        metadata = head.get("Metadata", {})
        return ObjectInfo(
            key=key,
            size=int(head["ContentLength"]),
            modified=_archived_at(metadata) or head.get("LastModified"),
            sha256=metadata.get(SHA256_METADATA),
        )

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, in key order, one page of results at a time.

        The time is LastModified (listings carry no metadata); ``stat`` has the archive time.
        """
        base = self._object_key_prefix()
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.location.bucket,
            Prefix=base + prefix,
            PaginationConfig={"PageSize": self.page_size},
        )
        with self._errors(f"cannot list {prefix or 'objects'}"):
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][len(base) :]
                    if not key or key.endswith("/"):
                        continue  # a "directory" placeholder some stores show, never an object
                    yield ObjectInfo(key=key, size=int(item["Size"]), modified=item["LastModified"])

    def check(self) -> None:
        """Prove the bucket exists and the credentials work (one cheap request)."""
        with self._errors("cannot open the repository"):
            self.client.list_objects_v2(
                Bucket=self.location.bucket, Prefix=self._object_key_prefix(), MaxKeys=1
            )

    # ---- helpers -----------------------------------------------------------------------

    def _object_key(self, key: str) -> str:
        return self._object_key_prefix() + validate_key(key)

    def _object_key_prefix(self) -> str:
        return f"{self.location.prefix}/" if self.location.prefix else ""

    def _extra_args(self, sha256: str, *, archived_at: datetime | None = None) -> dict[str, Any]:
        metadata = {SHA256_METADATA: sha256}
        if archived_at is not None:
            metadata[ARCHIVED_AT_METADATA] = archived_at.isoformat()
        extra: dict[str, Any] = {"Metadata": metadata}
        if self.location.sse != "none":
            extra["ServerSideEncryption"] = self.location.sse
            if self.location.sse == "aws:kms" and self.location.sse_kms_key_id:
                extra["SSEKMSKeyId"] = self.location.sse_kms_key_id
        return extra

    @contextmanager
    def _errors(self, action: str, *, missing_key: str | None = None) -> Iterator[None]:
        """Turn botocore's exceptions into errors that name this repository."""
        try:
            yield
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._translate(exc, action, missing_key) from None
        except boto3.exceptions.Boto3Error as exc:
            # boto3 wraps transfer failures; the botocore error underneath says why.
            cause = exc.__cause__ or exc.__context__
            if isinstance(
                cause, botocore.exceptions.BotoCoreError | botocore.exceptions.ClientError
            ):
                raise self._translate(cause, action, missing_key) from None
            raise RepositoryError(f"repository {self.describe()}: {action}: {exc}") from None

    def _translate(self, exc: Exception, action: str, missing_key: str | None) -> ChairsideError:
        where = f"repository {self.describe()}"
        if isinstance(exc, botocore.exceptions.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in _MISSING_CODES and missing_key is not None:
                return ObjectNotFoundError(f"{missing_key} is not in repository {self.url}")
            if code == "NoSuchBucket":
                return RepositoryError(
                    f"{where}: bucket {self.location.bucket!r} does not exist; create it "
                    "or fix the URL"
                )
            if code in _AUTH_CODES:
                return RepositoryError(
                    f"{where}: the store refused the credentials ({code}); {action}. Check "
                    "CHAIRSIDE_S3_ACCESS_KEY_ID / CHAIRSIDE_S3_SECRET_ACCESS_KEY or the AWS "
                    "profile"
                )
            message = error.get("Message") or code
            return RepositoryError(f"{where}: {action}: {code}: {message}")
        if isinstance(exc, botocore.exceptions.NoCredentialsError):
            return RepositoryError(
                f"{where}: no S3 credentials found; set CHAIRSIDE_S3_ACCESS_KEY_ID and "
                "CHAIRSIDE_S3_SECRET_ACCESS_KEY, AWS_* variables, or an AWS profile"
            )
        if isinstance(
            exc,
            botocore.exceptions.EndpointConnectionError
            | botocore.exceptions.ConnectTimeoutError
            | botocore.exceptions.ReadTimeoutError
            | botocore.exceptions.ConnectionClosedError,
        ):
            return RepositoryError(
                f"{where}: the S3 endpoint does not answer; {action} (gave up after "
                f"{self.max_attempts} attempts): {exc}"
            )
        return RepositoryError(f"{where}: {action}: {exc}")

    def describe(self) -> str:
        """The repository for messages: its URL and, when set, its endpoint."""
        endpoint = self.location.endpoint_url
        if endpoint and "endpoint=" not in self._url:
            return f"{self._url} (endpoint {endpoint})"
        return self._url


def _make_client(location: S3Location, settings: Settings) -> S3Client:
    session_kwargs: dict[str, Any] = {}
    if location.profile:
        session_kwargs["profile_name"] = location.profile
    elif settings.s3_access_key_id and settings.s3_secret_access_key is not None:
        session_kwargs["aws_access_key_id"] = settings.s3_access_key_id
        session_kwargs["aws_secret_access_key"] = settings.s3_secret_access_key.get_secret_value()
    try:
        session = boto3.session.Session(**session_kwargs)
    except botocore.exceptions.ProfileNotFound:
        raise InputError(
            f"AWS profile {location.profile!r} does not exist in ~/.aws/config or "
            "~/.aws/credentials",
            field="profile",
        ) from None
    config = Config(
        region_name=location.region,
        s3={"addressing_style": location.addressing_style},
        retries={"max_attempts": settings.s3_max_attempts, "mode": "standard"},
        connect_timeout=settings.s3_connect_timeout,
        read_timeout=settings.s3_read_timeout,
        # Only compute and send checksums when an operation demands them: some
        # S3-compatible stores reject the newer default CRC trailers.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return session.client("s3", endpoint_url=location.endpoint_url, config=config)


def _archived_at(metadata: Mapping[str, str]) -> datetime | None:
    """The ``archived-at`` metadata as a time; None when absent or not a time."""
    value = metadata.get(ARCHIVED_AT_METADATA)
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_MB):
            digest.update(chunk)
    return digest.hexdigest()


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://***@{host}{parts.path}"


# ---- handing S3 settings to other processes (archive_command runs as the server user) ----

CREDENTIALS_FILE = "s3-credentials"


def s3_environment(settings: Settings) -> dict[str, str]:
    """The S3 settings a child process needs, as environment variables, without secrets.

    A configured secret key is not put in the environment (it would show in
    ``postgresql.conf`` and ``ps``): it is named through ``AWS_SHARED_CREDENTIALS_FILE``,
    written by :func:`write_credentials_file`.
    """
    env = {
        "CHAIRSIDE_S3_ADDRESSING_STYLE": settings.s3_addressing_style,
        "CHAIRSIDE_S3_SSE": settings.s3_sse,
        "CHAIRSIDE_S3_MAX_ATTEMPTS": str(settings.s3_max_attempts),
    }
    optional = {
        "CHAIRSIDE_S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "CHAIRSIDE_S3_REGION": settings.s3_region,
        "CHAIRSIDE_S3_PROFILE": settings.s3_profile,
        "CHAIRSIDE_S3_SSE_KMS_KEY_ID": settings.s3_sse_kms_key_id,
    }
    env.update({k: v for k, v in optional.items() if v})
    if settings.s3_access_key_id and settings.s3_secret_access_key is not None:
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(settings.home.absolute() / CREDENTIALS_FILE)
    return env


def write_credentials_file(settings: Settings, *, owner: tuple[int, int] | None = None) -> None:
    """Write the configured key pair as an AWS credentials file (0600, for ``owner``)."""
    if not settings.s3_access_key_id or settings.s3_secret_access_key is None:
        return
    path = settings.home.absolute() / CREDENTIALS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(
            "[default]\n"
            f"aws_access_key_id = {settings.s3_access_key_id}\n"
            f"aws_secret_access_key = {settings.s3_secret_access_key.get_secret_value()}\n"
        )
    if owner is not None:
        os.chown(path, *owner)


class _BodyReader(io.RawIOBase):
    """An S3 response body as a raw stream that resumes a broken connection.

    Failures name the repository. Reading a multi-gigabyte backup in one GET is fast but
    one reset connection would otherwise fail a whole restore.
    """

    def __init__(self, repository: S3Repository, key: str, response: Mapping[str, Any]) -> None:
        self._repository = repository
        self._key = key
        self._body = response["Body"]
        self._etag = str(response.get("ETag", ""))
        self._size = int(response.get("ContentLength", -1))
        self._offset = 0
        self._resumes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        with memoryview(buffer) as view:
            data = self._read(view.nbytes)
            view[: len(data)] = data
        self._offset += len(data)
        return len(data)

    def _read(self, size: int) -> bytes:
        while True:
            try:
                with self._repository._errors(f"cannot read {self._key}"):
                    data: bytes = self._body.read(size)
                return data
            except RepositoryError as exc:
                if self._resumes >= _STREAM_RESUMES or not self._etag:
                    raise RepositoryError(
                        f"{exc.message} (at byte {self._offset}, after {self._resumes} "
                        "resumed connections)"
                    ) from None
                if 0 <= self._size <= self._offset:
                    return b""
                self._resumes += 1
                log.warning(
                    "S3 read broke, resuming",
                    extra={"key": self._key, "offset": self._offset, "error": exc.message},
                )
                self._close_body()
                self._body = self._repository._get_rest(self._key, self._offset, self._etag)

    def _close_body(self) -> None:
        try:
            self._body.close()
        except Exception:  # noqa: BLE001 - a broken connection may fail to close too
            pass

    def close(self) -> None:
        if not self.closed:
            self._close_body()
        super().close()
