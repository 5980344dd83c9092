"""The configuration: what it holds (model), how files become one (loader), and the source
that re-reads it when they change (source). Importing this package loads only the model, so
a transport that needs an AppConfig loads no app type."""

from .model import AppConfig, Config, ServerConfig

__all__ = ["AppConfig", "Config", "ServerConfig"]
