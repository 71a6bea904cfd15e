"""What workflows did, as numbers: the rollups (kept by a periodic fold) and their reads."""
