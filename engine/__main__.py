"""``python -m engine`` is the ``topology-engine`` command."""

import sys

from .cli import main

if __name__ == "__main__":  # not when a spawned process (the report's timeline pass) imports it
    sys.exit(main())
