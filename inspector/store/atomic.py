"""Atomic writes: a temporary file in the same folder, fsync, then `os.replace`.

A crash (even kill -9 or a power cut after the fsync) at any point leaves either the old file
or the new one, never a mix. Temporary names start with a dot and end in `.tmp`, staging
folders contain `.staging-`, so `clean_leftovers` can sweep what a killed process left behind.
Failures (full disk, permissions, read-only media) become `InspectorError`s naming the file.

Deleting is atomic too (`delete_directory`): the folder is first renamed to a tombstone
(`.<name>.deleted-*`), which nothing ever renames back, then removed; an interrupted removal
is finished by `clean_leftovers`, so a deleted model never comes back.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tempfile
import time
import uuid
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np

from inspector.types import InspectorError

_TMP_SUFFIX = ".tmp"
_STAGING_MARK = ".staging-"
_OLD_MARK = ".old-"
#: A folder being deleted: renamed to `.<name>.deleted-*` first, never restored, removed on sight.
_TOMBSTONE_MARK = ".deleted-"


def _current_umask() -> int:
    """The process umask, read without changing it where the OS allows (thread-safe on Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    if os.name == "nt":
        return 0
    mask = os.umask(0o022)  # only reached off Linux; done once, at import
    os.umask(mask)
    return mask


_NEW_FILE_MODE = 0o666 & ~_current_umask()


def describe_os_error(exc: BaseException) -> str:
    """A short, plain reason for an OSError (the full disk case says so in words)."""
    if isinstance(exc, OSError):
        code = exc.errno
        reason = exc.strerror or str(exc)
        if code == errno.ENOSPC:
            return f"the disk is full ({reason})"
        if code == getattr(errno, "EDQUOT", -1):
            return f"the disk quota is exceeded ({reason})"
        if code == errno.EROFS:
            return f"the disk is read-only ({reason})"
        if code in (errno.EACCES, errno.EPERM):
            return f"permission denied ({reason})"
        return reason
    return str(exc)


def _fsync_file(path: Path) -> None:
    """Flush a file (or, elsewhere than on Windows, a folder) to disk; Windows needs write access."""
    fd = os.open(path, os.O_RDWR if os.name == "nt" else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable. Windows cannot open folders for fsync (NTFS journals renames)."""
    if os.name != "nt":
        _fsync_file(folder)


def _replace(source: Path, target: Path) -> None:
    """`os.replace`, retried briefly on Windows where a virus scanner may hold the target open."""
    for attempt in range(10):
        try:
            os.replace(source, target)
            return
        except PermissionError:
            if os.name != "nt" or attempt == 9:
                raise
            time.sleep(0.05 * (attempt + 1))


def _mode_for(path: Path) -> int:
    """Keep the permissions of the file being replaced; new files get the usual 0666 & ~umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return _NEW_FILE_MODE


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary sibling of `path` for writing; on success it replaces `path` atomically.

    If the block raises (including `Cancelled`), `path` is untouched and the temporary removed.
    """
    if "r" in mode or "a" in mode:
        raise ValueError(f"atomic_open writes whole files; mode {mode!r} is not supported")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise InspectorError(f"Could not write {path}: {describe_os_error(exc)}") from exc
    tmp = Path(tmp_name)
    try:
        text_options = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
        with os.fdopen(fd, mode, **text_options) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if os.name != "nt":
            os.chmod(tmp, _mode_for(path))
        _replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InspectorError(f"Could not write {path}: {describe_os_error(exc)}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def json_default(value: Any) -> Any:
    """NumPy scalars/arrays and paths turn up in settings; store them as plain JSON."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON (UTF-8, indented) atomically. The text is built first, so a bad value writes nothing."""
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=json_default)
    write_text_atomic(path, text + "\n")


def write_npz_atomic(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write named arrays as .npz; object arrays are refused, since they would be pickled."""
    plain: dict[str, np.ndarray] = {}
    for key, value in arrays.items():
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise InspectorError(f"Cannot store array '{key}' in {path}: it holds Python objects (only numbers are stored).")
        plain[str(key)] = array
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **plain)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or damaged file raises InspectorError naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InspectorError(f"Missing file: {path}") from exc
    except OSError as exc:
        raise InspectorError(f"Cannot read {path}: {describe_os_error(exc)}") from exc
    if not data.strip():
        raise InspectorError(f"Damaged file (empty): {path}")
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InspectorError(f"Damaged file (not valid JSON): {path}: {exc}") from exc


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load arrays without ever unpickling: object arrays and pickle files are refused."""
    path = Path(path)
    if not path.exists():
        raise InspectorError(f"Missing file: {path}")
    if zipfile.is_zipfile(path):
        from inspector.store.binary_formats import check_npz

        check_npz(path)  # declared shapes and dtypes against the stored bytes, before any allocation
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as exc:  # numpy's refusal to unpickle, or a malformed header
        raise _npz_refusal(path, exc) from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InspectorError(f"Damaged array file {path}: {exc}") from exc
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise InspectorError(f"Damaged array file {path}: expected an .npz archive of named arrays.")
    try:
        with data:
            return {key: data[key] for key in data.files}
    except ValueError as exc:
        raise _npz_refusal(path, exc) from exc
    except MemoryError as exc:
        raise InspectorError(f"Refused {path}: an array declares more memory than is available.") from exc
    except Exception as exc:  # zipfile.BadZipFile, CRC errors, truncated members, ...
        raise InspectorError(f"Damaged array file {path}: {exc}") from exc


def _npz_refusal(path: Path, exc: Exception) -> InspectorError:
    if "pickle" in str(exc).lower():
        return InspectorError(
            f"Refused {path}: it holds pickled Python objects, which Inspector never loads "
            "(they could run code). Only plain numeric arrays are accepted."
        )
    return InspectorError(f"Damaged array file {path}: {exc}")


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Build a folder under a temporary name, then swap it in place of `path`.

    Every file in it is fsynced before the swap. The old folder is renamed aside before the
    swap and removed after it, so a crash leaves either the old folder, or the new one, or
    (between the two renames) the old one under `.<name>.old-*`, which `recover_directory`
    puts back. If the block raises (e.g. a cancelled fit), nothing of the new folder remains.
    """
    path = Path(path)
    staging = path.parent / f".{path.name}{_STAGING_MARK}{uuid.uuid4().hex[:8]}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
    except OSError as exc:
        raise InspectorError(f"Could not write {path}: {describe_os_error(exc)}") from exc
    try:
        yield staging
        for root, _dirs, files in os.walk(staging):
            for name in files:
                _fsync_file(Path(root) / name)
            _fsync_dir(Path(root))
        old = None
        if path.exists():
            old = path.parent / f".{path.name}{_OLD_MARK}{uuid.uuid4().hex[:8]}"
            _replace(path, old)
        _replace(staging, path)
        _fsync_dir(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise InspectorError(f"Could not write {path}: {describe_os_error(exc)}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def recover_directory(path: str | os.PathLike) -> Path:
    """If a crash happened between the two renames of `atomic_directory`, restore the old folder."""
    path = Path(path)
    if not path.exists():
        try:
            olds = sorted(_old_versions(path), key=lambda p: p.stat().st_mtime)
            if olds:
                os.replace(olds[-1], path)
        except OSError:
            pass  # read-only media or a race with another process: the folder stays missing
    return path


def delete_directory(path: str | os.PathLike) -> None:
    """Delete a folder in one atomic step: rename it to a tombstone, then remove the tombstone.

    If the removal is interrupted (a kill, a file held open on Windows, a symlinked folder),
    the tombstone stays until `clean_leftovers` finishes it; the folder never reappears.
    """
    path = Path(path)
    tombstones = [path.parent / f".{path.name}{_TOMBSTONE_MARK}{uuid.uuid4().hex[:8]}"]
    try:
        _replace(path, tombstones[0])
        # An older version left aside by an interrupted `atomic_directory` must not be restored
        # in place of the deleted folder either.
        for old in _old_versions(path):
            tombstones.append(path.parent / f".{path.name}{_TOMBSTONE_MARK}{uuid.uuid4().hex[:8]}")
            _replace(old, tombstones[-1])
        _fsync_dir(path.parent)
    except OSError as exc:
        raise InspectorError(f"Could not delete {path}: {describe_os_error(exc)}") from exc
    for tombstone in tombstones:
        _remove_tombstone(tombstone)


def _old_versions(path: Path) -> list[Path]:
    prefix = f".{path.name}{_OLD_MARK}"
    try:
        return [entry for entry in path.parent.iterdir() if entry.name.startswith(prefix)]
    except OSError:
        return []


def _remove_tombstone(tombstone: Path) -> bool:
    """Remove a tombstone (a symlink is unlinked, never followed). False if something is left."""
    try:
        if tombstone.is_symlink() or not tombstone.is_dir():
            tombstone.unlink()
        else:
            shutil.rmtree(tombstone)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False  # held open (Windows) or read-only: finished on a later open


def is_tombstone(name: str) -> bool:
    return name.startswith(".") and _TOMBSTONE_MARK in name


def clean_leftovers(folder: str | os.PathLike, recursive: bool = True, min_age_s: float = 0.0) -> list[Path]:
    """Remove what killed writers left in `folder`: temporary files, staging and old folders.

    A folder that lost its current version between the two renames of `atomic_directory` is
    restored first. Only entries older than `min_age_s` are removed, so a writer still at work
    in another process is not disturbed when a positive age is given. Returns what was removed.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    now = time.time()
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:  # first put back any folder caught between the two renames
        if entry.name.startswith(".") and _OLD_MARK in entry.name and entry.is_dir():
            original = folder / entry.name[1:].split(_OLD_MARK)[0]
            if not original.exists():
                recover_directory(original)
    for entry in entries:  # finish interrupted deletions, whatever their age
        if is_tombstone(entry.name) and _remove_tombstone(entry):
            removed.append(entry)
    for entry in entries:
        name = entry.name
        if is_tombstone(name):
            continue
        if not name.startswith(".") or not entry.exists():
            if recursive and entry.is_dir() and not entry.is_symlink():
                removed += clean_leftovers(entry, True, min_age_s)
            continue
        is_tmp = name.endswith(_TMP_SUFFIX) and entry.is_file()
        is_dir_leftover = entry.is_dir() and (_STAGING_MARK in name or _OLD_MARK in name)
        if not (is_tmp or is_dir_leftover):
            continue
        try:
            if now - entry.stat().st_mtime < min_age_s:
                continue
            if is_tmp:
                entry.unlink()
            else:
                shutil.rmtree(entry)
            removed.append(entry)
        except OSError:
            pass  # still in use (Windows) or already gone: try again next time
    return removed


def copy_file_atomic(source: str | os.PathLike, target: str | os.PathLike, chunk: int = 1 << 20) -> None:
    """Copy a file's bytes to `target` atomically (used for backups of small files)."""
    source = Path(source)
    try:
        with open(source, "rb") as src, atomic_open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, chunk)
    except OSError as exc:
        raise InspectorError(f"Could not copy {source}: {describe_os_error(exc)}") from exc


__all__ = [
    "atomic_directory",
    "atomic_open",
    "clean_leftovers",
    "copy_file_atomic",
    "delete_directory",
    "describe_os_error",
    "read_json",
    "read_npz",
    "recover_directory",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_npz_atomic",
    "write_text_atomic",
]
