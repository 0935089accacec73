"""Files whole and folders owned: every file a run folder keeps (the results sheet, the calls
fetched, the plan's record, the copy of the input) is written through `atomic_write`; a run folder
and a campaign's inbox are held by one process at a time through `hold`."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from runner.errors import FolderInUse, OutdirError, unwritable


@contextmanager
def atomic_write(path: Path, what: str) -> Iterator[Path]:
    """A temporary path beside `path` to write to; once the block ends, it is synced to disk and
    renamed over `path`, so a reader (or a crash) sees the old file or the new one, never half. An
    OSError (a full disk) removes the temporary file and becomes OutdirError naming `what`."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        yield temporary
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except OSError as exc:  # Arrow's and polars' writers raise OSError too
        temporary.unlink(missing_ok=True)
        raise unwritable(path.parent, what, exc) from None


def hold(lock_file: Path, holder: str) -> IO[str]:
    """The lock of the folder `lock_file` is in, held until the handle is closed: one process at a
    time. Another one gets FolderInUse naming the holder's pid (`holder`: what holds it, for the
    message), never a race. The folder is made if need be."""
    folder = lock_file.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = lock_file.open("a")  # "w" would wipe the holder's pid before the lock is tried
    except OSError as exc:
        raise OutdirError(f"{folder}: cannot use this folder: {exc.strerror}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        pid = lock_file.read_text().strip()
        who = f" (process {pid})" if pid.isdigit() else ""
        raise FolderInUse(f"{folder}: another {holder}{who} is using this folder") from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def held(lock_file: Path) -> bool:
    """Whether another process holds this lock (without taking it)."""
    try:
        with lock_file.open("r") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False
