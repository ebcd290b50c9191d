"""``python -m symloss`` runs the ``symloss`` command."""

import sys

from .cli import main

sys.exit(main())
