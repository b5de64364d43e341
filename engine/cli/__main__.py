"""`python -m engine.cli` runs the `hearth` command line; it owns and touches nothing itself."""

from engine.cli import main

main()
