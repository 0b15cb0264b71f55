"""`python -m sweepflow` entry point."""

from sweepflow.cli.main import main

raise SystemExit(main())
