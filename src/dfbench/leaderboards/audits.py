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
KEYS = ("detector", "training", "defenses", "channel", "weights_sha256", "dataset", "image_size", "precision")
TYPES: dict[str, type | tuple[type, ...]] = {
    **dict.fromkeys(KEYS, str), "image_size": int, "adaptive": bool, "not_audited": str, "attacks": list}
RESULT: dict[str, type | tuple[type, ...]] = {
    "norm": str, "eps": (int, float), "samples": int, "testable": int, "successes": int,
    "fails_binarization_test": bool}


def read_audits(out: Path) -> list[dict[str, Any]]:
    """The audits of a results folder ([] when it has none), each checked for the fields submit reads."""
    path = Path(out) / AUDITS_FILE
    if not path.exists():
        return []
    audits = read_json(path, "audits file")
    if not isinstance(audits, list) or not all(isinstance(a, dict) and _valid(a) for a in audits):
        raise DfbenchError(f"audits file {path} is not a list of dfbench audits (write it with `dfbench audit --out`)")
    return audits


def _valid(audit: dict[str, Any]) -> bool:
    types = {**TYPES, **({} if audit.get("not_audited") else RESULT)}
    if not all(isinstance(audit.get(k), t) and not (t is int and isinstance(audit.get(k), bool))
               for k, t in types.items()):
        return False
    if audit.get("not_audited"):
        return True
    rate, interval = audit.get("success_rate"), audit.get("interval")
    counts_ok = 0 <= audit["successes"] <= audit["testable"] <= audit["samples"] and 0 <= audit["eps"] <= 1000
    rate_ok = (rate is None and audit["testable"] == 0) or (isinstance(rate, float | int) and 0 <= rate <= 1)
    interval_ok = interval is None or (isinstance(interval, list) and len(interval) == 2
                                       and all(isinstance(v, float | int) and 0 <= v <= 1 for v in interval))
    return counts_ok and rate_ok and interval_ok and audit["norm"] in ("linf", "l2")


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
        mine = (entry["detector"], entry["training"], entry["defenses"], channel, entry["weights_sha256"],
                entry["dataset"]["name"], entry["dataset"]["image_size"], entry.get("precision", "float32"))
        own = [summary(a) for a in audits if tuple(a[k] for k in KEYS) == mine]
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
                 "adv_acc": 1 - a["success_rate"]} for a in failed]}.items()))  # the readout's accuracy under attack
            entry["flags"] = sorted(entry["flag_details"])
