import sys

from hpscout.cli import main

sys.exit(main())
