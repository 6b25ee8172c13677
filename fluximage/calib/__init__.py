"""Calibration data: the CALDB index reader (later: the calibration products)."""

from .caldb import (
    Boundary,
    CaldbError,
    CaldbIndex,
    IndexRow,
    caldb_root,
    index_path,
    parse_boundary,
    query,
    query_one,
    read_index,
    select_rows,
    to_mjd,
)

__all__ = [
    "Boundary",
    "CaldbError",
    "CaldbIndex",
    "IndexRow",
    "caldb_root",
    "index_path",
    "parse_boundary",
    "query",
    "query_one",
    "read_index",
    "select_rows",
    "to_mjd",
]
