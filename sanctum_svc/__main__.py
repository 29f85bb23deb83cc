"""`python -m sanctum_svc` = `esper-sanctum`."""

from __future__ import annotations

import sys

from sanctum_svc.cli import main

if __name__ == "__main__":
    sys.exit(main())
