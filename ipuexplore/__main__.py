import sys

from ipuexplore.cli import main

sys.exit(main())
