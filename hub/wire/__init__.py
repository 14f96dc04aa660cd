"""Sans-I/O RFC 6455 framing for the server side.

    frames.py      server frame encoders (unmasked), opcodes, close payloads and code rules
    mask.py        fast pure-Python unmasking (§5.3)
"""
