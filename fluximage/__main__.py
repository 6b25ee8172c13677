"""``python -m fluximage`` runs the command."""

import sys

from .cli import main

sys.exit(main())
