"""Framework rules compiled to DuckDB SQL with bound parameters.

Each rule becomes one ``SELECT`` over the ``family_events`` view (every event row of every
family member, see ``identification.scoring``) returning the rows that satisfy it: its
*evidence*. The reference date and every threshold are parameters, never spliced into the
text; only identifiers the framework model has already validated (rule kinds, statistic
names, comparison operators) shape the SQL. The framework compiles to the ``UNION ALL`` of
its rules: one statement over all families at once.

Dates: ``window: {months: N}`` is ``ref - N months < event_date <= ref`` (calendar months,
clamped to a shorter month's end); ``{months_ahead: N}`` is ``ref < event_date <= ref + N
months``. A spell is active when ``event_date <= ref`` and ``end_date`` is blank or after
``ref``. ``latest: N`` takes each person's N most recent observations on or before ``ref``
(one per date: a pupil recorded by two schools for the same term counts once).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from familylink.core.dates import add_months
from identification.framework import (
    AgeRange,
    AggregateRule,
    EventRule,
    Framework,
    SpellRule,
    Window,
)

FAMILY_EVENTS = "family_events"
#: columns every compiled rule returns, in order
EVIDENCE_SELECT = ("family_id", "person_id", "rule_id", "headline", "source", "record_id", "event_date",
                   "indicator", "value", "resident")
_STATS = {"count": "count(*)", "sum": "sum(value)", "mean": "avg(value)", "min": "min(value)", "max": "max(value)"}


@dataclass(frozen=True)
class CompiledRule:
    rule_id: str
    headline: str
    sql: str
    params: list


@dataclass(frozen=True)
class _Sql:
    text: str
    params: list

    def __and__(self, other: _Sql) -> _Sql:
        if not other.text:
            return self
        if not self.text:
            return other
        return _Sql(f"{self.text} AND {other.text}", self.params + other.params)


_TRUE = _Sql("", [])


def _indicators(rule) -> _Sql:
    parts, params = [], []
    for ref in rule.indicators:
        text = "(source = ? AND indicator = ?"
        params += [ref.source, ref.indicator]
        if ref.value is not None:
            condition, values = ref.value.sql("value")
            text += f" AND {condition}"
            params += values
        parts.append(text + ")")
    return _Sql("(" + " OR ".join(parts) + ")", params)


def _window(window: Window, ref: dt.date) -> _Sql:
    if window.months is not None:
        return _Sql("(event_date > ? AND event_date <= ?)", [add_months(ref, -window.months), ref])
    return _Sql("(event_date > ? AND event_date <= ?)", [ref, add_months(ref, window.months_ahead)])


def _ages(column: str, ages: AgeRange | None) -> _Sql:
    if ages is None:
        return _TRUE
    if ages.from_age is not None and ages.to_age is not None:
        return _Sql(f"({column} BETWEEN ? AND ?)", [ages.from_age, ages.to_age])
    if ages.from_age is not None:
        return _Sql(f"({column} >= ?)", [ages.from_age])
    return _Sql(f"({column} <= ?)", [ages.to_age])


def _filters(rule) -> _Sql:
    where = _indicators(rule)
    if rule.member != "any":
        where = where & _Sql("role = ?", [rule.member])
    where = where & _ages("age_at_event", rule.age_at_event) & _ages("age", rule.age_at_reference)
    if rule.details is not None:
        where = where & _Sql("list_contains(?, detail)", [list(rule.details)])
    return where


def _select(rule, where: _Sql, table: str = FAMILY_EVENTS) -> _Sql:
    columns = ", ".join("? AS rule_id" if c == "rule_id" else "? AS headline" if c == "headline" else c
                        for c in EVIDENCE_SELECT)
    return _Sql(f"SELECT {columns} FROM {table} WHERE {where.text}", [rule.id, rule.headline] + where.params)


def _active(ref: dt.date) -> _Sql:
    return _Sql("(event_date <= ? AND (end_date IS NULL OR end_date > ?))", [ref, ref])


def compile_event(rule: EventRule, ref: dt.date) -> _Sql:
    return _select(rule, _filters(rule) & _window(rule.window, ref))


def compile_spell(rule: SpellRule, ref: dt.date) -> _Sql:
    active = _active(ref)
    if rule.window is not None:
        window = _window(rule.window, ref)
        active = _Sql(f"({active.text} OR {window.text})", active.params + window.params)
    return _select(rule, _filters(rule) & active)


def compile_aggregate(rule: AggregateRule, ref: dt.date) -> _Sql:
    where = _filters(rule)
    if rule.window is not None:
        scope_where = where & _window(rule.window, ref)
        # one row per person and date, indicator and value: a duplicate record adds nothing
        scope = _Sql(f"""SELECT * FROM {FAMILY_EVENTS} WHERE {scope_where.text}
            QUALIFY row_number() OVER (PARTITION BY family_id, person_id, indicator, event_date, value
                                       ORDER BY source, record_id, row_number) = 1""", scope_where.params)
    else:
        scope_where = where & _Sql("event_date <= ?", [ref])
        scope = _Sql(f"""SELECT * FROM (
                SELECT * FROM {FAMILY_EVENTS} WHERE {scope_where.text}
                QUALIFY row_number() OVER (PARTITION BY family_id, person_id, event_date
                                           ORDER BY source, record_id, row_number) = 1)
            QUALIFY row_number() OVER (PARTITION BY family_id, person_id
                                       ORDER BY event_date DESC, source, record_id, row_number) <= ?""",
                     scope_where.params + [rule.latest])
    tests, params = [], []
    for condition in rule.any_of:
        statistic = _STATS[condition.stat]
        age = _ages("age_at_event", condition.age_at_event)
        if age.text:
            statistic = f"{statistic} FILTER (WHERE {age.text})"
            params += age.params
        text, values = condition.comparison.sql(f"coalesce({statistic}, 0)" if condition.stat in ("count", "sum")
                                                else statistic)
        tests.append(text)
        params += values
    columns = ", ".join("? AS rule_id" if c == "rule_id" else "? AS headline" if c == "headline" else c
                        for c in EVIDENCE_SELECT)
    return _Sql(f"""WITH scope AS ({scope.text}),
        met AS (SELECT family_id, person_id FROM scope GROUP BY family_id, person_id HAVING {" OR ".join(tests)})
        SELECT {columns} FROM scope SEMI JOIN met USING (family_id, person_id)""",
                scope.params + params + [rule.id, rule.headline])


def compile_rule(rule, ref: dt.date) -> CompiledRule:
    if isinstance(rule, EventRule):
        sql = compile_event(rule, ref)
    elif isinstance(rule, SpellRule):
        sql = compile_spell(rule, ref)
    else:
        sql = compile_aggregate(rule, ref)
    return CompiledRule(rule.id, rule.headline, sql.text, sql.params)


def compile_framework(framework: Framework, ref: dt.date) -> tuple[str, list]:
    """Every rule's evidence in one ``UNION ALL`` statement, with its parameters in order."""
    compiled = [compile_rule(rule, ref) for rule in framework.rules]
    sql = "\nUNION ALL\n".join(f"({c.sql})" for c in compiled)
    return sql, [p for c in compiled for p in c.params]
