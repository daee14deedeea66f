"""``python -m inspect_svdd``: the same command line as ``inspect-svdd``."""

from inspect_svdd.cli import main

if __name__ == "__main__":
    main(prog_name="inspect-svdd")
