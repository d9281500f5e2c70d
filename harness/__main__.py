"""`python -m abaw_bench.harness ...` is `abaw-bench ...` (what `torchrun -m` needs)."""

import sys

from abaw_bench.harness.cli import main

sys.exit(main())
