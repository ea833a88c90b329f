"""Scanning the store for personal data: one complete scan (``leaks``) and each revision's
periodic, CPU-bounded scan (``periodic``)."""
