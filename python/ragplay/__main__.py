"""``python -m ragplay`` runs the command line."""

from ragplay.cli import main

raise SystemExit(main())
