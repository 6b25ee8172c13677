"""``python -m fluximage`` runs the command."""

from .cli import console_main

console_main()
