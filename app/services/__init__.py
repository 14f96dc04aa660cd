"""Domain services: take a session and keyword arguments, return results and the events to publish."""
