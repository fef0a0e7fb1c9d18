"""Sphinx configuration for the priorreg documentation.

Build the site and run every example as a test::

    sphinx-build -W --keep-going -b html docs docs/_build/html
    sphinx-build -W -b doctest docs docs/_build/doctest
"""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

# Document (and test) the working tree, not an installed copy.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import priorreg

project = "priorreg"
author = "priorreg developers"
copyright = "priorreg developers"
version = release = priorreg.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    # MathJax shipped with the HTML (copied to _static/mathjax), so the
    # formulas render offline; no CDN is referenced.
    "sphinx-mathjax-offline",
    "numpydoc",
]

source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# -- HTML -------------------------------------------------------------------
html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"priorreg {release}"

# -- autodoc / numpydoc -------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc "Parameters" sections carry the types
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- doctest ------------------------------------------------------------------
# Every example page is a test: ``sphinx-build -W -b doctest docs ...``.
doctest_default_flags = (
    doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.DONT_ACCEPT_TRUE_FOR_1
)
# The pages use explicit ``.. doctest::`` / ``.. testcode::`` blocks, each page
# importing what it needs. Plain ">>>" blocks are not collected: the only ones
# are the docstring examples pulled in by autodoc, which run in their module's
# namespace and are tested by pytest (tests/test_doctests.py).
doctest_test_doctest_blocks = ""
