"""``python -m toymc.gamgam``: write the synthetic GamGam samples."""

import sys

from toymc.gamgam.cli import main

sys.exit(main())
