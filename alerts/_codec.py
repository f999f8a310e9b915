"""The escalation state as JSON (the `alerts.escalation` column) and a team's policy overrides.

Pure. The policy is stored with the state (snapshotted when the alert opens), so a later change
to a team's clocks never moves a deadline already given. Format version 1:

    {"v": 1, "severity": "high", "dangerous": false, "tier": 2, "due": "ack", "deadline": 1.7e9,
     "fence": 3, "backup_paged": false, "acknowledged_by": null, "outcome": null,
     "snoozed": null, "prompt": "remeasure", "remeasure_s": null, "repeat_confirms": true,
     "clocks": {"high": {"1": [900, 0], "2": [3600, 14400], "3": [...]}, ...}}
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from alerts.escalation import Clock, Due, Escalation, Outcome, Policy, Tier
from stream.detections import Severity


def policy_with(overrides: Mapping[str, Any] | None, base: Policy | None = None) -> Policy:
    """`base` (the defaults of DESIGN 5) with a team's overrides:
    `{"critical": {"2": {"ack_s": 600, "resolve_s": 3600}}}`; unknown keys raise ValueError."""
    base = base or Policy()
    clocks = {sev: dict(tiers) for sev, tiers in base.clocks.items()}
    for sev_name, tiers in (overrides or {}).items():
        severity = Severity(sev_name)
        for tier_name, clock in tiers.items():
            tier = Tier(int(tier_name))
            old = clocks[severity][tier]
            ack_s = float(clock.get("ack_s", old.ack_s))
            resolve_s = float(clock.get("resolve_s", old.resolve_s))
            if ack_s <= 0 or resolve_s < 0 or set(clock) - {"ack_s", "resolve_s"}:
                raise ValueError(f"bad clock for {sev_name} tier {tier_name}: {clock!r}")
            clocks[severity][tier] = Clock(ack_s, resolve_s)
    return Policy(MappingProxyType({s: MappingProxyType(t) for s, t in clocks.items()}))


def to_json(s: Escalation) -> dict[str, Any]:
    return {
        "v": 1,
        "severity": s.severity.value,
        "dangerous": s.dangerous,
        "tier": int(s.tier),
        "due": s.due.value if s.due else None,
        "deadline": s.deadline,
        "fence": s.fence,
        "backup_paged": s.backup_paged,
        "acknowledged_by": s.acknowledged_by,
        "outcome": s.outcome.value if s.outcome else None,
        "snoozed": s.snoozed,
        "prompt": s.prompt,
        "remeasure_s": s.remeasure_s,
        "repeat_confirms": s.repeat_confirms,
        "clocks": {
            sev.value: {str(int(t)): [c.ack_s, c.resolve_s] for t, c in tiers.items()}
            for sev, tiers in s.policy.clocks.items()
        },
    }


def from_json(d: Mapping[str, Any]) -> Escalation:
    if d.get("v") != 1:
        raise ValueError(f"unknown escalation format {d.get('v')!r}")
    clocks = {
        Severity(sev): MappingProxyType({Tier(int(t)): Clock(*c) for t, c in tiers.items()})
        for sev, tiers in d["clocks"].items()
    }
    return Escalation(
        policy=Policy(MappingProxyType(clocks)),
        severity=Severity(d["severity"]),
        dangerous=bool(d["dangerous"]),
        tier=Tier(d["tier"]),
        due=Due(d["due"]) if d["due"] else None,
        deadline=d["deadline"],
        fence=int(d["fence"]),
        backup_paged=bool(d["backup_paged"]),
        acknowledged_by=d["acknowledged_by"],
        outcome=Outcome(d["outcome"]) if d["outcome"] else None,
        snoozed=d["snoozed"],
        # Absent in states stored before routes existed: the severity-only defaults.
        prompt=str(d.get("prompt", "remeasure")),
        remeasure_s=d.get("remeasure_s"),
        repeat_confirms=bool(d.get("repeat_confirms", True)),
    )
