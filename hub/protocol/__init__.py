"""Sans-I/O WebSocket protocol of the hub: pure frame codecs and connection state."""
