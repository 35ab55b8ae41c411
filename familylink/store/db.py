"""The run store's database: an embedded DuckDB file whose schema changes go through named,
recorded migrations.

``MIGRATIONS`` is the ordered list of (name, SQL) this version of familylink knows. Opening a
store applies the ones it has not recorded yet, each in its own transaction, and refuses a
store whose recorded migrations are not a prefix of that list (written by a newer version, or
by a diverging one). A ``RunStore`` holds no open connection between operations: each
operation opens the file, works in a transaction and closes it, so another process can read
the store while this one is busy elsewhere (DuckDB lets one process at a time open a file
read-write).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from familylink import database
from familylink.core.errors import Problem, StoreError

DEFAULT_STORE_PATH = Path("familylink.duckdb")
#: The name a store is attached under inside another connection (e.g. a run's database).
STORE_ALIAS = "store"
RUN_ID_PATTERN = re.compile(r"^R[0-9]{4,}$")


@dataclass(frozen=True)
class Migration:
    """One named schema change. Names are recorded in ``store_migrations`` once applied."""

    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_runs", """
        CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            created_at TIMESTAMP NOT NULL,          -- UTC
            reference_date DATE NOT NULL,
            framework_id VARCHAR,
            framework_version VARCHAR,
            framework_fingerprint VARCHAR,
            model_fingerprint VARCHAR,
            key_fingerprint VARCHAR,
            inputs JSON,
            counts JSON,
            timings JSON,
            id_changes JSON,                        -- carried/new/split/merged/disappeared per kind
            run_dir VARCHAR,
            previous_run_id VARCHAR,
            operator VARCHAR,
            kind VARCHAR NOT NULL CHECK (kind IN ('run', 'refresh'))
        );
    """),
    Migration("0002_run_tables", """
        CREATE TABLE run_persons (
            run_id VARCHAR NOT NULL, source VARCHAR, record_id VARCHAR, unique_id VARCHAR,
            person_id VARCHAR, link_confidence DOUBLE
        );
        CREATE TABLE run_households (
            run_id VARCHAR NOT NULL, household_id VARCHAR, person_id VARCHAR, basis VARCHAR
        );
        CREATE TABLE run_families (
            run_id VARCHAR NOT NULL, family_id VARCHAR, person_id VARCHAR, household_id VARCHAR,
            role VARCHAR, age INTEGER, resident BOOLEAN
        );
        CREATE TABLE run_candidates (
            run_id VARCHAR NOT NULL, family_id VARCHAR, eligible BOOLEAN, headline_count INTEGER,
            headlines VARCHAR, indicators VARCHAR, priority VARCHAR, locality VARCHAR,
            postcode_district VARCHAR, members INTEGER, children INTEGER,
            non_resident_members INTEGER, min_link_confidence DOUBLE, review BOOLEAN,
            review_reasons VARCHAR, status VARCHAR,
            headline_flags VARCHAR[]                -- the ids of the headlines flagged true
        );
        CREATE TABLE run_evidence (
            run_id VARCHAR NOT NULL, family_id VARCHAR, person_id VARCHAR, headline VARCHAR,
            rule_id VARCHAR, source VARCHAR, record_id VARCHAR, event_date DATE,
            indicator VARCHAR, value DOUBLE, resident BOOLEAN, counted BOOLEAN
        );
    """),
    Migration("0003_stable_ids", """
        CREATE TABLE id_counters (kind VARCHAR PRIMARY KEY, last_number BIGINT NOT NULL);
        CREATE TABLE id_lineage (
            run_id VARCHAR NOT NULL,
            kind VARCHAR NOT NULL CHECK (kind IN ('person', 'family')),
            old_id VARCHAR,                         -- NULL for 'new'
            new_id VARCHAR,                         -- NULL for 'disappeared'
            relation VARCHAR NOT NULL
                CHECK (relation IN ('carried', 'split', 'merged', 'new', 'disappeared')),
            shared INTEGER                          -- members the two ids have in common
        );
    """),
    Migration("0004_attachments", """
        CREATE TABLE attachment_registers (
            register_id VARCHAR PRIMARY KEY, imported_at TIMESTAMP NOT NULL, file_name VARCHAR,
            file_sha256 VARCHAR, rows INTEGER, operator VARCHAR
        );
        CREATE TABLE attachments (
            register_id VARCHAR NOT NULL, attachment_ref VARCHAR, source VARCHAR,
            record_id VARCHAR, attached_on DATE, lead_team VARCHAR
        );
    """),
    Migration("0005_run_changes", """
        CREATE TABLE run_changes (
            run_id VARCHAR NOT NULL, compared_with VARCHAR NOT NULL, family_id VARCHAR,
            previous_family_ids VARCHAR[], change VARCHAR NOT NULL
                CHECK (change IN ('entered', 'left', 'headlines_changed', 'merged', 'split')),
            headlines_before VARCHAR[], headlines_after VARCHAR[], detail VARCHAR
        );
    """),
    Migration("0006_models", """
        CREATE TABLE models (
            fingerprint VARCHAR PRIMARY KEY,        -- of the whole model.json document
            saved_at TIMESTAMP NOT NULL,
            document JSON NOT NULL                  -- model.json: Splink parameters, settings, input hashes
        );
    """),
    Migration("0007_audit", """
        CREATE TABLE audit_log (
            seq BIGINT PRIMARY KEY,                 -- 1, 2, 3, ... without gaps
            "at" TIMESTAMP NOT NULL,                -- UTC, to the second
            operator VARCHAR NOT NULL,
            action VARCHAR NOT NULL,                -- intake, run, refresh, export, attach, ...
            subject VARCHAR NOT NULL,               -- a source, run id, file or register id
            outcome VARCHAR NOT NULL,               -- accepted, refused, done, failed
            details JSON NOT NULL,                  -- never personal values
            prev_hash VARCHAR NOT NULL,             -- entry_hash of seq - 1 (64 zeros for seq 1)
            entry_hash VARCHAR NOT NULL             -- SHA-256 of the canonical JSON of the above
        );
        CREATE TABLE audit_head (                   -- the last entry, updated with every append
            id INTEGER PRIMARY KEY CHECK (id = 1),
            seq BIGINT NOT NULL,
            entry_hash VARCHAR NOT NULL
        );
    """),
    Migration("0008_intake", """
        CREATE TABLE intake_log (                   -- sealed extracts accepted at intake
            source VARCHAR NOT NULL,
            extract_date DATE NOT NULL,
            container_sha256 VARCHAR NOT NULL,
            transfer_file VARCHAR,
            sealed_file VARCHAR,
            signer_fingerprint VARCHAR,
            accepted_at TIMESTAMP NOT NULL,
            operator VARCHAR
        );
    """),
)

_BOOKKEEPING = """
    CREATE TABLE IF NOT EXISTS store_migrations (
        seq INTEGER PRIMARY KEY, name VARCHAR NOT NULL UNIQUE, applied_at TIMESTAMP NOT NULL
    )
"""


def utc_now() -> dt.datetime:
    """The current UTC time, naive (the store's TIMESTAMP columns hold UTC), to the second."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def sql_path(path: Path) -> str:
    """A path as a single-quoted SQL literal."""
    return "'" + path.as_posix().replace("'", "''") + "'"


def check_run_id(run_id: str) -> str:
    """``run_id`` if it looks like a run id ('R0001'); a StoreError otherwise."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise StoreError(f"{run_id!r} is not a run id",
                         [Problem("run id", f"{run_id!r} is not of the form R0001",
                                  "use an id that `familylink runs` lists")])
    return run_id


def _open_error(path: Path, error: Exception) -> StoreError:
    """The StoreError for a store DuckDB could not open or attach."""
    text = str(error)
    if _damaged(error):
        return damaged_store(path)
    if any(word in text.lower() for word in ("could not set lock", "conflicting lock", "different configuration")):
        return StoreError(f"{path}: the run store is in use", [
            Problem(str(path), "another process (or another connection in this one) has it open",
                    "wait for the other familylink command to finish, then try again")])
    return StoreError(f"{path}: cannot open the run store", [
        Problem(str(path), text.splitlines()[0] if text else type(error).__name__,
                "check that --store names a familylink store")])


_DAMAGE_WORDS = ("corrupt", "checksum", "serialization", "internal error", "not a valid duckdb", "unexpected end",
                 "fatal", "invalidated", "failed to read", "could not read")


def _damaged(error: Exception) -> bool:
    """Whether a DuckDB error says the file's bytes cannot be read as a database."""
    text = str(error).lower()
    return isinstance(error, duckdb.SerializationException | duckdb.InternalException | duckdb.FatalException) or \
        any(word in text for word in _DAMAGE_WORDS)


def damaged_store(path: Path) -> StoreError:
    return StoreError(f"{path}: the run store is damaged and cannot be read (a block fails its checksum or is "
                      "not a DuckDB block)", [
                          Problem(str(path), "damaged file", "restore the store from its latest backup; nothing was "
                                  "written to it")])


def store_failure(path: Path, error: duckdb.Error) -> StoreError:
    """The StoreError for a DuckDB error while working in an open store (never its message's values)."""
    if _damaged(error):
        return damaged_store(path)
    return StoreError(f"{path}: the run store refused an operation ({type(error).__name__})", [
        Problem(str(path), "the operation was rolled back", "check that --store names a familylink store written by "
                "this version; report it if it persists")])


def _read_everything(con: duckdb.DuckDBPyConnection) -> None:
    """Read every row of every table once, so that a damaged block (each has a checksum) is
    found when the store is opened, before a command has done any work."""
    tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                         "ORDER BY table_name").fetchall()
    for (name,) in tables:
        quoted = '"' + name.replace('"', '""') + '"'
        con.execute(f"SELECT count(*), bit_xor(hash(t)) FROM {quoted} AS t").fetchall()


class RunStore:
    """A run store file. Opening it applies pending migrations (see ``MIGRATIONS``).

    ``read_only`` opens an existing, up-to-date store without changing it (and every later
    operation read-only).
    ``migrations`` exists for tests (e.g. to make an older store); leave it alone otherwise.
    """

    def __init__(self, path: str | Path = DEFAULT_STORE_PATH, *, read_only: bool = False,
                 migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = Path(path)
        self.file = self.path.absolute()  # later calls work even if the process changes directory
        self.read_only = read_only
        self.migrations = tuple(migrations)
        if not read_only and not self.file.parent.is_dir():
            raise StoreError(f"{self.path}: no folder {self.path.parent} for the run store", [
                Problem(str(self.path), "its folder does not exist", "create the folder or choose another --store")])
        if read_only and not self.path.is_file():
            raise StoreError(f"{self.path}: no run store there", [
                Problem(str(self.path), "file not found", "record a run first, or pass the right --store")])
        self.applied = self._migrate()

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

    @contextmanager
    def connect(self, *, read_only: bool | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """An open connection to the store file, closed on exit. Read-write unless asked."""
        read_only = self.read_only if read_only is None else read_only
        try:
            con = database.connect(self.file, read_only=read_only)
        except (duckdb.IOException, duckdb.BinderException, duckdb.ConnectionException) as error:
            raise _open_error(self.path, error) from error
        try:
            yield con
        except duckdb.Error as error:
            raise store_failure(self.path, error) from error
        finally:
            con.close()

    @contextmanager
    def attached(self, con: duckdb.DuckDBPyConnection, *, read_only: bool = True,
                 alias: str = STORE_ALIAS) -> Iterator[str]:
        """Attach the store to ``con`` (e.g. a run's connection) as ``alias``; detach on exit.

        Yields the alias, so queries can name ``<alias>.runs``. ``con`` must not be inside a
        transaction.
        """
        options = " (READ_ONLY)" if read_only or self.read_only else ""
        try:
            con.execute(f"ATTACH {sql_path(self.file)} AS {alias}{options}")
        except (duckdb.IOException, duckdb.BinderException, duckdb.ConnectionException) as error:
            raise _open_error(self.path, error) from error
        try:
            yield alias
        except duckdb.Error as error:
            raise store_failure(self.path, error) from error
        finally:
            with contextlib.suppress(duckdb.Error):  # a failing connection: the error above says why
                con.execute(f"DETACH {alias}")

    def _migrate(self) -> tuple[str, ...]:
        """Apply pending migrations, one transaction each; the names now recorded."""
        with self.connect() as con:
            known = [m.name for m in self.migrations]
            has_table = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = "
                                    "current_database() AND table_name = 'store_migrations'").fetchone()[0]
            if not has_table:
                others = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = "
                                     "current_database()").fetchone()[0]
                if others:
                    raise StoreError(f"{self.path}: not a familylink run store", [
                        Problem(str(self.path), f"holds {others} tables but no store_migrations",
                                "pass --store a new file or an existing familylink store")])
                if self.read_only:
                    raise StoreError(f"{self.path}: empty run store opened read-only",
                                     [Problem(str(self.path), "no migrations recorded", "open it read-write")])
                con.execute(_BOOKKEEPING)
            recorded = [r[0] for r in con.execute("SELECT name FROM store_migrations ORDER BY seq").fetchall()]
            if recorded != known[:len(recorded)]:
                unknown = [name for name in recorded if name not in known]
                what = (f"records migrations this version does not know: {', '.join(unknown)}" if unknown
                        else f"records migrations {recorded}, not a prefix of this version's {known}")
                raise StoreError(f"{self.path}: the run store was written by a newer or different familylink",
                                 [Problem(str(self.path), what, "use the familylink version that wrote it")])
            pending = self.migrations[len(recorded):]
            if pending and self.read_only:
                raise StoreError(f"{self.path}: the run store needs upgrading", [
                    Problem(str(self.path), f"{len(pending)} migrations pending", "open it read-write once")])
            for seq, migration in enumerate(pending, start=len(recorded) + 1):
                con.execute("BEGIN TRANSACTION")
                try:
                    con.execute(migration.sql)
                    con.execute("INSERT INTO store_migrations VALUES (?, ?, ?)", [seq, migration.name, utc_now()])
                    con.execute("COMMIT")
                except duckdb.Error as error:
                    con.execute("ROLLBACK")
                    raise StoreError(f"{self.path}: migration {migration.name} failed", [
                        Problem(migration.name, str(error).splitlines()[0], "report this as a bug")]) from error
            _read_everything(con)
            return tuple(known[:len(recorded) + len(pending)])
