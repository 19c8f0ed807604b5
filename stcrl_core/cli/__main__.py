"""``python -m stcrl_core.cli`` (also what ``torchrun -m stcrl_core.cli`` runs)."""

import sys

from stcrl_core.cli import main

sys.exit(main())
