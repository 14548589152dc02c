"""A simulator of the detector's control PC: a real TCP server for protocol generation 1, 2 or 3.

    >>> from ccdpc.sim import Simulator
    >>> with Simulator(protocol=3, faults=["trickle"]) as sim:
    ...     ...  # connect to sim.hostname

It plays the PC byte for byte as docs/protocol.md says, and can misbehave on purpose (`FAULTS`).
It uses the framing modules of `ccdpc` but never the client connection classes it is tested with.
Also a console script: ``ccdpc-sim --protocol 3 --port 9033 [--fault NAME ...]``.
"""

from .detector import Detector, Result
from .faults import FAULTS
from .frames import synthetic_frame
from .server import Simulator

__all__ = ["FAULTS", "Detector", "Result", "Simulator", "synthetic_frame"]
