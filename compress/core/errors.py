"""Error for malformed user input, shared by the compress package and the fixtures."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """User-supplied input is malformed: names the file, the line (if any) and what was expected."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.detail = message
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")
