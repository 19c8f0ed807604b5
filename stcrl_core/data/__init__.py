"""Data layer: the xBD reader, the xBD-format generator and the xBD-obj builder."""
