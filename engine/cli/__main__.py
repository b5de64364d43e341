"""`python -m engine.cli` runs the `hearth` command line."""
from engine.cli import main

main()
