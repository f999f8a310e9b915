"""The report's languages: English and Simplified Chinese catalogs of its own (the report room
may not import the API's), one flat JSON file per locale in reports/i18n/, `{name}`
placeholders. A key missing from Chinese falls back to English; a key missing from English is a
bug (a unit test compares the catalogs).

Must not: decide what a figure says (reports.render passes values in).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

LOCALES = ("en", "zh")
LANG_TAGS = {"en": "en", "zh": "zh-Hans"}


@cache
def load(locale: str) -> Mapping[str, str]:
    if locale not in LOCALES:
        raise ValueError(f"a report is written in one of {LOCALES}, not {locale!r}")
    text = resources.files("reports").joinpath("i18n", f"{locale}.json").read_text("utf-8")
    messages: dict[str, str] = json.loads(text)
    return messages


@dataclass(frozen=True, slots=True)
class Catalog:
    locale: str

    def __call__(self, key: str, **params: object) -> str:
        text = load(self.locale).get(key) or load("en").get(key)
        if text is None:
            raise KeyError(f"no report string {key!r}")
        return text.format(**params) if params else text

    def get(self, key: str, default: str) -> str:
        return load(self.locale).get(key) or load("en").get(key) or default
