"""xinyidai: financing credit service platform (融资信用服务平台)."""

__version__ = "0.1.0"
