"""Put on PYTHONPATH by a test: this interpreter behaves as if asyncpg were not installed."""

import sys


class _NoAsyncpg:
    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        if name == "asyncpg" or name.startswith("asyncpg."):
            raise ModuleNotFoundError(f"No module named {name!r}")


sys.meta_path.insert(0, _NoAsyncpg())
