"""Geometry: pixlib coordinate transforms and the output grid."""
