"""`python -m sweepflow` entry point."""

from sweepflow.cli import main

raise SystemExit(main())
