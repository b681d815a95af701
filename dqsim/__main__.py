"""``python -m dqsim`` runs the command-line interface."""

from dqsim.cli.main import main

raise SystemExit(main())
