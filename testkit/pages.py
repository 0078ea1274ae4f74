"""What the browser tests check on every page they visit: axe-core's accessibility rules, and a
screenshot kept under var/ for a person to review.

axe-core is vendored here, in the test kit, and never served: the tests evaluate it in the page
through the browser's debugging protocol, which the page's Content-Security-Policy does not govern.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AXE = Path(__file__).resolve().parent / "vendor" / "axe-4.14.1.min.js"
SCREENSHOTS = ROOT / "var" / "screenshots"
BLOCKING = ("serious", "critical")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """The serious and critical accessibility violations axe-core finds on the page as it stands."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await window.axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))"
    )
    return [violation for violation in found if violation["impact"] in BLOCKING]


def screenshot(page: Any, name: str) -> Path:
    """The whole page as a PNG under var/screenshots/, named for what it shows."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def reviewed(page: Any, name: str) -> None:
    """Screenshot the page, then fail on any serious or critical accessibility violation, named."""
    screenshot(page, name)
    violations = axe_violations(page)
    assert violations == [], f"{name}: {violations}"
