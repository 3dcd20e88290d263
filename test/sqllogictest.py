#!/usr/bin/env python3
"""Run DuckDB-dialect sqllogictest files (.test) through the stock DuckDB Python wheel.

(Over 600 lines: parser, value rendering, runner and its self-test in one file, so that it runs as a plain
script with nothing but the wheel installed.)

    python test/sqllogictest.py --extension build/v2.0.1/vgi.duckdb_extension \
        [--setting name=value ...] test/sql/*.test
    python test/sqllogictest.py --selftest

Each file runs against a fresh in-memory database. Values are rendered by DuckDB itself: the statement runs
once, its rows are held in DuckDB's own types, and each column is cast to VARCHAR over the held rows, so a value
reads exactly as CAST(value AS VARCHAR) does (NULL as "NULL", the empty string as "(empty)"). Results are
compared by the rules of DuckDB's own runner (test/sqlite/result_helper.cpp): row-wise tab-separated or one value
per line, numeric columns compared as numbers of the column's type, booleans as true/1 and false/0.

Directives: statement ok|error|maybe [connection] (an expected error after "----" is a substring, or
<REGEX>:/<!REGEX>: searched), query TYPES [nosort|rowsort|valuesort|connection] [label], skipif/onlyif,
loop/foreach/concurrentloop/concurrentforeach ... endloop (${name} replaced), mode skip/unskip, halt, require
(vgi loads --extension and then SETs every --setting; platform names are checked; other names are LOADed or skip
the file), require-env, skip-env NAME[=VALUE] REASON (skips the file when the variable is set, to VALUE if given,
printing the reason), load [path [readonly]], restart, reconnect, sleep; set and hash-threshold are ignored.
In SQL and expected text, ${VGI_EXTENSION} is the extension's absolute path (${VGI_EXTENSION_DIR} its folder) and __TEST_DIR__ a per-file temporary
directory. Hash results ("N values hashing to X") are not supported and fail with a message saying so.

The last line printed is "N passed, M failed" (", K skipped" when files were skipped), counting files. The exit
status is non-zero when a file failed or no record ran.
"""

import argparse
import contextlib
import dataclasses
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

try:
    import duckdb
except ImportError:
    sys.exit("sqllogictest.py: the duckdb module is missing; run it with the python that scripts/setup-venv.sh prints")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EXTENSION = REPO_ROOT / "build" / "release" / "vgi.duckdb_extension"
SELFTEST_DIR = Path(__file__).resolve().parent / "runner-selftest"

CONNECT_CONFIG = {"allow_unsigned_extensions": "true", "autoinstall_known_extensions": "false"}
RESULT_NAME = "__sqllogictest_result"
ROWS_SHOWN = 10
SEPARATOR = "----"

STATEMENT_MODES = ("ok", "error", "maybe")
SORT_MODES = {"nosort": "nosort", "rowsort": "rowsort", "sort": "rowsort", "valuesort": "valuesort"}
LOOP_COMMANDS = ("loop", "concurrentloop", "foreach", "concurrentforeach")
SINGLE_LINE_COMMANDS = (
    *LOOP_COMMANDS,
    "endloop",
    "halt",
    "hash-threshold",
    "load",
    "mode",
    "reconnect",
    "require",
    "require-env",
    "restart",
    "set",
    "skip-env",
    "sleep",
)
HASH_RESULT = re.compile(r"^[0-9]+ values hashing to [0-9a-z]+$")
NUMERIC_TYPES = {
    "tinyint", "smallint", "integer", "bigint", "hugeint",
    "utinyint", "usmallint", "uinteger", "ubigint", "uhugeint",
    "float", "double", "decimal",
}  # fmt: skip
FLOAT_TYPES = {"float", "double"}

_SIGNED = ["tinyint", "smallint", "integer", "bigint", "hugeint"]
_UNSIGNED = ["utinyint", "usmallint", "uinteger", "ubigint", "uhugeint"]
_NUMERIC = [*_SIGNED, *_UNSIGNED, "float", "double"]
FOREACH_SETS = {
    "<signed>": _SIGNED,
    "<unsigned>": _UNSIGNED,
    "<integral>": [*_SIGNED, *_UNSIGNED],
    "<numeric>": _NUMERIC,
    "<alltypes>": [*_NUMERIC, "bool", "interval", "varchar"],
    "<compression>": ["none", "uncompressed", "rle", "bitpacking", "dictionary", "fsst", "alp", "alprd"],
}

# Requirements of DuckDB's runner that name a property of the build or platform, not an extension.
PLATFORM_REQUIREMENTS = {
    "notwindows": sys.platform != "win32",
    "windows": sys.platform == "win32",
    "notmingw": True,
    "mingw": False,
    "64bit": sys.maxsize > 2**32,
    "skip_reload": True,
    "noforcestorage": True,
    "nothreadsan": True,
    "noalternativeverify": True,
    "no_vector_verification": True,
    "strinline": True,
}
SLEEP_UNITS = {"second": 1.0, "seconds": 1.0, "millisecond": 1e-3, "milliseconds": 1e-3,
               "microsecond": 1e-6, "microseconds": 1e-6, "nanosecond": 1e-9, "nanoseconds": 1e-9}  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------------------------


class ParseError(Exception):
    """The file does not follow the sqllogictest format."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclasses.dataclass
class Record:
    """One record of a test file: a statement, a query or a single-line directive."""

    line: int
    command: str
    params: list[str]
    sql: str = ""
    expected: list[str] | None = None  # the lines after "----"; None when the record has no such section


@dataclasses.dataclass
class Loop:
    """A loop or foreach block: its body runs once per value, with ${name} replaced by the value."""

    line: int
    name: str
    values: list[str]
    body: list["Record | Loop"] = dataclasses.field(default_factory=list)


def empty_or_comment(line: str) -> bool:
    """Whether a line ends a record (DuckDB: an empty line or one starting with '#')."""
    return not line or line.startswith("#")


def take_lines(lines: list[str], start: int, stop) -> tuple[list[str], int]:
    """The lines from start up to the first one for which stop() holds, and the index of that line."""
    end = start
    while end < len(lines) and not stop(lines[end]):
        end += 1
    return lines[start:end], end


def parse_file(path: Path) -> list[Record | Loop]:
    """Parse a test file into records, with loop bodies nested; skipif/onlyif records are dropped here."""
    lines = path.read_text(encoding="utf-8").replace("\r", "").split("\n")
    records = []
    index = 0
    while True:
        while index < len(lines) and empty_or_comment(lines[index]):
            index += 1
        if index >= len(lines):
            break
        record, index, wanted = parse_record(lines, index)
        if wanted:
            records.append(record)
    return nest_loops(records)


def parse_record(lines: list[str], index: int) -> tuple[Record, int, bool]:
    """Parse the record starting at lines[index]: the record, the index after it, and whether it runs here."""
    wanted = True
    tokens = lines[index].split()
    while tokens[0] in ("skipif", "onlyif"):
        if len(tokens) < 2:
            raise ParseError(index + 1, f"{tokens[0]} needs a system name (e.g. {tokens[0]} duckdb)")
        if (tokens[1].lower() == "duckdb") == (tokens[0] == "skipif"):
            wanted = False
        index += 1
        if index >= len(lines) or empty_or_comment(lines[index]):
            raise ParseError(index, f"{tokens[0]} must be followed by a record")
        tokens = lines[index].split()
    record = Record(line=index + 1, command=tokens[0], params=tokens[1:])
    index += 1
    if record.command in ("statement", "query"):
        sql_lines, index = take_lines(lines, index, lambda line: empty_or_comment(line) or line == SEPARATOR)
        if not sql_lines:
            raise ParseError(record.line, f"{record.command} without SQL")
        record.sql = "\n".join(sql_lines)
        if index < len(lines) and lines[index] == SEPARATOR:
            record.expected, index = take_lines(lines, index + 1, lambda line: not line)
    elif record.command in SINGLE_LINE_COMMANDS:
        if index < len(lines) and not empty_or_comment(lines[index]):
            raise ParseError(record.line, f"'{record.command}' must be followed by an empty line")
    else:
        raise ParseError(record.line, f"unknown command '{record.command}'")
    return record, index, wanted


def nest_loops(records: list[Record]) -> list[Record | Loop]:
    """Turn the flat record list into a tree where each loop holds the records up to its endloop."""
    top: list[Record | Loop] = []
    open_loops: list[Loop] = []
    for record in records:
        body = open_loops[-1].body if open_loops else top
        if record.command in LOOP_COMMANDS:
            loop = make_loop(record)
            body.append(loop)
            open_loops.append(loop)
        elif record.command == "endloop":
            if not open_loops:
                raise ParseError(record.line, "endloop without a loop")
            open_loops.pop()
        else:
            body.append(record)
    if open_loops:
        raise ParseError(open_loops[-1].line, "loop without endloop")
    return top


def make_loop(record: Record) -> Loop:
    """The Loop of a loop/foreach header: loop NAME START END (END excluded), foreach NAME VALUE..."""
    params = record.params
    if record.command.endswith("foreach"):
        if len(params) < 2:
            raise ParseError(record.line, "foreach needs a name and at least one value")
        values = [value for token in params[1:] for value in FOREACH_SETS.get(token.lower(), [token])]
        parts = params[0].count(",")
        for value in values:
            if value.count(",") != parts:
                raise ParseError(record.line, f"foreach value '{value}' needs one part per name in '{params[0]}'")
        return Loop(record.line, params[0], values)
    if len(params) != 3:
        raise ParseError(record.line, "loop needs a name, a start and an end (e.g. loop i 0 10)")
    try:
        start, end = int(params[1]), int(params[2])
    except ValueError:
        raise ParseError(record.line, "loop start and end must be integers") from None
    return Loop(record.line, params[0], [str(i) for i in range(start, end)])


def loop_bindings(name: str, value: str) -> dict[str, str]:
    """The ${...} replacements of one loop iteration; "foreach a,b 1,x 2,y" binds a and b together."""
    return dict(zip(name.split(","), value.split(","), strict=True))


# ---------------------------------------------------------------------------------------------------------------
# Running SQL and rendering values
# ---------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class QueryResult:
    """What a statement returned: column names and type names, and every value rendered as the runner shows it."""

    names: list[str]
    types: list[str]
    rows: list[list[str]]


def render(value: str | None) -> str:
    """A value already cast to VARCHAR by DuckDB, as DuckDB's runner prints it."""
    if value is None:
        return "NULL"
    if value == "":
        return "(empty)"
    return value.replace("\0", "\\0")


def execute(con: duckdb.DuckDBPyConnection, sql: str) -> QueryResult:
    """Run sql exactly once and render its rows.

    The rows are held by DuckDB in their own types (no round trip through Python or Arrow values), and each
    column is then cast to VARCHAR by DuckDB over the held rows, so every value reads as CAST(value AS VARCHAR).
    """
    relation = con.sql(sql)
    if relation is None:
        return QueryResult([], [], [])
    held = relation.materialize()
    casts = ", ".join(f"CAST(#{i} AS VARCHAR)" for i in range(1, len(held.columns) + 1))
    rows = []
    if casts:
        with insertion_order_kept(con):
            rows = held.query(RESULT_NAME, f"SELECT {casts} FROM {RESULT_NAME}").fetchall()
    return QueryResult(
        names=list(held.columns),
        types=[str(t) for t in held.types],
        rows=[[render(value) for value in row] for row in rows],
    )


@contextlib.contextmanager
def insertion_order_kept(con: duckdb.DuckDBPyConnection):
    """Keep rows in order while the held result is cast, also where a test turned preserve_insertion_order off.

    Without it a parallel scan of the held rows may reorder them (seen from about 10,000 rows). The setting is
    global, so it is restored at once.
    """
    if con.sql("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]:
        yield
        return
    con.sql("SET preserve_insertion_order = true")
    try:
        yield
    finally:
        con.sql("SET preserve_insertion_order = false")


def sort_rows(rows: list[list[str]], mode: str) -> list[list[str]]:
    """The rows in the order a sort mode asks for: as returned, rows sorted, or all values sorted."""
    if mode == "rowsort":
        return sorted(rows)
    if mode == "valuesort" and rows and rows[0]:
        width = len(rows[0])
        values = sorted(value for row in rows for value in row)
        return [values[i : i + width] for i in range(0, len(values), width)]
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Comparing results (DuckDB's rules)
# ---------------------------------------------------------------------------------------------------------------


class Mismatch(Exception):
    """A record did not do what the test file says it does."""


def regex_matches(text: str, expected: str, *, search: bool) -> bool | None:
    """For an expected value "<REGEX>:p" or "<!REGEX>:p", whether text satisfies it; None for other values."""
    for prefix, want in (("<REGEX>:", True), ("<!REGEX>:", False)):
        if expected.startswith(prefix):
            pattern = re.compile(expected[len(prefix) :], re.DOTALL)
            found = pattern.search(text) if search else pattern.fullmatch(text)
            return bool(found) == want
    return None


def approx_equal(actual: float, expected: float) -> bool:
    """DuckDB's ApproxEqual for FLOAT and DOUBLE results: within 1% (plus 1e-8), NaN equal to NaN."""
    if math.isnan(actual) and math.isnan(expected):
        return True
    if math.isinf(actual) or math.isinf(expected):
        return actual == expected
    return abs(actual - expected) <= abs(expected) * 0.01 + 0.00000001


class NumberComparer:
    """Compares two renderings of a number as values of the column's type, on a private database."""

    def __init__(self) -> None:
        self._con: duckdb.DuckDBPyConnection | None = None

    def equal(self, actual: str, expected: str, type_name: str) -> bool:
        """Whether both strings cast to the same value of type_name (floats approximately)."""
        if "NULL" in (actual, expected):
            return False
        if self._con is None:
            self._con = duckdb.connect()
        sql = f"SELECT TRY_CAST($1 AS {type_name}), TRY_CAST($2 AS {type_name})"
        left, right = self._con.execute(sql, [actual, expected]).fetchall()[0]
        if left is None or right is None:
            return False
        if type_id(type_name) in FLOAT_TYPES:
            return approx_equal(float(left), float(right))
        return left == right


NUMBERS = NumberComparer()


def type_id(type_name: str) -> str:
    """The base name of a type, lower case: 'DECIMAL(18,4)' -> 'decimal'."""
    return type_name.split("(", maxsplit=1)[0].strip().lower()


def boolean_key(text: str) -> str:
    """A boolean rendering reduced to 1 or 0 (true, TRUE and 1 are all true); other text unchanged."""
    if text.lower() == "true" or text == "1":
        return "1"
    if text.lower() == "false" or text == "0":
        return "0"
    return text


def values_match(actual: str, expected: str, type_name: str) -> bool:
    """DuckDB's CompareValues: equal text, a <REGEX>: match, equal numbers of the type, or equal booleans."""
    if actual == expected:
        return True
    if regex_matches(actual, expected, search=False):
        return True
    kind = type_id(type_name)
    if kind in NUMERIC_TYPES:
        return NUMBERS.equal(actual, expected, type_name)
    if kind == "boolean":
        return boolean_key(actual) == boolean_key(expected)
    return False


def expected_rows(lines: list[str], columns: int, result_rows: int) -> list[list[str]]:
    """Split expected lines into rows as DuckDB does: tab-separated rows, or else one value per line."""
    row_wise = (columns > 1 and len(lines) == result_rows) or (bool(lines) and all("\t" in ln for ln in lines))
    if row_wise:
        rows = [[part for part in line.split("\t") if part] or [line] for line in lines]
        for number, row in enumerate(rows, 1):
            if len(row) != columns:
                raise Mismatch(f"expected row {number} has {len(row)} values, the result has {columns} columns")
        return rows
    if len(lines) % columns:
        raise Mismatch(f"{len(lines)} expected values do not divide into rows of {columns} columns")
    return [lines[i : i + columns] for i in range(0, len(lines), columns)]


def check_result(result: QueryResult, expected_lines: list[str], declared_columns: int) -> None:
    """Raise Mismatch unless the (already sorted) result equals the expected lines by DuckDB's rules."""
    if len(expected_lines) == 1 and HASH_RESULT.match(expected_lines[0]):
        raise Mismatch("hash results ('N values hashing to X') are not supported by this runner; list the rows")
    columns = len(result.names)
    if declared_columns != columns:
        raise Mismatch(f"the query declares {declared_columns} columns but the result has {columns}")
    expected = expected_rows(expected_lines, columns, len(result.rows))
    if len(expected) != len(result.rows):
        raise Mismatch(f"expected {len(expected)} rows but the result has {len(result.rows)}")
    for row_number, (actual_row, expected_row) in enumerate(zip(result.rows, expected, strict=True), 1):
        for column, (actual, wanted) in enumerate(zip(actual_row, expected_row, strict=True)):
            if not values_match(actual, wanted, result.types[column]):
                raise Mismatch(
                    f"row {row_number}, column {column + 1} ({result.names[column]}, {result.types[column]}): "
                    f"actual {actual!r}, expected {wanted!r}"
                )


def check_error(mode: str, error: str | None, expected: str | None) -> None:
    """Raise Mismatch unless a statement's outcome fits its mode (ok, error or maybe) and expected message."""
    if error is not None and "INTERNAL Error" in error:
        raise Mismatch(f"internal errors are never expected:\n{error}")
    if mode == "ok":
        if error is not None:
            raise Mismatch(f"statement failed:\n{error}")
        return
    if error is None:
        if mode == "error":
            raise Mismatch("statement succeeded, an error was expected")
        return
    if expected and expected not in error and not regex_matches(error, expected, search=True):
        raise Mismatch(f"error message differs\nexpected (substring): {expected}\nactual: {error}")


def plural(count: int, noun: str) -> str:
    """'1 row', '2 rows'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def show_rows(title: str, rows: list[str]) -> list[str]:
    """A titled listing of the first rows of a result, for failure reports."""
    shown = [f"{title} ({plural(len(rows), 'row')}):"] + [f"    {row}" for row in rows[:ROWS_SHOWN]]
    if len(rows) > ROWS_SHOWN:
        shown.append(f"    ... {len(rows) - ROWS_SHOWN} more")
    return shown


# ---------------------------------------------------------------------------------------------------------------
# Running one file
# ---------------------------------------------------------------------------------------------------------------


class SkipFile(Exception):
    """A requirement of the file is missing: the rest of the file is skipped."""


class Halt(Exception):
    """The file says halt: the rest of the file is not run."""


class RecordFailure(Exception):
    """A record failed; the message holds the location, the SQL and what differed."""


@dataclasses.dataclass
class Options:
    """What the command line sets for every file."""

    extension: Path
    settings: list[tuple[str, str]]


@dataclasses.dataclass
class FileResult:
    """The outcome of one file: "ok", "FAIL" or "skip", how many records ran, and why it failed or skipped."""

    path: Path
    outcome: str
    records: int
    message: str = ""


class FileRunner:
    """Runs the records of one test file against its own database."""

    def __init__(self, path: Path, options: Options, test_dir: str) -> None:
        self.path = path
        self.options = options
        self.test_dir = test_dir
        self.db_path = ":memory:"
        self.read_only = False
        self.setup: list[str] = []  # LOAD and SET statements replayed on every new connection
        self.variables: dict[str, str] = {
            "VGI_EXTENSION": str(options.extension),
            "VGI_EXTENSION_DIR": str(Path(options.extension).resolve().parent) if options.extension else "",
        }
        self.labels: dict[str, list[list[str]]] = {}
        self.skip_level = 0
        self.records = 0
        self.database: duckdb.DuckDBPyConnection | None = None
        self.sessions: dict[str, duckdb.DuckDBPyConnection] = {}
        self.handlers = {
            "statement": self.run_statement,
            "query": self.run_query,
            "require": self.require,
            "require-env": self.require_env,
            "skip-env": self.skip_env,
            "load": self.load,
            "restart": lambda record, bindings: self.open_database(),
            "reconnect": lambda record, bindings: self.close_sessions(),
            "halt": self.halt,
            "sleep": self.sleep,
            "set": lambda record, bindings: None,
            "hash-threshold": lambda record, bindings: None,
        }

    def run(self, nodes: list[Record | Loop]) -> None:
        """Open the database and run every record; raises SkipFile or RecordFailure, returns at halt."""
        self.open_database()
        try:
            self.run_nodes(nodes, {})
        except Halt:
            pass
        finally:
            self.close()

    def run_nodes(self, nodes: list[Record | Loop], bindings: dict[str, str]) -> None:
        """Run records in order, each loop body once per loop value."""
        for node in nodes:
            if isinstance(node, Loop):
                for value in node.values:
                    self.run_nodes(node.body, {**bindings, **loop_bindings(node.name, value)})
            elif node.command == "mode":
                self.set_mode(node)
            elif not self.skip_level:
                self.handlers[node.command](node, bindings)

    def expand(self, text: str, bindings: dict[str, str]) -> str:
        """Text with ${name} (loop values, require-env, VGI_EXTENSION), __TEST_DIR__ and __WORKING_DIRECTORY__."""
        for name, value in {**self.variables, **bindings}.items():
            text = text.replace("${" + name + "}", value)
        return text.replace("__TEST_DIR__", self.test_dir).replace("__WORKING_DIRECTORY__", str(Path.cwd()))

    def fail(self, record: Record, sql: str, details: list[str]) -> NoReturn:
        """Raise the failure report of a record: location, SQL, then details."""
        sql_lines = [f"    {line}" for line in sql.split("\n")] if sql else []
        header = [f"{self.path}:{record.line}: {record.command} {' '.join(record.params)}".rstrip()]
        raise RecordFailure("\n".join(header + (["SQL:"] + sql_lines if sql_lines else []) + details))

    # -- connections ---------------------------------------------------------------------------------------------

    def open_database(self) -> None:
        """(Re)open the database: a fresh one for in-memory, the same file after load; replay the setup."""
        self.close()
        config = dict(CONNECT_CONFIG, **({"access_mode": "READ_ONLY"} if self.read_only else {}))
        self.database = duckdb.connect(self.db_path, config=config)

    def close_sessions(self) -> None:
        """Close the default and the named connections; each reopens on the same database when next used."""
        for session in self.sessions.values():
            session.close()
        self.sessions = {}

    def session(self, name: str) -> duckdb.DuckDBPyConnection:
        """The connection named by a record ("" for the default one), opened on first use."""
        if name not in self.sessions:
            con = self.database.cursor()
            con.sql("SET python_enable_replacements = false")
            for sql in self.setup:
                con.sql(sql)
            self.sessions[name] = con
        return self.sessions[name]

    def close(self) -> None:
        """Close every connection and the database."""
        self.close_sessions()
        if self.database is not None:
            self.database.close()
            self.database = None

    # -- statements and queries ----------------------------------------------------------------------------------

    def run_statement(self, record: Record, bindings: dict[str, str]) -> None:
        """statement ok|error|maybe [connection]: run the SQL and check it failed or not as said."""
        mode = record.params[0] if record.params else ""
        if mode not in STATEMENT_MODES:
            self.fail(record, "", [f"statement mode must be one of {', '.join(STATEMENT_MODES)}"])
        if mode == "ok" and record.expected is not None:
            self.fail(record, record.sql, ["statement ok cannot have an expected error message"])
        sql = self.expand(record.sql, bindings)
        expected = self.expand("\n".join(record.expected), bindings) if record.expected else None
        con = self.session(record.params[1] if len(record.params) > 1 else "")
        self.records += 1
        try:
            execute(con, sql)
            error = None
        except duckdb.Error as exc:
            error = str(exc)
        try:
            check_error(mode, error, expected)
        except Mismatch as mismatch:
            self.fail(record, sql, [str(mismatch)])

    def run_query(self, record: Record, bindings: dict[str, str]) -> None:
        """query TYPES [sort mode|connection] [label]: run the SQL and compare its rows with the expected ones."""
        if not record.params:
            self.fail(record, record.sql, ["query needs its column types (e.g. query II)"])
        declared_columns = len(record.params[0])
        option = record.params[1] if len(record.params) > 1 else "nosort"
        sort_mode = SORT_MODES.get(option, "nosort")
        connection = "" if option in SORT_MODES else option
        label = record.params[2] if len(record.params) > 2 else None
        sql = self.expand(record.sql, bindings)
        self.records += 1
        try:
            result = execute(self.session(connection), sql)
        except duckdb.Error as exc:
            self.fail(record, sql, [f"query failed:\n{exc}"])
        result.rows = sort_rows(result.rows, sort_mode)
        if record.expected is not None:
            expected = [self.expand(line, bindings) for line in record.expected]
            try:
                check_result(result, expected, declared_columns)
            except Mismatch as mismatch:
                actual = ["\t".join(row) for row in result.rows]
                self.fail(record, sql, [str(mismatch)] + show_rows("expected", expected) + show_rows("actual", actual))
        if label is not None:
            self.check_label(record, sql, label, result.rows)

    def check_label(self, record: Record, sql: str, label: str, rows: list[list[str]]) -> None:
        """Queries with the same label must return the same rows; the first one sets them."""
        previous = self.labels.setdefault(label, rows)
        if previous != rows:
            earlier = ["\t".join(row) for row in previous]
            actual = ["\t".join(row) for row in rows]
            details = [f"result differs from the earlier query labelled '{label}'"]
            self.fail(record, sql, details + show_rows("earlier", earlier) + show_rows("actual", actual))

    # -- directives ----------------------------------------------------------------------------------------------

    def require(self, record: Record, bindings: dict[str, str]) -> None:
        """require vgi loads --extension; a platform property must hold; any other name is LOADed or skips."""
        if not record.params:
            self.fail(record, "", ["require needs a name"])
        name = record.params[0].lower()
        if name == "vgi":
            self.load_vgi(record)
        elif name in PLATFORM_REQUIREMENTS:
            if not PLATFORM_REQUIREMENTS[name]:
                raise SkipFile(f"require {name}")
        elif name in ("vector_size", "exact_vector_size"):
            self.require_vector_size(record)
        else:
            self.add_setup(f"LOAD {name}", skip_reason=f"require {name}")

    def load_vgi(self, record: Record) -> None:
        """LOAD the extension under test, then SET every --setting."""
        path = str(self.options.extension).replace("'", "''")
        try:
            self.add_setup(f"LOAD '{path}'")
            for name, value in self.options.settings:
                self.add_setup(f"SET {name} = {value}")
        except duckdb.Error as exc:
            self.fail(record, "", [f"could not load the vgi extension or apply a --setting:\n{exc}"])

    def require_vector_size(self, record: Record) -> None:
        """require vector_size N (at least N) or exact_vector_size N, against the wheel's vector size."""
        size = duckdb.__standard_vector_size__
        wanted = int(record.params[1]) if len(record.params) > 1 and record.params[1].isdigit() else None
        if wanted is None:
            self.fail(record, "", [f"{record.params[0]} needs a number"])
        exact = record.params[0].lower() == "exact_vector_size"
        if (size != wanted) if exact else (size < wanted):
            raise SkipFile(f"require {record.params[0]} {wanted} (vector size is {size})")

    def add_setup(self, sql: str, skip_reason: str | None = None) -> None:
        """Run a LOAD or SET now and on every connection opened later; skip the file if it fails and may."""
        try:
            self.session("").sql(sql)
        except duckdb.Error as exc:
            if skip_reason is None:
                raise
            raise SkipFile(f"{skip_reason}: {str(exc).splitlines()[0]}") from None
        for name, con in self.sessions.items():
            if name:
                con.sql(sql)
        self.setup.append(sql)

    def require_env(self, record: Record, bindings: dict[str, str]) -> None:
        """require-env NAME [VALUE]: skip unless the variable is set (to VALUE); then ${NAME} is its value."""
        if not record.params:
            self.fail(record, "", ["require-env needs a variable name"])
        name = record.params[0]
        value = os.environ.get(name)
        if value is None or (len(record.params) > 1 and value != record.params[1]):
            raise SkipFile(f"require-env {' '.join(record.params)}")
        self.variables[name] = value

    def skip_env(self, record: Record, bindings: dict[str, str]) -> None:
        """skip-env NAME[=VALUE] REASON...: skip the rest of the file if the variable is set (to VALUE), saying why."""
        if len(record.params) < 2:
            self.fail(record, "", ["skip-env needs a variable (NAME or NAME=VALUE) and the reason to skip"])
        name, has_value, value = record.params[0].partition("=")
        actual = os.environ.get(name)
        if actual is not None and (not has_value or actual == value):
            raise SkipFile(f"skip-env {record.params[0]}: {' '.join(record.params[1:])}")

    def load(self, record: Record, bindings: dict[str, str]) -> None:
        """load [PATH [readonly]]: reopen on a database file (emptied first unless readonly), or in memory."""
        self.db_path = self.expand(record.params[0], bindings) if record.params else ":memory:"
        self.read_only = len(record.params) > 1 and record.params[1] == "readonly"
        if self.db_path != ":memory:" and not self.read_only:
            self.close()
            for suffix in ("", ".wal"):
                Path(self.db_path + suffix).unlink(missing_ok=True)
        self.open_database()

    def set_mode(self, record: Record) -> None:
        """mode skip / mode unskip nest a region that does not run; other modes only change output in DuckDB."""
        mode = record.params[0] if record.params else ""
        if mode == "skip":
            self.skip_level += 1
        elif mode == "unskip":
            self.skip_level = max(0, self.skip_level - 1)

    def halt(self, record: Record, bindings: dict[str, str]) -> None:
        """halt: stop the file here; it counts as passed."""
        raise Halt()

    def sleep(self, record: Record, bindings: dict[str, str]) -> None:
        """sleep N UNIT (second, millisecond, microsecond, nanosecond)."""
        if len(record.params) != 2 or not record.params[0].isdigit() or record.params[1] not in SLEEP_UNITS:
            self.fail(record, "", ["sleep needs a count and a unit (e.g. sleep 1 second)"])
        time.sleep(int(record.params[0]) * SLEEP_UNITS[record.params[1]])


def run_file(path: Path, options: Options) -> FileResult:
    """Run one test file on a fresh database and a temporary __TEST_DIR__."""
    try:
        nodes = parse_file(path)
    except ParseError as exc:
        return FileResult(path, "FAIL", 0, f"{path}:{exc.line}: {exc}")
    except OSError as exc:
        return FileResult(path, "FAIL", 0, f"{path}: {exc}")
    with tempfile.TemporaryDirectory(prefix="sqllogictest-") as test_dir:
        runner = FileRunner(path, options, test_dir)
        try:
            runner.run(nodes)
        except SkipFile as exc:
            return FileResult(path, "skip", runner.records, str(exc))
        except RecordFailure as exc:
            return FileResult(path, "FAIL", runner.records, str(exc))
        except Exception as exc:  # a crash in one file is that file's failure; the run goes on
            return FileResult(path, "FAIL", runner.records, f"{path}: runner error: {type(exc).__name__}: {exc}")
    return FileResult(path, "ok", runner.records)


# ---------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------


def collect_files(paths: list[str]) -> list[Path]:
    """The .test files named, directories searched recursively; exits on a path that does not exist."""
    files = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(path.rglob("*.test")))
        elif path.is_file():
            files.append(path)
        else:
            sys.exit(f"sqllogictest.py: no such file or directory: {name}")
    return files


def report(result: FileResult, note: str = "") -> None:
    """Print the line of one file, and its failure details indented."""
    reason = f", {result.message}" if result.outcome == "skip" else ""
    print(f"{result.outcome:<5} {result.path} ({plural(result.records, 'record')}{reason}){note}")
    if result.outcome == "FAIL":
        print("\n".join(f"      {line}" for line in result.message.split("\n")))
    sys.stdout.flush()


def summary(passed: int, failed: int, skipped: int) -> str:
    """The closing line: N passed, M failed[, K skipped]."""
    return f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else "")


def run_files(files: list[Path], options: Options) -> int:
    """Run files, print a line per file and the summary; the exit status."""
    results = []
    for path in files:
        results.append(run_file(path, options))
        report(results[-1])
    counts = {outcome: sum(r.outcome == outcome for r in results) for outcome in ("ok", "FAIL", "skip")}
    records = sum(r.records for r in results)
    if records == 0:
        print("no record ran")
    print(summary(counts["ok"], counts["FAIL"], counts["skip"]))
    return 1 if counts["FAIL"] or records == 0 else 0


def relative_to_cwd(path: Path) -> Path:
    """The path relative to the working directory when it lies below it, for shorter reports."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def selftest_expectation(path: Path) -> tuple[str, str]:
    """The outcome a self-test file must have (by its name) and the text its failure message must contain."""
    if path.name.startswith("expected_fail_"):
        found = re.search(r"^# expect-failure: (.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
        return "FAIL", found.group(1).strip() if found else ""
    if path.name.startswith("expected_skip_"):
        return "skip", ""
    return "ok", ""


def run_selftest(options: Options) -> int:
    """Run test/runner-selftest: expected_fail_* files must fail (for the stated reason),
    expected_skip_* files must be skipped, every other file must pass."""
    files = [relative_to_cwd(path) for path in sorted(SELFTEST_DIR.glob("*.test"))]
    as_expected = unexpected = records = 0
    for path in files:
        result = run_file(path, options)
        records += result.records
        outcome, reason = selftest_expectation(path)
        if result.outcome == outcome and reason in result.message:
            as_expected += 1
            report(result, "  [as expected]" if outcome != "ok" else "")
        else:
            unexpected += 1
            report(result, f"  [SELFTEST ERROR: expected {outcome}{f' with {reason!r}' if reason else ''}]")
    print(f"self-test: {as_expected} of {len(files)} files behaved as expected, {records} records ran")
    print(summary(as_expected, unexpected, 0))
    return 0 if unexpected == 0 and files and records else 1


def parse_setting(text: str) -> tuple[str, str]:
    """name=value from --setting."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    return name.strip(), value.strip()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the named files, or the runner's self-test."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help=".test files or directories holding them")
    parser.add_argument(
        "--extension",
        type=Path,
        default=DEFAULT_EXTENSION,
        help="the extension that 'require vgi' loads (default: %(default)s)",
    )
    parser.add_argument(
        "--setting",
        type=parse_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="SET NAME=VALUE after every 'require vgi'; VALUE is SQL, so quote strings (repeatable)",
    )
    parser.add_argument("--selftest", action="store_true", help=f"check the runner on {SELFTEST_DIR}")
    args = parser.parse_args(argv)
    options = Options(extension=args.extension.resolve(), settings=args.setting)
    if args.selftest:
        return run_selftest(options)
    if not args.paths:
        parser.error("name at least one .test file or directory, or --selftest")
    return run_files(collect_files(args.paths), options)


if __name__ == "__main__":
    sys.exit(main())
