"""gmm-diarize: who spoke when, with Gaussian mixture models, offline on a CPU."""

__version__ = "0.1.0"
