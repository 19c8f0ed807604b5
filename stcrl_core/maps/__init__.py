"""Map data for the app: buildings, predictions, scene imagery; offline-ready."""
