"""Safe extraction of an uploaded zip or tar archive into one folder, for archive indexing jobs.

Every member is checked before anything is written for it: no absolute paths, no `..`, nothing that
resolves outside the target, and only plain files and folders (symlinks, hard links and devices are
refused; tar members also pass the stdlib `data` filter). Sizes are counted as bytes actually written,
not as the archive's headers claim, so a zip bomb stops at the limit.
"""

from __future__ import annotations

import re
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

COPY_CHUNK = 1 << 16
_DRIVE = re.compile(r"^[A-Za-z]:")
_DATA_FILTER = getattr(tarfile, "data_filter", None)


class ArchiveError(Exception):
    """Not a zip or tar archive, or a corrupt one (422)."""


class UnsafeArchiveMember(ArchiveError):
    """A member that could write outside the target or is not a plain file or folder (422)."""


class ArchiveTooLarge(Exception):
    """More entries or more unpacked bytes than the settings allow (413)."""


class _Budget:
    def __init__(self, max_files: int, max_bytes: int):
        self.max_files, self.max_bytes = max_files, max_bytes
        self.files = self.bytes = 0

    def entry(self) -> None:
        self.files += 1
        if self.files > self.max_files:
            raise ArchiveTooLarge(
                f"the archive has more than {self.max_files} entries (QUARRY_MAX_ARCHIVE_FILES); split it into smaller uploads"
            )

    def copy(self, source: BinaryIO, target: Path) -> None:
        with target.open("wb") as out:
            while chunk := source.read(COPY_CHUNK):
                self.bytes += len(chunk)
                if self.bytes > self.max_bytes:
                    raise ArchiveTooLarge(
                        f"the archive unpacks to more than {self.max_bytes} bytes"
                        " (QUARRY_MAX_ARCHIVE_UNPACKED_BYTES); split it into smaller uploads"
                    )
                out.write(chunk)


def member_target(dest: Path, name: str) -> Path | None:
    """Where member `name` goes under dest; None for the archive's root entry ("./"). Raises if unsafe."""
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise UnsafeArchiveMember(f"archive member {name!r} has an absolute path; members must be relative")
    parts = [p for p in re.split(r"[/\\]", name) if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveMember(f"archive member {name!r} contains '..'; members must stay inside the archive")
    if not parts:
        return None
    target = dest.joinpath(*parts)
    if not target.resolve().is_relative_to(dest.resolve()):
        raise UnsafeArchiveMember(f"archive member {name!r} resolves outside the archive folder")
    return target


def extract_archive(archive: Path, dest: Path, max_files: int, max_unpacked_bytes: int) -> int:
    """Unpack `archive` (zip, tar, tar.gz/bz2/xz) into dest; returns the number of files written.

    On any error dest may hold part of the archive; the caller removes it.
    """
    dest.mkdir(parents=True, exist_ok=True)
    budget = _Budget(max_files, max_unpacked_bytes)
    files = 0
    try:
        if zipfile.is_zipfile(archive):
            files = _extract_zip(archive, dest, budget)
        else:
            with _open_tar(archive) as tar:
                files = _extract_tar(tar, dest, budget)
    except (zipfile.BadZipFile, tarfile.ReadError, EOFError, ValueError, OSError, RuntimeError) as exc:
        # RuntimeError: an encrypted zip member; OSError: a member that cannot be written (a file where a folder goes)
        raise ArchiveError(f"the archive could not be read: {exc or type(exc).__name__}") from None
    if files == 0:
        raise ArchiveError("the archive holds no files")
    return files


@contextmanager
def _open_tar(archive: Path) -> Iterator[tarfile.TarFile]:
    try:
        tar = tarfile.open(archive, mode="r:*")
    except tarfile.TarError:
        raise ArchiveError("the body is not a zip or tar archive (tar, tar.gz, tar.bz2, tar.xz)") from None
    with tar:
        yield tar


def _extract_zip(archive: Path, dest: Path, budget: _Budget) -> int:
    files = 0
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        if len(members) > budget.max_files:  # the central directory says so before anything is written
            budget.files = len(members) - 1
            budget.entry()
        for info in members:
            budget.entry()
            target = member_target(dest, info.filename)
            kind = stat.S_IFMT(info.external_attr >> 16)  # Unix file type, when the zip was made on Unix
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeArchiveMember(f"archive member {info.filename!r} is a link or device; only files and folders are accepted")
            # zf.open checks the CRC at the end: a corrupt member raises BadZipFile
            files += _write_member(target, info.is_dir(), lambda info=info: zf.open(info), budget)
    return files


def _extract_tar(tar: tarfile.TarFile, dest: Path, budget: _Budget) -> int:
    files = 0
    for member in tar:
        budget.entry()
        if not (member.isfile() or member.isdir()):
            kind = "link" if member.issym() or member.islnk() else "device or special file"
            raise UnsafeArchiveMember(f"archive member {member.name!r} is a {kind}; only files and folders are accepted")
        target = member_target(dest, member.name)
        if _DATA_FILTER is not None:  # the stdlib's own rules (Python 3.11.4+), on top of ours
            try:
                _DATA_FILTER(member, str(dest))
            except tarfile.FilterError as exc:
                raise UnsafeArchiveMember(f"archive member {member.name!r} refused: {exc}") from None
        files += _write_member(target, member.isdir(), lambda member=member: tar.extractfile(member), budget)
    return files


def _write_member(target: Path | None, is_dir: bool, open_source, budget: "_Budget") -> int:
    """Create one checked member (target None: nothing to write); 1 when a file was written."""
    if target is None:
        return 0
    if is_dir:
        target.mkdir(parents=True, exist_ok=True)
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with open_source() as source:  # isfile() tar members and zip files always have data
        budget.copy(source, target)
    return 1

