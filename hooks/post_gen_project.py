"""Wire the rendered project: write .env for local development from .env.example."""

from __future__ import annotations

from pathlib import Path


def write_dotenv(project: Path) -> Path:
    """Copy .env.example to .env unless one exists; it holds no secrets."""
    target = project / ".env"
    if not target.exists():
        target.write_text((project / ".env.example").read_text(encoding="utf-8"), encoding="utf-8")
    return target


if __name__ == "__main__":
    write_dotenv(Path.cwd())
