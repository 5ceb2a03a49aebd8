"""The work folder of a segmented run: lock, manifest, finished segments (joined by :mod:`edvr_cli.jobs.join`).

The work folder of ``out.mp4`` is hidden beside it::

    .out.mp4.edvr-work/
        lock                  held (file lock) by the process working on this output
        manifest.json         what the run is (input identity, every setting that shapes the output,
                              the models' SHA-256) and the segments finished so far; replaced
                              atomically after each segment
        seg-000000.mp4        frames [0, N): a complete video-only file whose first frame is a keyframe,
                              encoded with the final codec and settings, timed with the input's pts
        seg-000001.mp4        frames [N, 2N) ... (the last one also takes a remainder of < 8 frames)
        seg-000002.part.mp4   the segment being written; the next run discards it
        assembly.mp4          the final file being remuxed (video packets copied, audio and subtitles
                              copied once from the input); renamed onto ``out.mp4`` when complete

A segment counts once it is complete, flushed to disk, renamed from ``.part`` and recorded in the
manifest. For an output folder of PNG frames the segments are folders (``seg-000000/``) and the
assembly is a folder of hard links to their frames. The folder is removed when the output is in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edvr_cli.errors import OutputBusyError, OutputError, ResumeError
from edvr_cli.guard import jsontext
from edvr_cli.guard.output import NAME_MAX, remove_path

#: Inputs with more frames than this (or an unknown count) are made resumable unless told otherwise.
RESUME_MIN_FRAMES = 3000
WORK_SUFFIX = ".edvr-work"
MANIFEST = "manifest.json"
FORMAT = "edvr-cli resumable run"
VERSION = 1

def work_dir(output: str | os.PathLike) -> Path:
    """``out.mp4 -> .out.mp4.edvr-work`` in the same folder (``.edvr-work-<hash>`` for names near NAME_MAX)."""
    output = Path(output)
    name = f".{output.name}{WORK_SUFFIX}"
    if len(os.fsencode(name)) > NAME_MAX:
        name = f"{WORK_SUFFIX}-{hashlib.sha1(os.fsencode(output.name)).hexdigest()[:16]}"
    return output.with_name(name)


_OWN_ENTRY = re.compile(
    r"^(lock|manifest\.json|\.manifest\.json\.tmp|seg-\d{6}(\.part)?(\.[^/]*)?|assembly(\.[^/]*)?)$")


def _own_entry(entry: os.DirEntry) -> bool:
    """Whether an entry of a work folder is one edvr makes there (a segment folder holds only frames)."""
    from edvr_cli.video.paths import FRAME_FILE  # the video package is imported only when needed

    if not _OWN_ENTRY.match(entry.name):
        return False
    if entry.is_symlink():
        return False
    if entry.is_dir():
        return entry.name.startswith(("seg-", "assembly")) and all(
            FRAME_FILE.match(e.name) and e.is_file(follow_symlinks=False) for e in os.scandir(entry.path))
    return entry.is_file()


def check_work_folder(path: Path) -> None:
    """Refuse (even with --overwrite) a work folder path that is not edvr's: a link, a file, or a folder
    holding anything edvr does not put there; the message names what it found."""
    if path.is_symlink():
        raise OutputError(f"'{path}' (where edvr keeps the segments of this output) is a link; "
                          "remove it or choose another output name")
    if not path.exists():
        return
    if not path.is_dir():
        raise OutputError(f"'{path}' (where edvr keeps the segments of this output) is a file; "
                          "remove it or choose another output name")
    entries = list(os.scandir(path))
    foreign = sorted(e.name for e in entries if not _own_entry(e))
    if not foreign and any(e.name != "lock" for e in entries) and not _is_manifest(path / MANIFEST):
        foreign = sorted(e.name for e in entries if e.name != "lock")  # no edvr manifest: none of it is edvr's
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        shown = ", ".join(f"'{n}'" for n in foreign[:3]) + more
        raise OutputError(f"'{path}' is where edvr keeps the segments of this output, but it holds files edvr "
                          f"did not write ({shown}); move them away or choose another output name")


def _is_manifest(file: Path) -> bool:
    """Whether ``file`` is a manifest edvr wrote (its format tag), not just a file of that name."""
    try:
        data = jsontext.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def segment_name(index: int, suffix: str, partial: bool = False) -> str:
    """``seg-000003.mp4``; ``seg-000003.part.mp4`` while it is written (``suffix`` is '' for PNG folders)."""
    return f"seg-{index:06d}{'.part' if partial else ''}{suffix}"


@dataclass(frozen=True)
class Segment:
    """A finished segment: frames ``[first, first + frames)`` of the clip.

    Args:
        index: position in the output, from 0 (segment k starts at frame k * segment_frames).
        first: clip index of its first frame.
        frames: how many frames it holds.
        last_pts: presentation time of its last frame in the output stream's time base (the next
            segment continues after it), or None for PNG frames.
    """

    index: int
    first: int
    frames: int
    last_pts: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        return cls(int(data["index"]), int(data["first"]), int(data["frames"]),
                   None if data.get("last_pts") is None else int(data["last_pts"]))


def input_identity(path: Path) -> dict[str, Any]:
    """What tells a changed input apart: resolved path, size and modification time (of every image)."""
    path = Path(path)
    if path.is_dir():
        from edvr_cli.video import list_images

        files = list_images(path)
        stats = [f.stat() for f in files]
        return {"path": str(path.resolve()), "files": len(files), "size": sum(s.st_size for s in stats),
                "mtime_ns": max((s.st_mtime_ns for s in stats), default=0)}
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def differences(recorded: Any, wanted: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two JSON-like dicts (``['settings.crf']``)."""
    if isinstance(recorded, dict) and isinstance(wanted, dict):
        out = []
        for key in sorted(set(recorded) | set(wanted)):
            out += differences(recorded.get(key), wanted.get(key), f"{prefix}{key}.")
        return out
    return [] if recorded == wanted else [prefix.rstrip(".")]


_WORDS = {"input": "input file", "task": "command", "stage1_sha256": "model", "stage2_sha256": "--stage2 model",
          "edvr_cli": "edvr-cli version", "segment_frames": "segment length", "output": "output kind",
          "shots_sha256": "--shots file"}


def _describe(keys: list[str]) -> str:
    words = []
    for key in keys:
        head, _, leaf = key.partition(".")
        if head == "settings":
            word = _WORDS.get(leaf) or f"--{leaf.replace('_', '-')}"
        else:
            word = _WORDS.get(head, key)
        if word not in words:
            words.append(word)
    return ", ".join(words)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    """Flush a file, or every file of a folder, to disk (a segment survives a power cut once renamed)."""
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    for file in files:
        with open(file, "rb+") as f:
            os.fsync(f.fileno())
    if path.is_dir():
        _fsync_dir(path)


class WorkFolder:
    """The work folder of one output: its lock, its manifest and the segments finished so far.

    Args:
        output: the final output (video file, or folder of PNG frames).
        run: what the output depends on (JSON-able); a folder made for another ``run`` is not continued.
        frames_output: the output is a folder of PNG frames (segments are folders).
    """

    def __init__(self, output: Path, run: dict[str, Any], *, frames_output: bool) -> None:
        self.output = Path(output)
        self.path = work_dir(self.output)
        self.run = run
        self.suffix = "" if frames_output else self.output.suffix
        self.segments: list[Segment] = []
        self.finished = False
        self.placed: dict[str, int] | None = None
        self._lock: Any = None

    # -- opening ----------------------------------------------------------------------------------
    def open(self, fresh: bool = False) -> WorkFolder:
        """Lock the folder (creating it), then continue it, or start afresh when ``fresh``.

        Raises:
            OutputBusyError: another process holds the lock.
            ResumeError: the folder was made for another input or other arguments (and not ``fresh``).
        """
        from filelock import FileLock, Timeout

        check_work_folder(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path / "lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise OutputBusyError(
                f"another edvr process is writing '{self.output}' (its work folder '{self.path.name}' is locked)"
            ) from None
        self._lock = lock
        try:
            self._load(fresh)
        except BaseException:
            self.close()
            raise
        return self

    def _load(self, fresh: bool) -> None:
        manifest = None if fresh else self._read_manifest()
        if manifest is not None:
            recorded = manifest.get("run")
            if recorded != self.run:
                keys = differences(recorded, self.run)
                raise ResumeError(
                    f"'{self.output.name}' has an unfinished run in '{self.path.name}' made with a different "
                    f"{_describe(keys)}; rerun with the same arguments to continue it, or pass --overwrite "
                    "to discard it and start afresh"
                )
            self.segments = self._valid([Segment.from_dict(s) for s in manifest.get("segments", [])])
            self.finished = bool(manifest.get("finished")) and len(self.segments) == len(manifest["segments"])
        keep = {"lock", MANIFEST} | {segment_name(s.index, self.suffix) for s in self.segments}
        for entry in self.path.iterdir():  # parts, an assembly, anything not recorded
            if entry.name not in keep:
                remove_path(entry)
        self._write_manifest()

    def _read_manifest(self) -> dict[str, Any] | None:
        file = self.path / MANIFEST
        if not file.exists():
            return None  # nothing was recorded: nothing to keep
        try:
            data = jsontext.loads(file.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
                raise ValueError("not a manifest of this version")
            for s in data.get("segments", []):
                Segment.from_dict(s)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ResumeError(
                f"the work folder '{self.path}' has an unreadable manifest ({exc}); pass --overwrite to start afresh"
            ) from None
        return data

    def _valid(self, segments: list[Segment]) -> list[Segment]:
        """The recorded segments that are on disk, by index, without overlaps (parallel runs finish out of order)."""
        kept: list[Segment] = []
        for seg in sorted(segments, key=lambda s: s.index):
            if not (self.path / self.name(seg.index)).exists() or seg.frames <= 0:
                continue
            if kept and (seg.index == kept[-1].index or seg.first < kept[-1].first + kept[-1].frames):
                continue
            kept.append(seg)
        return kept

    @property
    def prefix(self) -> list[Segment]:
        """The finished segments from the first on without a gap (what a sequential run continues after)."""
        out: list[Segment] = []
        for seg in self.segments:
            if seg.index != len(out) or seg.first != sum(s.frames for s in out):
                break
            out.append(seg)
        return out

    @property
    def done_indices(self) -> set[int]:
        return {s.index for s in self.segments}

    # -- segments ----------------------------------------------------------------------------------
    @property
    def frames_done(self) -> int:
        return sum(s.frames for s in self.segments)

    def name(self, index: int, partial: bool = False) -> str:
        return segment_name(index, self.suffix, partial)

    def part_path(self, index: int) -> Path:
        return self.path / self.name(index, partial=True)

    def commit(self, segment: Segment) -> None:
        """Make a written part a finished segment: flush it, rename it, record it."""
        if segment.index in self.done_indices:
            raise ValueError(f"segment {segment.index} is already finished")
        part = self.part_path(segment.index)
        _fsync_tree(part)
        os.replace(part, self.path / self.name(segment.index))
        _fsync_dir(self.path)
        self.segments = sorted([*self.segments, segment], key=lambda s: s.index)
        self._write_manifest()

    def record_assembly(self, final: Path) -> None:
        """Note the finished output's identity before it is renamed into place (see :func:`remove_if_placed`)."""
        st = os.stat(final)
        self.placed = {"dev": st.st_dev, "ino": st.st_ino}
        self._write_manifest()

    def finish(self) -> None:
        """Record that every frame is in a segment (a rerun goes straight to assembling)."""
        self.finished = True
        self._write_manifest()

    def discard_partial(self) -> None:
        """Remove what an interrupted attempt left (a part, an assembly), keeping finished segments."""
        keep = {"lock", MANIFEST} | {self.name(s.index) for s in self.segments}
        if self.path.is_dir():
            for entry in self.path.iterdir():
                if entry.name not in keep:
                    remove_path(entry)

    def _write_manifest(self) -> None:
        data = {
            "format": FORMAT,
            "version": VERSION,
            "output": self.output.name,
            "run": self.run,
            "segments": [asdict(s) for s in self.segments],
            "finished": self.finished,
            "assembly": self.placed,
        }
        file = self.path / MANIFEST
        tmp = self.path / f".{MANIFEST}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=1) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, file)
        _fsync_dir(self.path)

    # -- the end -----------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the lock (the folder stays for a later run)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def remove(self) -> None:
        """Delete the folder (after the output is in place)."""
        self.close()
        remove_path(self.path)

    def __enter__(self) -> WorkFolder:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def remove_if_placed(output: str | os.PathLike) -> bool:
    """Remove the work folder of an output that is already in place (a run killed after its final rename)."""
    folder = work_dir(output)
    try:
        check_work_folder(folder)
        data = jsontext.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        placed = data.get("assembly")
        st = os.stat(output)
    except (OSError, ValueError, AttributeError, OutputError):
        return False
    if not isinstance(placed, dict) or (st.st_dev, st.st_ino) != (placed.get("dev"), placed.get("ino")):
        return False
    try:
        _remove_unlocked(folder, output)
    except OutputBusyError:
        return False  # a live run holds it
    return True


def discard(output: str | os.PathLike) -> bool:
    """Remove the unfinished run's work folder of ``output`` (``--overwrite`` without resuming); False when
    there is none.

    Raises:
        OutputError: the folder holds anything edvr did not write there, or is a link or a file.
        OutputBusyError: a live run holds its lock.
    """
    folder = work_dir(output)
    if not folder.exists() and not folder.is_symlink():
        return False
    check_work_folder(folder)
    _remove_unlocked(folder, output)
    return True


def _remove_unlocked(folder: Path, output: str | os.PathLike) -> None:
    """Remove a checked work folder while holding its lock, so a live run's folder is never removed."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(folder / "lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise OutputBusyError(
            f"another edvr process is writing '{output}' (its work folder '{folder.name}' is locked)") from None
    try:
        remove_path(folder)
    finally:
        lock.release()


def recorded_run(output: str | os.PathLike) -> dict[str, Any] | None:
    """The run record of the unfinished run of ``output`` (what its segments were made with), or None."""
    try:
        data = jsontext.loads((work_dir(output) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    run = data.get("run") if isinstance(data, dict) and data.get("format") == FORMAT else None
    return run if isinstance(run, dict) else None


def peek(output: str | os.PathLike) -> tuple[int, int] | None:
    """(finished segments, frames in them) of the work folder of ``output``; None when there is none."""
    try:
        data = jsontext.loads((work_dir(output) / MANIFEST).read_text(encoding="utf-8"))
        segments = data.get("segments", [])
        return len(segments), sum(int(s["frames"]) for s in segments)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


