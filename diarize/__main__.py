"""``python -m diarize``: the same command as the ``diarize`` script."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="diarize")
