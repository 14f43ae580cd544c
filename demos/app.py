"""Launch the emovox web demo: ``python demos/app.py [--model M] [--port P] ...`` (the options of `emovox demo`).

The demo itself lives in :mod:`emovox.web.demo`; this script is the same as ``emovox demo``.
"""

from __future__ import annotations

import sys

from emovox.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
