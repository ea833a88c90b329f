"""The admin-key check of the router's admin routes: the shared one of :mod:`ethos.security`.

One implementation for the service, the router and the console (key compared in constant
time, never logged; repeated wrong keys locked out per address, see
:mod:`ethos.security.ratelimit`).
"""

from __future__ import annotations

from ...security.admin_auth import AdminGate, Denied, check_admin_key

__all__ = ["AdminGate", "Denied", "check_admin_key"]
