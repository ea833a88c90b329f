"""The labelled PII corpus of the benchmark (generated, seeded; see generate.py)."""
