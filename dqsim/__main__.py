"""``python -m dqsim`` runs the command-line interface."""

from dqsim.cli import console_main, exit_status

raise SystemExit(exit_status(console_main()))
