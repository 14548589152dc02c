"""The link engine: one `ccdpc` connection owned by a worker thread, and what callers ask of it.

No tango import: `Link` (calls with deadlines), `LinkWorker` (the thread), `Mailbox` (replies and
data routed to their tickets, the rest to each client's inbox: `Inboxes`, `Caller`), `JobQueue`,
`LinkBooks` (counters, state, last error), `Acquisition` (exposures and frames), `Settings` (the
device properties, checked). The Tango device is a thin layer over `Link`.
"""

from __future__ import annotations

from .link import Link

__all__ = ["Link"]
