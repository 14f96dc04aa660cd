"""FusionX hub application: settings, models, REST routes and domain services on top of :mod:`hub`."""
