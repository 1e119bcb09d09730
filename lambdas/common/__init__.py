"""Code shared by every VideoFlow function: models, settings, the event log, errors."""
