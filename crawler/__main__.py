"""`python -m crawler` is the `newshound` command."""

import sys

from crawler.cli import main

sys.exit(main())
