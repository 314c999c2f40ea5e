"""Validate the answers before anything is rendered; exit 1 with a clear message on bad input."""

from __future__ import annotations

import json
import keyword
import re
import sys

ANSWERS = {
    "app_slug": json.loads(r'''{{ cookiecutter.app_slug | tojson }}'''),
    "package_name": json.loads(r'''{{ cookiecutter.package_name | tojson }}'''),
    "worker_replicas": json.loads(r'''{{ cookiecutter.worker_replicas | tojson }}'''),
}


def validate(answers: dict[str, str]) -> list[str]:
    """Return one message per broken rule: field, value, rule, fix."""
    errors = []
    slug = answers["app_slug"]
    if not re.fullmatch(r"[a-z]([-a-z0-9]{0,51}[a-z0-9])?", slug):
        errors.append(f"app_slug={slug!r}: must be a DNS-1123 label of at most 53 characters "
                      "(lowercase letters, digits, '-'; start with a letter)")
    package = answers["package_name"]
    if not package.isidentifier() or keyword.iskeyword(package) or not package.isascii():
        errors.append(f"package_name={package!r}: must be a valid, non-keyword ASCII Python identifier")
    replicas = str(answers["worker_replicas"])
    if not replicas.isdigit() or int(replicas) < 1:
        errors.append(f"worker_replicas={replicas!r}: must be an integer >= 1")
    return errors


def main() -> int:
    errors = validate(ANSWERS)
    for message in errors:
        print(f"ERROR: {message}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
