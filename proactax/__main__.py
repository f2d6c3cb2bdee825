import sys

from proactax.cli import main

sys.exit(main())
