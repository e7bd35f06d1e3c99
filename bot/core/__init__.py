"""The bottom layer: config, database, Redis, logging, text normalisation, geo. Imports nothing above it."""
