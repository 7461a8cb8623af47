"""``python -m diarize``: the same command as the ``diarize`` script."""

from .cli import run

if __name__ == "__main__":
    run(prog_name="diarize")
