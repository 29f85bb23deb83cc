"""`python -m tui_client` (used by `esper-tui --serve` for each browser session)."""

import sys

from tui_client.cli import main

sys.exit(main())
