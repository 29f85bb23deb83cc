"""`python -m esper_common` = `esper`."""

import sys

from esper_common.cli import main

sys.exit(main())
