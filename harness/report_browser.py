"""Headless Chromium for the static site: a PNG screenshot of a page, or its DOM after the scripts ran.

The site works from file://, so no server is started. Chromium is looked for at $HARNESS_CHROMIUM,
then the usual Debian paths, then on PATH; it runs with a throw-away profile and HOME.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import HarnessError

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def find_chromium() -> str | None:
    env = os.environ.get("HARNESS_CHROMIUM")
    for c in ([env] if env else []) + list(CHROMIUM_CANDIDATES):
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium_cmd(chromium: str, profile: str) -> list[str]:
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={profile}"]


def run_chromium(args: list[str], *, chromium: str | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
    chromium = chromium or find_chromium()
    if not chromium:
        raise HarnessError("no Chromium found (looked for /usr/bin/chromium; set HARNESS_CHROMIUM to its path)")
    with tempfile.TemporaryDirectory(prefix="harness-chromium-") as tmp:
        env = {**os.environ, "HOME": tmp}   # chromium writes crash reports and dconf under HOME
        return subprocess.run(_chromium_cmd(chromium, os.path.join(tmp, "profile")) + args, env=env,
                              capture_output=True, text=True, timeout=timeout)


def screenshot(page: str | os.PathLike, png: str | os.PathLike, *, width: int = 1280, height: int = 1000,
               chromium: str | None = None) -> Path:
    """A headless-Chromium PNG of a local page."""
    page, png = Path(page).resolve(), Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    proc = run_chromium([f"--screenshot={png}", f"--window-size={width},{height}", page.as_uri()],
                        chromium=chromium)
    if proc.returncode != 0 or not png.is_file():
        raise HarnessError(f"chromium screenshot of {page} failed (exit {proc.returncode}): {proc.stderr[-500:]}")
    return png


def dump_dom(page: str | os.PathLike, *, chromium: str | None = None) -> str:
    """The page's DOM after its scripts ran, serialised by Chromium."""
    proc = run_chromium(["--dump-dom", Path(page).resolve().as_uri()], chromium=chromium)
    if proc.returncode != 0:
        raise HarnessError(f"chromium --dump-dom failed (exit {proc.returncode}): {proc.stderr[-500:]}")
    return proc.stdout
