"""Synthetic Chandra observations (issue 7): placeholder until the simulator lands."""
