"""One module per ``emovox`` subcommand, each with ``add_arguments(parser)`` and ``run(args) -> int``."""
