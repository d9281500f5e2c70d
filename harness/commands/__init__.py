"""One module per `abaw-bench` subcommand; see `harness.cli` for the contract."""
