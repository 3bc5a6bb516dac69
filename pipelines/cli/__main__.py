"""`python -m pipelines.cli`: the `rollcall` command."""
import sys

from pipelines.cli import main

sys.exit(main())
