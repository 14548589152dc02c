"""``CCDPC <instance>`` or ``python -m tango_server <instance>``: run the device server."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tango.server import run  # type: ignore[import-untyped]

from .device import CCDPC

__all__ = ["main"]


def main(args: Sequence[str] | None = None) -> None:
    """Run the server; `args` are the Tango arguments (instance name, -v4, ...), default argv."""
    # Tango names the server after argv[0]; under ``python -m`` that would be "__main__".
    argv = ["CCDPC", *(sys.argv[1:] if args is None else args)]
    run((CCDPC,), args=argv)


if __name__ == "__main__":
    main()
