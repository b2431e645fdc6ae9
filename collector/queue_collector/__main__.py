"""``python -m queue_collector`` runs the ``queue-collector`` command."""

import sys

from queue_collector.cli import main

sys.exit(main())
