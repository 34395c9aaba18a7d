"""`python -m opendeur` runs the command line."""

import sys

from opendeur.cli import main

sys.exit(main())
