"""``python -m tango_server.sardana``: print the folder to add to a Pool's ``PoolPath``."""

from __future__ import annotations

from . import CONTROLLER_DIR

print(CONTROLLER_DIR)
