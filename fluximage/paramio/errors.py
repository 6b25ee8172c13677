"""Exceptions of the parameter layer; their text is for users."""

__all__ = ["CommandLineError", "ParamError"]


class ParamError(Exception):
    """A parameter file, PFILES or parameter-value problem."""


class CommandLineError(ParamError):
    """A problem with the parameters given on the command line (or at a prompt)."""
