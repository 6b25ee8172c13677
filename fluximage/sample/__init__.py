"""The small synthetic sample observation shipped with the package (issue 7)."""
