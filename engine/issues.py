"""Problems as data: a stable code, severity, message, location and hint.

Every problem soar reports about something an operator wrote (a playbook, run
inputs, a drill file) is an ``Issue`` with a ``Code``: ``SOAR`` and three
digits, grouped by stage (1xx source and schema, 2xx semantic checks, 3xx
expressions and what leaves the engine, 4xx log queries, 5xx run inputs, 6xx
drills, 7xx detection rules, 8xx Sigma rules imported as detections). A code, once published,
keeps its meaning: teams grep for them and CI counts them. ``docs/errors.md`` explains each one
(a test keeps the two equal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum, unique
from typing import Any, Literal

Severity = Literal["error", "warning"]


@unique  # two names for one code would give one code two meanings
class Code(StrEnum):
    """The stable code of each kind of problem (documented in docs/errors.md)."""

    # 1xx: the file, its YAML, the playbook schema
    FILE_UNREADABLE = "SOAR101"
    FILE_TOO_LARGE = "SOAR102"
    NOT_UTF8 = "SOAR103"
    YAML_SYNTAX = "SOAR104"
    TOO_DEEP = "SOAR105"
    EMPTY_FILE = "SOAR106"
    ALIAS_BOMB = "SOAR107"
    RECURSIVE_ALIAS = "SOAR108"
    YAML_VALUE = "SOAR109"
    YAML_TAG = "SOAR110"
    MERGE_KEY = "SOAR111"
    BOOLEAN_KEY = "SOAR112"
    NON_STRING_KEY = "SOAR113"
    DUPLICATE_KEY = "SOAR114"
    NOT_A_MAPPING = "SOAR120"
    UNKNOWN_KEY = "SOAR121"
    MISSING_KEY = "SOAR122"
    WRONG_TYPE = "SOAR123"
    BAD_NAME = "SOAR124"
    BAD_STEP_ID = "SOAR125"
    BAD_PLAYBOOK_NAME = "SOAR126"
    BAD_DURATION = "SOAR127"
    UNSUPPORTED_FORMAT = "SOAR128"
    SCHEMA = "SOAR129"
    # 2xx: meaning (actions, arguments, steps, defaults, outputs)
    UNKNOWN_ACTION = "SOAR201"
    DUPLICATE_STEP_ID = "SOAR202"
    PLAIN_IF = "SOAR203"
    PLAIN_FOR_EACH = "SOAR204"
    MAX_TARGETS_ON_READ = "SOAR205"
    DEFERRED_NOT_EXPRESSION = "SOAR206"
    UNKNOWN_ARGUMENT = "SOAR207"
    MISSING_ARGUMENT = "SOAR208"
    WRONG_ARGUMENT = "SOAR209"
    BAD_DEFAULT = "SOAR210"
    REQUIRED_WITH_DEFAULT = "SOAR211"
    LITERAL_OUTPUT = "SOAR212"
    # 3xx: expressions, and what leaves the engine (queries, outputs)
    TEMPLATE_SYNTAX = "SOAR301"
    TEMPLATE_COMPILE = "SOAR302"
    UNKNOWN_FILTER = "SOAR303"
    UNKNOWN_NAME = "SOAR304"
    ITEM_BEFORE_LOOP = "SOAR305"
    ITEM_OUTSIDE_LOOP = "SOAR306"
    UNDECLARED_INPUT = "SOAR307"
    UNKNOWN_STEP = "SOAR308"
    STEP_NOT_YET = "SOAR309"
    UNKNOWN_STEP_FIELD = "SOAR310"
    UNKNOWN_RUN_FIELD = "SOAR311"
    SECRET_IN_QUERY = "SOAR320"  # noqa: S105 -- a problem code, not a secret
    UNQUOTED_QUERY_VALUE = "SOAR321"
    SECRET_IN_OUTPUT = "SOAR322"  # noqa: S105 -- a problem code, not a secret
    # 4xx: log queries Auth0 would refuse, or read otherwise than meant
    QUERY_REFUSED = "SOAR401"
    QUERY_AMBIGUOUS = "SOAR402"
    UNKNOWN_EVENT_CODE = "SOAR403"
    NO_EVENT_CODE_MATCHES = "SOAR404"
    # 5xx: run inputs (-i, --inputs)
    UNKNOWN_INPUT = "SOAR501"
    MISSING_INPUT = "SOAR502"
    NULL_INPUT = "SOAR503"
    INPUT_MISMATCH = "SOAR504"
    INPUT_CONVERSION = "SOAR505"
    INPUT_SYNTAX = "SOAR506"
    INPUTS_FILE = "SOAR507"
    # 6xx: drill files
    DRILL_UNREADABLE = "SOAR601"
    DRILL_SCHEMA = "SOAR602"
    # 7xx: detection rules (detections/*.yaml)
    BAD_DETECTION_ID = "SOAR701"
    DUPLICATE_DETECTION_ID = "SOAR702"
    NO_CONDITION = "SOAR703"
    UNKNOWN_RESPONSE_PLAYBOOK = "SOAR704"
    INVALID_RESPONSE_PLAYBOOK = "SOAR705"
    RESPONSE_INPUT = "SOAR706"
    BAD_WHERE_VALUE = "SOAR707"
    BAD_TEST_EVENT = "SOAR708"
    # 8xx: Sigma rules imported as detections (engine.serve.sigma)
    SIGMA_UNSUPPORTED = "SOAR801"
    SIGMA_MISSING = "SOAR802"
    SIGMA_REFERENCE = "SOAR803"
    SIGMA_PLACEHOLDER = "SOAR804"


@dataclass(frozen=True, order=True)
class Location:
    """A 1-based position in a source file.

    ``line`` 0 means no position in a file (an input given with ``-i``):
    ``path`` then says what the problem is about, e.g. ``input 'since'``.
    """

    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}" if self.line else self.path


@dataclass(frozen=True)
class Issue:
    """One problem found; never raised, always collected."""

    severity: Severity
    message: str
    location: Location
    hint: str | None = None
    code: Code = field(kw_only=True)

    def format(self) -> str:
        """``path:line:col: error SOAR203: message (hint)``, the validate output line."""
        text = f"{self.location}: {self.severity} {self.code}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_json(self) -> dict[str, Any]:
        """The issue as the ``problems`` items of ``--json`` output."""
        return {
            "code": str(self.code),
            "severity": self.severity,
            "where": str(self.location),
            "message": self.message,
            "hint": self.hint,
        }
