"""`python -m trainer_svc` = `esper-trainer`."""

from __future__ import annotations

import sys

from trainer_svc.cli import main

if __name__ == "__main__":
    sys.exit(main())
