"""Writing a file whole or not at all: every file a run folder keeps (the results sheet, the calls
fetched, the plan's record, the copy of the input) is written through `atomic_write`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.errors import unwritable


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
