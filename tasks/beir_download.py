"""The public BEIR data sets by name (`beir:fiqa`, `beir:cqadupstack/android`), downloaded once.

BEIR publishes every data set as `<name>.zip` at one URL (the address `beir.util` uses); the zip
holds a `<name>/` folder in the BEIR layout. `beir_folder(name)` returns that folder, downloading
and unpacking it on first use into `$HARNESS_DATASETS` (default `.cache/datasets`) under `beir/`.

- Download and unpacking happen in a temporary folder beside the target and are moved into place
  with one rename, so an interrupted download never leaves a half folder that later runs trust.
- The zip's sha256 is kept next to the folder (`<name>.zip.sha256`); the task's result records
  the sha256 of every file it reads, as for any folder.
- Network is used only when the hub is not switched off (`run.py` switches it off unless
  `HARNESS_ONLINE=1`); otherwise the error says how to allow it or where to put the folder.
- `$HARNESS_BEIR_URL` (a template with `{name}`) points at a mirror; tests use a local server.

Written here rather than calling `beir.util.download_and_unzip`: that one imports torch, does not
check the HTTP status (a 404 page would be saved as the zip) and unpacks in place.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from harness.data import hub_available
from harness.errors import DataError, HarnessError
from harness.io import atomic_write_bytes

BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{name}.zip"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)?$")


def is_beir_name(text: str) -> bool:
    """True for `fiqa` or `cqadupstack/android` (a data set name), False for anything path-like."""
    return bool(_NAME.match(text)) and ".." not in text


def datasets_dir() -> Path:
    return Path(os.environ.get("HARNESS_DATASETS", Path.cwd() / ".cache" / "datasets")).expanduser()


def beir_url(zip_name: str) -> str:
    return os.environ.get("HARNESS_BEIR_URL", BEIR_URL).format(name=zip_name)


def beir_folder(name: str, dest: Path | None = None, *, progress: bool = True) -> Path:
    """The local folder of BEIR data set `name`, downloaded and unpacked if it is not there yet."""
    if not is_beir_name(name):
        raise HarnessError(f"beir:{name}: not a folder, and not a BEIR data set name (lower-case letters, "
                           "digits, '-', '_', '.', one optional '/' as in cqadupstack/android)")
    base = (dest or datasets_dir()) / "beir"
    zip_name, _, sub = name.partition("/")   # cqadupstack/android: zip cqadupstack, folder android in it
    folder = base / name
    if (base / zip_name).is_dir():
        if not folder.is_dir():
            raise DataError(f"BEIR data set {zip_name!r} has no sub-folder {sub!r}", base / zip_name)
        return folder
    url = beir_url(zip_name)
    if not hub_available():
        raise HarnessError(f"beir:{name} is not a local folder and is not downloaded yet; downloading it from "
                           f"{url} needs the network: set HARNESS_ONLINE=1 (run.py stays offline otherwise), "
                           f"or unpack {zip_name}.zip into {base}, or pass the folder as beir:/path/to/{name}")
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base, prefix=f".{zip_name}-") as tmp:
        zip_path = Path(tmp) / f"{zip_name}.zip"
        digest = _download(url, zip_path, progress)
        try:
            with zipfile.ZipFile(zip_path) as zf:
                zf.extractall(Path(tmp) / "unpacked")  # zipfile drops absolute paths and '..' parts
        except zipfile.BadZipFile:
            raise DataError(f"downloaded file is not a zip archive (from {url})", zip_path) from None
        unpacked = Path(tmp) / "unpacked" / zip_name
        if not unpacked.is_dir():
            raise DataError(f"archive from {url} has no top-level folder {zip_name!r}", zip_path)
        if not (unpacked / sub).is_dir():
            raise DataError(f"archive from {url} has no folder {name!r}", zip_path)
        atomic_write_bytes(base / f"{zip_name}.zip.sha256", f"{digest}  {url}\n".encode())
        try:
            os.replace(unpacked, base / zip_name)
        except OSError:
            if not (base / zip_name).is_dir():  # another process finished first: use its copy
                raise
    return folder


def _download(url: str, target: Path, progress: bool) -> str:
    """Stream `url` into `target`, return its sha256; HTTP and network errors name the URL."""
    from tqdm.auto import tqdm
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {target.name}",
                      disable=not progress) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as e:
        raise HarnessError(f"download of {url} failed: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise HarnessError(f"download of {url} failed: {getattr(e, 'reason', e)}") from None
    return digest.hexdigest()

