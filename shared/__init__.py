"""Pure core shared by API and worker: the MTHDS language, models, signing. No network, disk, clock or randomness."""
