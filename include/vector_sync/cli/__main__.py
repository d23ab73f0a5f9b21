import sys

from vector_sync.cli import main

sys.exit(main())
