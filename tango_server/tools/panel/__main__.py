"""``python -m tango_server.tools.panel``: the same as ``ccdpc-panel``."""

import sys

from .window import main

sys.exit(main())
