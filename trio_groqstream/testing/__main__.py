"""``python -m trio_groqstream.testing``: the fake Groq server standalone (see ``_standalone``)."""

import sys

from ._standalone import main

if __name__ == "__main__":
    sys.exit(main())
