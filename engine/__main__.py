"""``python -m engine`` is the ``topology-engine`` command."""
import sys

from .cli import main

sys.exit(main())
