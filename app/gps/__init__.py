"""Driver GPS, an extension of the hub: the ``gps`` command, inline ingest, position stores, topic families."""
