"""Sphinx configuration for the trio_groqstream documentation.

Pages are Markdown (MyST); the API reference is generated from the docstrings (autodoc, with
napoleon reading their Google-style sections), and sphinxcontrib-trio marks async functions and
async context managers the way the Trio ecosystem's docs do. Build it with warnings as errors::

    sphinx-build -W --keep-going -b html docs docs/_build/html

There is no intersphinx mapping: it would fetch inventories over the network, and the build
machines have none. References to Trio, httpx and msgspec are plain text instead of links.
"""

from __future__ import annotations

import trio_groqstream

project = "trio_groqstream"
author = "trio_groqstream developers"
copyright = "trio_groqstream developers"
release = trio_groqstream.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinxcontrib_trio",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
# examples/ holds the runnable scripts that the pages include with {literalinclude}; they are
# not pages themselves.
exclude_patterns = ["_build", "examples", "Thumbs.db", ".DS_Store"]

# --- MyST ----------------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
# Anchors for "## headings" so that pages can link to [a section](page.md#a-section).
myst_heading_anchors = 3

# --- autodoc and napoleon ------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
# A method without a docstring of its own (FanoutStream.receive) would otherwise show the generic
# text of trio.abc.ReceiveChannel, which describes a different contract.
autodoc_inherit_docstrings = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# "Attributes:" sections become :ivar: fields rather than separate attribute entries, so that a
# documented property (``FakeGroq.base_url``) is not described twice.
napoleon_use_ivar = True

# Unresolved cross-references (trio.abc.ReceiveChannel, httpx.AsyncClient...) are not errors:
# without intersphinx they cannot resolve, and they still read well as code.
nitpicky = False

# --- HTML ----------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"trio_groqstream {release}"
