"""``python -m trio_groqstream``: the same command as the ``trio-groqstream`` console script."""

from ._cli import run

if __name__ == "__main__":
    run()
