"""The README's example prints exactly the summary the README shows."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_output_is_true():
    # the tests run from a source checkout (README's command): no README is a failure
    assert README.exists(), f"{README} not found: run the tests from a source checkout"
    text = README.read_text()
    blocks = re.findall(r"```(python)?\n(.*?)```", text, flags=re.S)
    code = next(body for lang, body in blocks if lang == "python")
    shown = next(body for lang, body in blocks if not lang and "Prior-centred" in body)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue().strip() == shown.strip()
