"""`python -m adiff ...` runs the `adiff` command."""

import sys

from .cli import main

sys.exit(main())
