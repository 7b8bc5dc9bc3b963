"""`python -m frontdesk.router.cli`: the same command line as `frontdesk`."""

import sys

from frontdesk.router.cli.main import main

sys.exit(main())
