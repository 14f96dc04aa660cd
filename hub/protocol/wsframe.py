"""RFC 6455 §5.2 framing for server-to-client text frames (unmasked, unfragmented, no compression).

Because server frames are unmasked, the framed bytes of one event are the same for
every subscriber: build them once, write them to every transport. The framing now
lives in :mod:`hub.wire.frames`; this module keeps the names its callers import.
"""

from __future__ import annotations

from hub.wire.frames import payload_of, text_frame

__all__ = ["payload_of", "text_frame"]
