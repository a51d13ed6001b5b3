"""``python -m fastinfer`` runs the ``fastinfer`` command."""

import sys

from .cli import main

sys.exit(main())
