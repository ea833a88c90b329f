"""ethos: an LLM chat service whose response cache is safe to share."""

__version__ = "0.1.0"

__all__ = ["__version__"]
