"""``python -m toymc``: write a synthetic DoubleMuon-like NanoAOD file."""

import sys

from toymc.cli import main

sys.exit(main())
