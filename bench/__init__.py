"""`make bench`: performance measurements of the workflow engine (GitHub issue #6).

Entry point: bench/run.py. One module per scenario; RESULTS.md is written by the run.
"""
