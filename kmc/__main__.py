import sys

from kmc.cli import main

sys.exit(main())
