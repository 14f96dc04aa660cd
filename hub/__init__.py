"""FusionX hub core: frames, connections, topics, history, presence, fan-out, brokers.

The core knows nothing of trucks, orders or databases: the application plugs in
authentication, topic authorization and device tracking through the small
Protocols in :mod:`hub.auth`.
"""
