"""Access control shared by every process with admin routes (service, router, console)."""

from .admin_auth import AdminGate, AuthCounters, Denied, check_admin_key, client_address
from .ratelimit import AuthLimiter, LimitSettings

__all__ = ["AdminGate", "AuthCounters", "AuthLimiter", "Denied", "LimitSettings",
           "check_admin_key", "client_address"]
