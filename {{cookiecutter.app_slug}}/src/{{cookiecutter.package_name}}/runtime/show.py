"""Print what a run extracted as a tree: the whole run, one schema, or one table with its keys.

RUNTIME. The CLI's ``show`` command calls ``show``; change what a tree lists
here. Output is read through ``output.load_run`` (every part's sha256 checked).
Every name goes through ``label``: markup-escaped and with control characters
spelled as escapes, so a table named ``[red]x`` or ``a⏎b`` prints as it is.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from ..sources.records import Record, qualify
from .logs import escape as visible
from .output import BadOutput, RunIndex, Table, load_run

_QUOTED = re.compile(r'"((?:[^"]|"")*)"')
CLOSE_MATCHES = 5


class UnknownTarget(BadOutput):
    """The schema or table asked for is not in the run (or could be several); the message lists close matches."""


def show(manifest_url: str, target: str | None, console: Console, secrets_dir: Path | None = None) -> None:
    """Print the run, the schema ``SCHEMA`` or the table ``SCHEMA.TABLE`` (``"a.b"."c"`` when names hold dots).

    Raises ``UnknownTarget`` for a name not in the run and ``output.BadOutput`` for unreadable output.
    """
    run = load_run(manifest_url, secrets_dir)
    found = resolve(run, target) if target else None
    if found is None:
        tree = run_tree(run)
    elif isinstance(found, Table):
        tree = table_tree(run, found)
    else:
        tree = schema_tree(run, found)
    console.print(tree)


def label(text: Any) -> str:
    """``text`` safe to print through rich markup: escaped, control characters visible."""
    return "[dim]-[/dim]" if text is None else escape(visible(str(text)))


def resolve(run: RunIndex, target: str) -> str | Table:
    """The schema name or table ``target`` names; ``UnknownTarget`` when none or several do."""
    found = _candidates(run, target)
    if len(found) == 1:
        return found[0]
    if found:
        spelled = ", ".join(_spell(run, f) for f in found)
        raise UnknownTarget(f"{visible(target)!r} is ambiguous: it names {spelled}; "
                            f"quote the parts, e.g. {_spell(run, found[0])}")
    names = list(run.schemas) + [f"{t.schema}.{t.name}" for t in run.tables.values()]
    close = difflib.get_close_matches(target, names, n=CLOSE_MATCHES, cutoff=0.6)
    hint = f"; close matches: {', '.join(repr(visible(c)) for c in close)}" if close else ""
    raise UnknownTarget(f"no schema or table {visible(target)!r} in this run{hint}")


def _candidates(run: RunIndex, target: str) -> list[str | Table]:
    quoted = _quoted_parts(target)
    if quoted is not None:
        if len(quoted) == 1:
            return [quoted[0]] if quoted[0] in run.schemas else []
        table = _table(run, quoted[-2], quoted[-1])
        return [table] if table else []
    found: list[str | Table] = [target] if target in run.schemas else []
    for dot in (m.start() for m in re.finditer(r"\.", target)):
        table = _table(run, target[:dot], target[dot + 1:])
        if table is not None:
            found.append(table)
    return found


def _quoted_parts(target: str) -> list[str] | None:
    """``"a.b"."c"`` as ``["a.b", "c"]``; ``None`` unless the whole target is quoted parts."""
    parts = [m.group(1).replace('""', '"') for m in _QUOTED.finditer(target)]
    return parts if parts and len(parts) <= 3 and qualify(*parts) == target else None


def _table(run: RunIndex, schema: str, name: str) -> Table | None:
    db = str(run.manifest.get("database") or (run.database or {}).get("name") or "")
    return run.tables.get(qualify(db, schema, name))


def _spell(run: RunIndex, found: str | Table) -> str:
    return qualify(found) if isinstance(found, str) else qualify(found.schema, found.name)


# --- the three trees ----------------------------------------------------------------------


def run_tree(run: RunIndex) -> Tree:
    m = run.manifest
    written = f", written {run.written_at:%Y-%m-%d %H:%M:%S %Z}" if run.written_at else ""
    tree = Tree(f"[bold]{label(m.get('dialect'))} {label(repr(m.get('database')))}[/bold] "
                f"run {label(m.get('workflow_id'))}{written}")
    counts = m.get("counts") or {}
    tree.add("counts: " + ", ".join(f"{label(k)} {v}" for k, v in counts.items() if v))
    for name, record in run.schemas.items():
        node = tree.add(f"[bold]{label(name)}[/bold] ({_plural(len(run.tables_of(name)), 'table')})")
        _comment(node, record)
    for schema, names in (m.get("vanished") or {}).items():
        tree.add(f"[yellow]vanished while read[/yellow] in {label(schema)}: {_names(names)}")
    return tree


def schema_tree(run: RunIndex, schema: str) -> Tree:
    tables = run.tables_of(schema)
    tree = Tree(f"[bold]{label(schema)}[/bold] ({_plural(len(tables), 'table')})")
    _comment(tree, run.schemas[schema])
    for table in tables:
        if not table.record.get("partition_of") or table.record["partition_of"] not in run.tables:
            _table_line(run, tree, table)
    for other in run.others.get(schema, []):
        what = other.get("type_kind") or other["kind"]
        tree.add(f"{label(other['name'])} [dim]{label(what)}[/dim]")
    return tree


def _table_line(run: RunIndex, parent: Tree, table: Table) -> None:
    kind = table.record["table_type"]
    node = parent.add(f"{label(table.name)} [dim]{label(kind)}, {_plural(len(table.columns), 'column')}[/dim]")
    for child in table.partitions:
        _table_line(run, node, run.tables[child])


def table_tree(run: RunIndex, table: Table) -> Tree:
    r = table.record
    tree = Tree(f"[bold]{label(table.schema)}.{label(table.name)}[/bold] [dim]{label(r['table_type'])}[/dim]")
    _comment(tree, r)
    if r.get("partition_of"):
        tree.add(f"partition of {label(r['partition_of'])} {label(r.get('partition_bound'))}")
    if r.get("partition_key"):
        tree.add(f"partition key {label(r['partition_key'])}")
    if r.get("view_definition"):
        tree.add(f"definition: {label(r['view_definition'])}")
    columns = tree.add(f"[bold]columns[/bold] ({len(table.columns)})")
    for c in table.columns:
        default = f" default {label(c['default'])}" if c.get("default") is not None else ""
        null = "null" if c["nullable"] else "not null"
        node = columns.add(f"{label(c['name'])} [cyan]{label(c['data_type'])}[/cyan] {null}{default}")
        _comment(node, c)
    _keys(run, tree, table)
    _add_all(tree, "referenced by", [
        f"{_ref(run, f['table'])} ({_names(f['columns'])}) → ({_names(f['referred_columns'])}) {_named(f)}"
        for f in table.referenced_by])
    _add_all(tree, "indexes", [_index(x) for x in table.indexes])
    _add_all(tree, "partitions", [f"{label(run.tables[p].name)} {label(run.tables[p].record.get('partition_bound'))}"
                                  for p in table.partitions])
    return tree


def _keys(run: RunIndex, tree: Tree, table: Table) -> None:
    pk = table.primary_key
    _add_all(tree, "primary key", [f"({_names(pk['columns'])}) {_named(pk)}"] if pk else [])
    _add_all(tree, "foreign keys", [
        f"({_names(f['columns'])}) → {_ref(run, f['referred_table'])} ({_names(f['referred_columns'])}) {_named(f)}"
        + "".join(f" on {w} {label(f[k])}" for w, k in (("delete", "on_delete"), ("update", "on_update")) if f.get(k))
        for f in table.foreign_keys])
    _add_all(tree, "unique", [f"({_names(u['columns'])}) {_named(u)}" for u in table.unique_constraints])
    _add_all(tree, "checks", [f"{label(c['expression'])} {_named(c)}" for c in table.check_constraints])


def _ref(run: RunIndex, qualified: str) -> str:
    """A table as ``schema.name`` when it is in the run, else its full qualified name."""
    table = run.tables.get(qualified)
    return f"{label(table.schema)}.{label(table.name)}" if table else label(qualified)


def _index(x: Record) -> str:
    unique = "unique " if x.get("unique") else ""
    where = f" where {label(x['predicate'])}" if x.get("predicate") else ""
    return f"{label(x['name'])}: {unique}{label(x.get('method'))} ({_names(x['columns'])}){where}"


def _add_all(tree: Tree, title: str, lines: list[str]) -> None:
    if lines:
        branch = tree.add(f"[bold]{title}[/bold]")
        for line in lines:
            branch.add(line)


def _comment(node: Tree, record: Record) -> None:
    if record.get("comment"):
        node.add(f"[italic dim]{label(record['comment'])}[/italic dim]")


def _named(record: Record) -> str:
    return f"[dim]{label(record['name'])}[/dim]" if record.get("name") else ""


def _names(names: list[str]) -> str:
    return ", ".join(label(n) for n in names)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"
