"""Policy engine: named rules in the oslo.policy language, overridable by policy.yaml.

A rule is a boolean expression over checks::

    role:admin or (role:reader and project_id:%(target.project_id)s)

Checks: ``@`` (always), ``!`` (never), ``rule:NAME``, ``role:NAME``, and the generic
``KEY:VALUE`` that compares a credential (``user_id``, ``project_id``,
``system_scope``, ...) with a literal or a ``%(target.attr)s`` substitution. A
quoted literal on the left (``'x':%(name)s``) compares two literals.
Each service registers its defaults; ``policy.yaml`` in the data dir overrides any
of them and is re-read when it changes.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nubo.errors import Forbidden

log = logging.getLogger(__name__)

Check = Callable[[Mapping[str, Any], Mapping[str, Any], "PolicyEngine"], bool]


class PolicySyntaxError(ValueError):
    """A rule could not be parsed."""


@dataclass(frozen=True)
class Rule:
    name: str
    check_str: str
    description: str = ""


_SUBST = re.compile(r"%\(([^)]+)\)s")


def _tokenize(text: str) -> list[str]:
    """Split on white space, peeling parentheses that are not part of ``%(name)s``."""
    tokens: list[str] = []
    for piece in text.split():
        while piece.startswith("("):
            tokens.append("(")
            piece = piece[1:]
        closing = 0
        while piece.endswith(")") and piece.count(")") > piece.count("("):
            closing += 1
            piece = piece[:-1]
        if piece:
            tokens.append(piece)
        tokens.extend(")" * closing)
    return tokens


def _lookup(data: Mapping[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


_MISSING = object()


def _substitute(template: str, target: Mapping[str, Any]) -> Any:
    """Fill ``%(a.b)s`` from the target; a missing key makes the check fail."""
    whole = _SUBST.fullmatch(template)
    if whole:
        return _lookup(target, whole.group(1))
    missing = False

    def fill(m: re.Match[str]) -> str:
        nonlocal missing
        value = _lookup(target, m.group(1))
        if value is _MISSING:
            missing = True
            return ""
        return str(value)

    filled = _SUBST.sub(fill, template)
    return _MISSING if missing else filled


def _literal(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text == "True":
        return True
    if text == "False":
        return False
    return text


def _same(a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING or a is None or b is None:
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    return str(a) == str(b)


def _make_check(token: str) -> Check:
    if token == "@":
        return lambda c, t, e: True
    if token == "!":
        return lambda c, t, e: False
    if ":" not in token:
        raise PolicySyntaxError(f"not a check: {token!r}")
    kind, match = token.split(":", 1)
    if kind == "rule":
        return lambda c, t, e: e.check_rule(match, c, t)
    if kind == "role":

        def role_check(c: Mapping[str, Any], t: Mapping[str, Any], e: PolicyEngine) -> bool:
            wanted = _substitute(match, t) if "%(" in match else match
            if wanted is _MISSING:
                return False
            return str(wanted).lower() in {str(r).lower() for r in c.get("roles", ())}

        return role_check
    if kind[:1] in "'\"":
        left = _literal(kind)
        return lambda c, t, e: _same(left, _substitute(match, t))

    def generic(c: Mapping[str, Any], t: Mapping[str, Any], e: PolicyEngine) -> bool:
        expected = _substitute(match, t) if "%(" in match else _literal(match)
        return _same(_lookup(c, kind), expected)

    return generic


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def parse(self) -> Check:
        if not self.tokens:
            return lambda c, t, e: True  # an empty rule allows, as in oslo.policy
        check = self._or()
        if self.pos != len(self.tokens):
            raise PolicySyntaxError(f"unexpected {self.tokens[self.pos]!r}")
        return check

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        tok = self._peek()
        if tok is None:
            raise PolicySyntaxError("unexpected end of rule")
        self.pos += 1
        return tok

    def _or(self) -> Check:
        parts = [self._and()]
        while self._peek() == "or":
            self._take()
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        return lambda c, t, e: any(p(c, t, e) for p in parts)

    def _and(self) -> Check:
        parts = [self._not()]
        while self._peek() == "and":
            self._take()
            parts.append(self._not())
        if len(parts) == 1:
            return parts[0]
        return lambda c, t, e: all(p(c, t, e) for p in parts)

    def _not(self) -> Check:
        if self._peek() == "not":
            self._take()
            inner = self._not()
            return lambda c, t, e: not inner(c, t, e)
        return self._atom()

    def _atom(self) -> Check:
        tok = self._take()
        if tok == "(":
            inner = self._or()
            if self._take() != ")":
                raise PolicySyntaxError("missing ')'")
            return inner
        if tok in (")", "and", "or"):
            raise PolicySyntaxError(f"unexpected {tok!r}")
        return _make_check(tok)


def parse(text: str) -> Check:
    """Compile a rule string into a check; raises PolicySyntaxError."""
    return _Parser(text).parse()


class PolicyEngine:
    """Holds the default rules of every service and the operator's overrides."""

    def __init__(self, override_file: Path | None = None) -> None:
        self._defaults: dict[str, Rule] = {}
        self._compiled: dict[str, Check] = {}
        self._overrides: dict[str, str] = {}
        self._file = override_file
        self._file_stamp: float | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def register(self, rules: list[Rule]) -> None:
        """Add a service's default rules."""
        for rule in rules:
            parse(rule.check_str)  # fail at start on a bad default
            self._defaults[rule.name] = rule
        self._compiled.clear()

    @property
    def rules(self) -> dict[str, Rule]:
        return dict(self._defaults)

    def _refresh(self) -> None:
        """Re-read policy.yaml when its modification time changed (at most once a second)."""
        if self._file is None:
            return
        now = time.monotonic()
        if now - self._checked_at < 1.0:
            return
        with self._lock:
            self._checked_at = now
            try:
                stamp: float | None = os.stat(self._file).st_mtime
            except FileNotFoundError:
                stamp = None
            if stamp == self._file_stamp:
                return
            overrides: dict[str, str] = {}
            if stamp is not None:
                try:
                    doc = yaml.safe_load(self._file.read_text()) or {}
                    if not isinstance(doc, dict):
                        raise PolicySyntaxError("policy file must map rule names to rules")
                    for name, text in doc.items():
                        parse(str(text))
                        overrides[str(name)] = str(text)
                except (OSError, yaml.YAMLError, PolicySyntaxError) as exc:
                    log.error("ignoring %s: %s", self._file, exc)
                    return
            self._overrides = overrides
            self._file_stamp = stamp
            self._compiled.clear()
            log.info("policy overrides loaded: %d rules", len(overrides))

    def _compiled_rule(self, name: str) -> Check | None:
        check = self._compiled.get(name)
        if check is None:
            text = self._overrides.get(name)
            if text is None:
                rule = self._defaults.get(name)
                if rule is None:
                    return None
                text = rule.check_str
            check = parse(text)
            self._compiled[name] = check
        return check

    def check_rule(self, name: str, creds: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
        check = self._compiled_rule(name)
        return bool(check and check(creds, target, self))

    def allowed(self, name: str, creds: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
        """Whether the rule ``name`` allows these credentials on this target."""
        self._refresh()
        if self._compiled_rule(name) is None:
            log.warning("no policy rule named %s: denying", name)
            return False
        return self.check_rule(name, creds, target)

    def enforce(self, name: str, creds: Mapping[str, Any], target: Mapping[str, Any]) -> None:
        """Raise Forbidden unless the rule allows."""
        if not self.allowed(name, creds, target):
            raise Forbidden(f"You are not authorized to perform the requested action: {name}.")
