"""abaw-bench: the benchmark and submission-evaluation harness for the ABAW challenges.

`harness` is the engine. It knows systems and baselines only through the registry in `harness.registry`,
and it never imports torch at package import time so that `validate`, `score` and the listings stay light.
"""

__version__ = "0.1.0"
