"""The command layer: the CLI's sub-commands that read files and parse arguments for the pure core.

``api/`` and ``drift/`` hold no argparse and no file reading; the commands that put them on the
command line live here, one module per group, each exposing ``register(subparsers)`` for ``cli.py``.
"""
