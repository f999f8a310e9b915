"""The workspace's languages: English and Simplified Chinese message catalogs, one JSON file per
locale in api/web/i18n/, flat keys -> strings with `{name}` placeholders.

Key families: `page.*`/`worklist.*`/`alert.*`/... for page strings, `rule.<rule_id>` for the
alert titles of the rule table (stream.rules), `alarm.<kind>` for technical alarms,
`severity.*`, `status.*`, `outcome.*`, `event.*`, `error.<code>` for the API's error codes, and
`js.*` for the strings the page scripts need (shipped to the browser as a JSON data block).
A key missing from a locale falls back to English; a key missing from English is a bug (the unit
tests check every catalog against English and every rule id against the catalog).

Must not: decide what a string says about the data (handlers pass values in) or read the
request (api.web.render picks the locale).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

LOCALES = ("en", "zh")
DEFAULT = "en"
LANG_TAGS = {"en": "en", "zh": "zh-Hans"}  # the `lang` attribute of a page


def locale_of(tag: str | None) -> str:
    """One of LOCALES for a locale tag as a user or browser writes it ("zh-CN", "en_GB")."""
    base = (tag or "").replace("_", "-").split("-")[0].lower()
    return base if base in LOCALES else DEFAULT


def load(locale: str) -> Mapping[str, str]:
    text = resources.files("api.web").joinpath("i18n", f"{locale}.json").read_text("utf-8")
    return MappingProxyType(json.loads(text))


@dataclass(frozen=True, slots=True)
class Catalog:
    locale: str
    messages: Mapping[str, str]
    fallback: Mapping[str, str]

    def __call__(self, key: str, **params: object) -> str:
        text = self.messages.get(key) or self.fallback.get(key)
        if text is None:
            raise KeyError(f"no catalog string {key!r}")
        return text.format(**params) if params else text

    def get(self, key: str, default: str) -> str:
        """The string for `key`, or `default` (e.g. an alert's stored title for an unknown rule)."""
        return self.messages.get(key) or self.fallback.get(key) or default

    def title(self, rule_id: str, stored: str) -> str:
        return self.get(f"rule.{rule_id}", stored)

    def for_scripts(self) -> dict[str, str]:
        """The `js.*` strings (and every error reason), as the page scripts look them up."""
        keys = {k for k in self.fallback if k.startswith(("js.", "error.", "status.", "event."))}
        return {k: self(k) for k in sorted(keys)}


def catalogs() -> dict[str, Catalog]:
    """Every locale's catalog, loaded once by the app (api.web.install)."""
    english = load(DEFAULT)
    return {loc: Catalog(loc, english if loc == DEFAULT else load(loc), english) for loc in LOCALES}
