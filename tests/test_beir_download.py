"""`beir:<name>`: the public BEIR zips, downloaded once (tasks/beir_download.py).

The real URL is unreachable here, so a local HTTP server plays the BEIR host ($HARNESS_BEIR_URL):
it serves a zip built, as BEIR builds them, from the shared SciFact copy, and counts requests.
"""
from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import pytest

from harness import registry
from harness.errors import DataError, HarnessError
from tasks.beir_download import BEIR_URL, beir_folder, is_beir_name


class _Server:
    def __init__(self, root: Path):
        hits = self.hits = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(root), **kw)

            def do_GET(self):
                hits.append(self.path)
                super().do_GET()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{{name}}.zip"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _zip_folder(zip_path: Path, folder: Path, arcname: str) -> None:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, f"{arcname}/{f.relative_to(folder)}")


@pytest.fixture
def host(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    server = _Server(served)
    monkeypatch.setenv("HARNESS_BEIR_URL", server.url)
    monkeypatch.setenv("HARNESS_DATASETS", str(tmp_path / "datasets"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    server.root, server.datasets = served, tmp_path / "datasets" / "beir"
    yield server
    server.close()


def _leftovers(base: Path) -> list[str]:
    return sorted(p.name for p in base.iterdir()) if base.is_dir() else []


def test_names_and_default_url():
    assert BEIR_URL == "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{name}.zip"
    for name in ("scifact", "fiqa", "trec-covid", "cqadupstack/android", "webis-touche2020"):
        assert is_beir_name(name)
    for text in ("/abs/path", "./rel", "a/b/c", "..", "sci/..", "SciFact", "x y", ""):
        assert not is_beir_name(text)


def test_download_once_then_same_data_as_the_folder(host, data_root):
    _zip_folder(host.root / "scifact.zip", data_root / "scifact", "scifact")
    task = registry.make_task("beir:scifact")
    rec = task.load(None)
    assert host.hits == ["/scifact.zip"]
    assert Path(rec.path) == (host.datasets / "scifact").resolve()
    reference = registry.make_task(f"beir:{data_root / 'scifact'}")
    ref_rec = reference.load(None)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):   # the same bytes were read
        assert rec.sha256[name] == ref_rec.sha256[name]
    assert task.doc_ids == reference.doc_ids and task.doc_texts == reference.doc_texts
    assert task.query_ids == reference.query_ids and task.qrels == reference.qrels
    assert len(task.doc_ids) == 5183 and len(task.query_ids) == 300
    digest = hashlib.sha256((host.root / "scifact.zip").read_bytes()).hexdigest()
    assert (host.datasets / "scifact.zip.sha256").read_text().split()[0] == digest
    registry.make_task("beir:scifact").load(None)                     # second use: no download
    assert host.hits == ["/scifact.zip"]
    assert _leftovers(host.datasets) == ["scifact", "scifact.zip.sha256"]  # no temporary folders left


def test_sub_data_set_of_a_zip(host, tmp_path):
    sub = tmp_path / "src" / "android"
    (sub / "qrels").mkdir(parents=True)
    (sub / "corpus.jsonl").write_text('{"_id": "d1", "title": "", "text": "a phone"}\n'
                                      '{"_id": "d2", "title": "t", "text": "a tablet"}\n')
    (sub / "queries.jsonl").write_text('{"_id": "q1", "text": "phone?"}\n')
    (sub / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    _zip_folder(host.root / "toyqa.zip", tmp_path / "src", "toyqa")
    task = registry.make_task("beir:toyqa/android")
    task.load(None)
    assert task.doc_ids == ["d1", "d2"] and task.qrels == {"q1": {"d1": 1}}
    with pytest.raises(DataError, match="no sub-folder 'gaming'"):
        beir_folder("toyqa/gaming")
    assert host.hits == ["/toyqa.zip"]


def test_offline_error_says_how_to_allow_it(host, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HarnessError, match="HARNESS_ONLINE=1") as e:
        registry.make_task("beir:fiqa").load(None)
    assert "fiqa.zip" in str(e.value) and host.hits == []


def test_missing_and_broken_downloads_leave_nothing(host):
    with pytest.raises(HarnessError, match=r"HTTP 404"):
        beir_folder("nosuchset", progress=False)
    (host.root / "broken.zip").write_text("<html>not found</html>")
    with pytest.raises(DataError, match="not a zip archive"):
        beir_folder("broken", progress=False)
    with zipfile.ZipFile(host.root / "wrongtop.zip", "w") as zf:
        zf.writestr("other/corpus.jsonl", "{}\n")
    with pytest.raises(DataError, match="no top-level folder 'wrongtop'"):
        beir_folder("wrongtop", progress=False)
    assert _leftovers(host.datasets) == []


def test_a_missing_path_is_still_a_folder_error(tmp_path):
    with pytest.raises(DataError, match="folder not found"):
        registry.make_task(f"beir:{tmp_path / 'nope'}").load(None)
