"""The output guard: every file or folder edvr writes goes through here.

Rules (the README's "Your files are safe"):

* Work is written to a short hidden sibling (``.edvr-tmp-<id>-<pid>-<rand><ext>``, valid for any
  target name up to NAME_MAX) and renamed onto the target only when complete; a failure or a
  signal removes it.
* An existing target is replaced only with ``overwrite``. An existing *empty* folder counts as free.
* Never, even with ``overwrite``: a device, FIFO or socket; one of the command's own inputs (or the
  same file under another name); a folder that contains an input; a folder holding anything edvr did
  not write there (the message names it). Replacing an old frame folder removes only edvr's files.
* Temporaries left by a killed run (its process is gone) are removed by the next run on the same target.
* The output's folder is held open while the work is written: when it is moved or replaced (by a symlink,
  another folder) during the run, nothing is written through its old name; the temporary is removed from
  the folder it is in (found through the held folder), and the error says so.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from edvr_cli.errors import OutputError, OutputExistsError, is_disk_full
from edvr_cli.guard.signals import signals_deferred

TEMP_MARKER = ".edvr-tmp-"
#: Files edvr writes into a frame folder.
FRAME_FILE = re.compile(r"^\d{8}\.png$")
_TEMP = re.compile(r"^\.edvr-tmp-(?P<id>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]{4}")
_SUFFIX_MAX = 16
#: The longest file name most file systems allow (bytes).
NAME_MAX = 255

Owned = Callable[[str], bool]


def is_frame_file(name: str) -> bool:
    """Whether a file name is one edvr gives frames in a folder output (``00000000.png``)."""
    return FRAME_FILE.match(name) is not None


def _target_id(target: Path) -> str:
    return hashlib.sha1(os.fsencode(target.name)).hexdigest()[:8]


def temporary_sibling(target: Path) -> Path:
    """A short hidden name beside ``target`` keeping its extension (so the muxer picks the container)."""
    suffix = target.suffix if len(target.suffix) <= _SUFFIX_MAX else ""
    return target.with_name(f"{TEMP_MARKER}{_target_id(target)}-{os.getpid()}-{secrets.token_hex(2)}{suffix}")


def is_temporary(name: str) -> bool:
    """Whether a file name is one of the guard's temporaries."""
    return _TEMP.match(name) is not None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_temporaries(target: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Remove temporaries of ``target`` whose process is gone (left by SIGKILL or a power cut); never an input."""
    target = Path(target)
    keep = [os.path.realpath(p) for p in inputs if str(p).strip()]
    wanted = _target_id(target)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent if str(target.parent) else "."))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m is None or m["id"] != wanted or _alive(int(m["pid"])):
            continue
        path = Path(entry.path)
        real = os.path.realpath(path)
        if any(k == real or k.startswith(real + os.sep) for k in keep):
            continue  # an input (or a folder holding one) that happens to have such a name
        if entry.is_dir(follow_symlinks=False) and any(not is_frame_file(e.name) for e in os.scandir(path)):
            continue  # our temporary folders hold only frames: this one is someone's
        remove_path(path)
        removed.append(path)
    return removed


def remove_path(path: Path) -> None:
    """Remove a file, link or folder tree that edvr made; missing is fine."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    except FileNotFoundError:
        pass


def _kind(mode: int) -> str | None:
    """What a special file is, in words; None for regular files and folders."""
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return None


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
    except ValueError:
        return False
    return True


def _foreign_entries(folder: Path, owned: Owned) -> list[str]:
    """Entries edvr did not write: names it does not use, and folders under the names of its frame files."""
    return sorted(e.name for e in os.scandir(folder)
                  if not is_temporary(e.name)
                  and (not owned(e.name) or (is_frame_file(e.name) and e.is_dir(follow_symlinks=False))))


def check_output(
    target: str | os.PathLike,
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike] = (),
    folder: bool = False,
    owned: Owned = is_frame_file,
) -> Path:
    """Refuse a target the guard will not write (before any work); returns it as a Path.

    Args:
        target: the output file or folder.
        overwrite: whether an existing target may be replaced.
        inputs: the command's inputs; the target may be none of them and contain none of them.
        folder: whether the output is a folder (then ``owned`` names the entries edvr wrote).
        owned: for folder outputs, which entry names edvr itself writes.

    Raises:
        OutputError: a device/FIFO/socket, an input, a folder with an input or other people's files.
        OutputExistsError: the target exists and ``overwrite`` is false.
    """
    if not str(target).strip():
        raise OutputError("the output path is empty")
    path = Path(target)
    if not path.name:  # '.', '..', '/': the folder itself
        path = path.resolve()
    if len(os.fsencode(path.name)) > NAME_MAX:
        raise OutputError(f"the output name '{path.name[:40]}...' is longer than file names can be "
                          f"({len(os.fsencode(path.name))} bytes, at most {NAME_MAX})")
    resolved = path.resolve()
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise OutputError(f"cannot write '{path}': a part of its path is a file, not a folder") from None
    except OSError as exc:
        raise OutputError(f"cannot write '{path}': {exc.strerror or exc}") from None
    if st is not None:
        kind = _kind(st.st_mode)
        if kind is not None:
            raise OutputError(f"'{path}' is {kind}; edvr writes only regular files and folders")
    for item in inputs:
        if not str(item).strip():
            continue
        source = Path(item)
        src_resolved = source.resolve()
        same = src_resolved == resolved
        if not same and st is not None:
            try:
                same = _same_file(os.stat(source), st)
            except OSError:
                same = False
        if same:
            raise OutputError(f"the output '{path}' is the input '{source}'; choose another output")
        if st is not None and stat.S_ISDIR(st.st_mode) and _inside(src_resolved, resolved):
            raise OutputError(f"the output folder '{path}' contains the input '{source}'; choose another output")
        if st is not None and not stat.S_ISDIR(st.st_mode) and source.is_dir() and _inside(resolved, src_resolved):
            raise OutputError(f"the output '{path}' is a file inside the input folder '{source}'; "
                              "choose another output")
    if st is None:
        return path
    if stat.S_ISDIR(st.st_mode):
        if not folder:
            raise OutputError(f"'{path}' is a folder; give a file name with a video extension "
                              "(or a folder name for PNG frames)")
        foreign = _foreign_entries(path, owned)
        if foreign:
            more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
            shown = ", ".join(f"'{n}'" for n in foreign[:3]) + more
            raise OutputError(f"the output folder '{path}' holds files edvr did not write ({shown}); "
                              "choose an empty or new folder")
        if not any(True for _ in os.scandir(path)):
            return path  # an empty folder: nothing to lose
    elif folder:
        raise OutputError(f"'{path}' is a file, but frame output needs a folder; choose a new folder name")
    if not overwrite:
        raise OutputExistsError(f"output '{path}' already exists; pass --overwrite to replace it")
    return path


def move_into_place(temp: Path, target: Path, *, overwrite: bool, inputs: Iterable[str | os.PathLike] = (),
                    folder: bool = False, owned: Owned = is_frame_file, dir_fd: int | None = None) -> None:
    """Rename a finished temporary onto ``target`` under the guard's rules (checked again now).

    ``dir_fd``: the folder of both, held open (:class:`HeldFolder`): the renames happen in that folder by
    name, never through a path whose folder was replaced meanwhile.
    """
    check_output(target, overwrite=overwrite, inputs=inputs, folder=folder, owned=owned)

    def rename(src: Path, dst: Path) -> None:
        if dir_fd is None:
            os.replace(src, dst)
        else:
            os.replace(src.name, dst.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)

    with signals_deferred():
        if not (target.exists() or target.is_symlink()):
            rename(temp, target)
            return
        if not target.is_dir() or target.is_symlink():
            rename(temp, target)  # a file onto a file: atomic on POSIX
            return
        # A folder holding only edvr's files: park it, move the new one in, then delete edvr's files.
        parked = temporary_sibling(target)
        rename(target, parked)
        try:
            rename(temp, target)
        except BaseException:
            rename(parked, target)
            raise
        for entry in os.scandir(parked):
            if owned(entry.name) and not entry.is_dir(follow_symlinks=False):
                os.unlink(entry.path)
        try:
            os.rmdir(parked)
        except OSError:  # something appeared in it meanwhile: keep it, never lose a file
            os.replace(parked, target.with_name(f"{target.name}.previous-{secrets.token_hex(2)}"))


def describe_os_error(exc: OSError, target: Path, label: str | None = None) -> str | None:
    """One line for a failure to create or write an output, naming the real folder and what to do
    (``label``: the name the user gave, when ``target`` is a temporary); None for other errors."""
    name = label or target.name
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"cannot write '{name}' in '{target.parent}': permission denied (or a read-only file system); "
                "choose an output folder you can write")
    if is_disk_full(exc):
        return f"no space left on device while writing '{name}' in '{target.parent}' ({exc.strerror or exc})"
    if exc.errno == errno.ENAMETOOLONG:
        return f"the output name '{name}' is too long for the file system"
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"cannot write '{name}': the folder '{target.parent}' cannot hold files"
    return None


@contextmanager
def guarded_output(
    target: str | os.PathLike,
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike] = (),
    folder: bool = False,
    owned: Owned = is_frame_file,
) -> Iterator[Path]:
    """Yield a temporary sibling to write; rename it onto ``target`` only if the block succeeds.

    Any exception or signal removes the temporary and leaves an existing target untouched. For a
    folder the temporary folder is created here; for a file only the name is reserved.

    Raises:
        OutputError, OutputExistsError: see :func:`check_output` (checked before and after the work).
    """
    inputs = list(inputs)
    path = check_output(target, overwrite=overwrite, inputs=inputs, folder=folder, owned=owned)
    remove_stale_temporaries(path, inputs)
    made = _missing_parents(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        held = HeldFolder(path.parent)
    except OSError as exc:
        _remove_empty(made)
        raise OutputError(describe_os_error(exc, path) or f"cannot write '{path}': {exc.strerror or exc}") from None
    try:
        temp = temporary_sibling(path)
        try:
            if folder:
                temp.mkdir()
        except OSError as exc:
            _remove_empty(made)
            raise OutputError(describe_os_error(exc, path) or f"cannot write '{path}': {exc.strerror or exc}") \
                from None
        try:
            yield temp
            held.check_in_place(path)
            if not held.holds(temp.name):
                raise OutputError(f"nothing was written for '{path}'")
            move_into_place(temp, path, overwrite=overwrite, inputs=inputs, folder=folder, owned=owned,
                            dir_fd=held.fd)
        except BaseException as exc:
            with signals_deferred():
                moved = held.moved()
                held.remove(temp.name)  # where it is, even when the folder was moved meanwhile
                if not moved:  # (by their old names the made folders now lead elsewhere)
                    _remove_empty(made)  # the folders made for this output, if nothing else went in
            if moved and isinstance(exc, Exception) and not isinstance(exc, FolderMovedError):
                raise held.moved_error(path) from None  # what really went wrong (a write into the old name failed)
            raise
    finally:
        held.close()


class FolderMovedError(OutputError):
    """The output's folder was moved or replaced during the run (see :class:`HeldFolder`)."""


class HeldFolder:
    """An output's folder, held open from the start of the work to the rename: whether its path still leads
    to it (:meth:`moved`) is a comparison of identities (``st_dev``, ``st_ino``), and what edvr wrote is found
    and removed through the held folder, wherever it is now. Where the system cannot open folders
    (``O_DIRECTORY``) or may not read it, the identity at the start is compared, and names are used."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.fd: int | None = None
        where = str(folder) if str(folder) else "."
        if _HOLD_FOLDERS:
            try:  # O_PATH (Linux) needs no read permission: a folder one may only write into is held too
                self.fd = os.open(where, getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY)
            except PermissionError:  # pragma: no cover - elsewhere, such a folder is compared by identity only
                pass
        self._identity = os.fstat(self.fd) if self.fd is not None else os.stat(where)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def moved(self) -> bool:
        """Whether the folder's path now leads elsewhere (moved, replaced by a link or another folder, removed)."""
        try:
            now = os.stat(str(self.folder) or ".")
        except OSError:
            return True
        return not _same_file(now, self._identity)

    def moved_error(self, target: Path, kept: str | None = None) -> FolderMovedError:
        """What to say when the folder moved: nothing was written by its old name; edvr's temporary output was
        removed, or (``kept``: the name of what a resumable run keeps in it) is kept where the folder is now."""
        where = self.now()
        now = f" (the folder edvr was writing in is now '{where}')" if where else ""
        if kept is None:
            after = "and edvr's temporary output was removed; run again to write it"
        elif where:
            after = (f"its finished segments are kept in '{Path(where) / kept}': move the folder back and run the "
                     "same command again to continue")
        else:
            after = "its finished segments went with the folder"
        return FolderMovedError(
            f"cannot put '{target.name}' in place: its folder '{self.folder}' was moved or replaced during the "
            f"run{now}; nothing was written at '{self.folder}', {after}")

    def check_in_place(self, target: Path) -> None:
        """Raise :class:`FolderMovedError` when the folder moved (then nothing may be renamed by its old name)."""
        if self.moved():
            raise self.moved_error(target)

    def now(self) -> str | None:
        """Where the held folder is now, when the system says (Linux: ``/proc/self/fd``); None if unknown or
        it was deleted."""
        if self.fd is None:
            return None
        try:
            where = os.readlink(f"/proc/self/fd/{self.fd}")
        except OSError:
            return None
        return None if where.endswith(" (deleted)") else where

    def holds(self, name: str) -> bool:
        """Whether the held folder has an entry ``name`` (a link counts: nothing is followed)."""
        try:
            if self.fd is None:  # pragma: no cover - see the class doc
                os.lstat(self.folder / name)
            else:
                os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def remove(self, name: str) -> None:
        """Remove the file, link or folder tree ``name`` edvr made in the held folder; missing is fine."""
        if self.fd is None:  # pragma: no cover - see the class doc
            remove_path(self.folder / name)
            return
        try:
            _remove_at(self.fd, name)
        except FileNotFoundError:
            pass


# (os.replace takes dir_fd wherever os.rename does, but is not listed in supports_dir_fd)
_HOLD_FOLDERS = hasattr(os, "O_DIRECTORY") and {os.open, os.stat, os.rename, os.unlink, os.rmdir} <= os.supports_dir_fd


def _remove_at(dir_fd: int, name: str) -> None:
    """Remove ``name`` in the folder ``dir_fd`` (a folder with everything in it), following no link."""
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dir_fd)
        return
    sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0), dir_fd=dir_fd)
    try:
        for entry in list(os.scandir(sub)):
            _remove_at(sub, entry.name)
    finally:
        os.close(sub)
    os.rmdir(name, dir_fd=dir_fd)


def _missing_parents(path: Path) -> list[Path]:
    """The folders above ``path`` that do not exist yet, deepest first."""
    missing = []
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (something else went in) or gone: keep it
            break


def write_file(target: str | os.PathLike, data: bytes | str, *, overwrite: bool = False,
               inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write a small file (JSON, text) through the guard."""
    payload = data.encode() if isinstance(data, str) else data
    with guarded_output(target, overwrite=overwrite, inputs=inputs) as temp:
        with open(temp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
    return Path(target)
