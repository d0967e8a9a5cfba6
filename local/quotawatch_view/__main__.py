"""python -m quotawatch_view: the `quotawatch` command (scripts/bootstrap installs it in .venv/bin)."""

import sys

from quotawatch_view.cli import main

sys.exit(main())
