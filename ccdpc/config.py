"""Module-level settings, read at the moment they are needed, so they can be changed at run time.

>>> import ccdpc.config
>>> ccdpc.config.packettimeout = 2.0
"""

from __future__ import annotations

#: Default TCP port of the control PC.
port: int = 9033

#: Seconds allowed between two chunks of one unit once its first byte has arrived.
packettimeout: float = 5.0

#: Seconds allowed for connecting and for the complete 16-byte greeting.
connecttimeout: float = 5.0

#: Seconds a command waits for the first byte of its reply.
replytimeout: float = 30.0

#: The protocol's upper bound on one payload (64 MiB). A connection may set a lower one.
maxpacketsize: int = 64 * 1024 * 1024

#: Longest interval, in seconds, between two calls of an `idletask` while waiting.
idleinterval: float = 0.1
