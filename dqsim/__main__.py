"""``python -m dqsim`` runs the command-line interface."""

from dqsim.cli import console_main

raise SystemExit(console_main())
