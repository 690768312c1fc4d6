"""Audits on the board: `dfbench audit --out RESULTS` writes ``RESULTS/audits.json``; `dfbench submit`
puts each view's binarization test on its entry (``audit``) and flags ``fails_binarization_test`` where
the attacks clearly missed adversarial examples that provably exist (dfbench.audit).

An entry whose numbers rest on a defense, a channel or a training recipe and that has no audit is
marked ``"not audited"``: nothing says its attacks could have succeeded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DfbenchError
from ..safe_files import read_json
from .entry import attack_mode

AUDITS_FILE = "audits.json"
FLAG = "fails_binarization_test"
KEYS = ("detector", "training", "defenses", "channel", "weights_sha256")


def read_audits(out: Path) -> list[dict[str, Any]]:
    """The audits of a results folder ([] when it has none)."""
    path = Path(out) / AUDITS_FILE
    if not path.exists():
        return []
    audits = read_json(path, "audits file")
    if not isinstance(audits, list) or not all(isinstance(a, dict) and all(k in a for k in KEYS) for a in audits):
        raise DfbenchError(f"audits file {path} is not a list of dfbench audits (write it with `dfbench audit --out`)")
    return audits


def summary(audit: dict[str, Any]) -> dict[str, Any]:
    """One audit as an entry carries it."""
    mode = attack_mode(audit["defenses"], int(audit["adaptive"]), audit["channel"])
    if audit.get("not_audited"):
        return {"attack_mode": mode, "status": "not audited", "why": str(audit["not_audited"])[:300]}
    return {"attack_mode": mode, "status": "failed" if audit["fails_binarization_test"] else "passed",
            "norm": audit["norm"], "eps": float(audit["eps"]), "n": int(audit["samples"]),
            "testable": int(audit["testable"]), "successes": int(audit["successes"]),
            "success_rate": audit["success_rate"], "success_rate_ci": audit["interval"],
            "attacks": list(audit["attacks"])}


def attach_audits(entries: list[dict[str, Any]], audits: list[dict[str, Any]]) -> None:
    """Put each entry's audits on it (``audit``), flag a failed one, and mark hardened or defended entries
    without one as not audited."""
    for entry in entries:
        channel = entry.get("channel", "")
        own = [summary(a) for a in audits if (a["detector"], a["training"], a["defenses"], a["channel"],
                                              a["weights_sha256"]) == (entry["detector"], entry["training"],
                                                                      entry["defenses"], channel,
                                                                      entry["weights_sha256"])]
        if own:
            entry["audit"] = sorted(own, key=lambda a: a["attack_mode"])
        elif entry["defenses"] or channel or entry["training"]:
            entry["audit"] = [{"attack_mode": "", "status": "not audited",
                               "why": "no binarization test in this results folder (run `dfbench audit --out`)"}]
        failed = [a for a in own if a["status"] == "failed"]
        if failed:
            entry["flag_details"] = dict(sorted({**entry["flag_details"], FLAG: [
                {"cell": f"binarization test {a['attack_mode'] or 'undefended'} {a['norm']} {a['eps']:.6g}: "
                         f"{a['successes']}/{a['testable']} provably breakable samples broken",
                 "adv_acc": a["success_rate"]} for a in failed]}.items()))
            entry["flags"] = sorted(entry["flag_details"])
