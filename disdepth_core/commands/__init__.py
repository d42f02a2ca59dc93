"""CLI subcommands; each module holds one ``register(subparsers)`` and its ``run(args)``."""
