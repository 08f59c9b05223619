"""``python -m dimuon_ad``: the ``dimuon-ad`` command without the installed script."""

import sys

from dimuon_ad.cli import main

sys.exit(main())
