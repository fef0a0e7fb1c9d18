"""Rooms of a readable size: no module of the package over 800 lines (issue 13)."""

from __future__ import annotations

from pathlib import Path

import priorreg

MAX_LINES = 800


def test_no_module_is_over_800_lines():
    root = Path(priorreg.__file__).parent
    sizes = {
        str(path.relative_to(root)): len(path.read_text(encoding="utf-8").splitlines())
        for path in root.rglob("*.py")
    }
    assert len(sizes) > 40  # the package itself was found, not an empty folder
    too_long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not too_long, f"split these modules into rooms of one job each: {too_long}"
