"""One folder per language; each holds `runner.py` defining `RUNNER`, its image and examples."""
