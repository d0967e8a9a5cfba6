import sys

from quotawatch.cli import main

sys.exit(main())
