import sys

from bpjax.app.cli import main

sys.exit(main())
