"""The run's Allure spool (conformance/evidence/allure_spool.py): the same archive as the files
allure-commons writes, the same masking as the sweep's, nothing lost when a run is killed."""

from __future__ import annotations

import itertools
import tarfile
import uuid
from pathlib import Path

import allure_commons
import pytest
from allure_commons import model2, plugin_manager
from allure_commons.logger import AllureFileLogger

from conformance.evidence.allure_report import PACKED, RESULTS_DIR, pack_results, unpack_results
from conformance.evidence.allure_spool import SPOOL_NAME, Spool, records
from conformance.evidence.redact import MASK_TEXT
from conformance.evidence.sweep import scrub_folder
from conformance.plugin import allure_writer

SECRET = "s3cr3t-Pa55"


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers() if m.isfile()}


def report_everything(source: Path) -> None:
    """What allure-pytest reports in a run: a result, a container, both kinds of attachment."""
    hook = plugin_manager.hook
    hook.report_result(result=model2.TestResult(uuid="r1", name=f"case «é» {SECRET}",
                                                status=model2.Status.FAILED))
    hook.report_container(container=model2.TestResultContainer(uuid="c1", children=["r1"]))
    hook.report_attached_data(body=f"transcript\n{SECRET}\n", file_name="a1-attachment.txt")
    hook.report_attached_data(body=b"\x00\xff" + SECRET.encode(), file_name="a2-attachment.pcapng")
    hook.report_attached_file(source=source, file_name="a3-attachment.svg")


def count_uuids_from_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same file names on both sides: uuid4 counts from the same start for each."""
    counter = itertools.count()
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(counter)))


def run_folder_with(tmp_path: Path, name: str, source: Path, *, spooled: bool) -> Path:
    folder = tmp_path / name
    logger = AllureFileLogger(folder / RESULTS_DIR)
    plugin_manager.register(logger, name=f"test-spool-{name}")
    try:
        if spooled:
            spool = Spool(folder / SPOOL_NAME)
            assert allure_writer.spool_results(folder / RESULTS_DIR, spool) == 1
        else:
            allure_writer.encode_results_at_once()
        report_everything(source)
    finally:
        plugin_manager.unregister(name=f"test-spool-{name}")  # as allure-pytest does: by name
    if spooled:
        spool.close()
        assert list((folder / RESULTS_DIR).iterdir()) == []  # not a file on the way
    return folder


def test_the_spool_packs_the_archive_the_files_did(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "ladder.svg"
    source.write_text("<svg/>", encoding="utf-8")
    count_uuids_from_zero(monkeypatch)
    files = run_folder_with(tmp_path, "files", source, spooled=False)
    count_uuids_from_zero(monkeypatch)
    spooled = run_folder_with(tmp_path, "spooled", source, spooled=True)
    for folder in (files, spooled):
        scrub_folder(folder, [SECRET])
        assert pack_results(folder) == folder / PACKED
        assert not (folder / RESULTS_DIR).exists() and not (folder / SPOOL_NAME).exists()
    theirs, ours = members(files / PACKED), members(spooled / PACKED)
    assert ours == theirs and len(ours) == 5
    text = b"".join(ours.values())
    assert SECRET.encode() not in text
    assert MASK_TEXT.encode() in ours[f"{RESULTS_DIR}/a1-attachment.txt"]  # text: the mask
    assert ours[f"{RESULTS_DIR}/a2-attachment.pcapng"] == b"\x00\xff" + b"*" * len(SECRET)


def test_records_stop_at_what_a_killed_run_left_cut_short(tmp_path: Path) -> None:
    path = tmp_path / SPOOL_NAME
    spool = Spool(path)
    spool.add("x-result.json", b'{"a": 1}')
    spool.add("y-attachment.txt", b"line\n" * 3)
    spool.close()
    whole = path.read_bytes()
    assert list(records(path)) == [("x-result.json", b'{"a": 1}'),
                                   ("y-attachment.txt", b"line\n" * 3)]
    for cut in range(len(whole)):  # every length a kill could leave
        path.write_bytes(whole[:cut])
        got = list(records(path))
        assert got in ([], [("x-result.json", b'{"a": 1}')])
        assert len(got) == (1 if cut >= len(b'8 x-result.json\n{"a": 1}\n') else 0)


@pytest.mark.parametrize("name", ["../x.json", "a/b.json", "", ".", "..", "a\nb", "x\0y",
                                  "é" * 200, "\udcff.json"])
def test_a_name_that_is_not_a_plain_file_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        Spool(tmp_path / SPOOL_NAME).add(name, b"x")
    if "\n" in name:
        return  # a header line cannot hold it: the record would be another one
    # ...and in a spool written by someone else, reading stops there
    raw = name.encode("utf-8", "surrogateescape")  # a lone surrogate: a byte not UTF-8
    (tmp_path / "forged").write_bytes(b"1 ok.json\nx\n" + b"1 %s\nx\n" % raw
                                      + b"1 after.json\nx\n")
    assert list(records(tmp_path / "forged")) == [("ok.json", b"x")]


def test_a_killed_runs_spool_is_unpacked_for_the_report(tmp_path: Path) -> None:
    spool = Spool(tmp_path / SPOOL_NAME)
    spool.add("r-result.json", b"{}")
    spool.add("a-attachment.txt", b"seen")
    spool.close()
    with open(tmp_path / SPOOL_NAME, "ab") as cut_short:
        cut_short.write(b"99 z-result.json\n{")
    results = unpack_results(tmp_path)
    assert sorted(p.name for p in results.iterdir()) == ["a-attachment.txt", "r-result.json"]
    assert (results / "a-attachment.txt").read_bytes() == b"seen"


def test_a_spool_with_a_secret_is_rewritten_masked_and_one_without_is_left(
        tmp_path: Path) -> None:
    path = tmp_path / SPOOL_NAME
    spool = Spool(path)
    spool.add("r-result.json", b'{"name": "plain"}')
    spool.close()
    before = path.stat().st_mtime_ns, path.read_bytes()
    assert scrub_folder(tmp_path, [SECRET]) == []
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before
    spool.add("s-result.json", f'{{"name": "{SECRET}"}}'.encode())  # reopened after close
    spool.close()
    # what an interrupted rewrite left: not appended to
    (tmp_path / f"{SPOOL_NAME}.tmp").write_bytes(b"1 stale.json\nx\n")
    assert scrub_folder(tmp_path, [SECRET]) == [path]
    assert [data for _, data in records(path)] == [
        b'{"name": "plain"}', f'{{"name": "{MASK_TEXT}"}}'.encode()]
    assert not list(tmp_path.glob("*.tmp"))


def test_results_sent_elsewhere_stay_files(tmp_path: Path) -> None:
    logger = AllureFileLogger(tmp_path / "elsewhere")
    plugin_manager.register(logger, name="test-spool-elsewhere")
    try:
        assert allure_writer.spool_results(tmp_path / RESULTS_DIR, Spool(tmp_path / "s")) == 0
        allure_commons.plugin_manager.hook.report_attached_data(body="x", file_name="f.txt")
    finally:
        plugin_manager.unregister(name="test-spool-elsewhere")
    assert (tmp_path / "elsewhere" / "f.txt").read_text(encoding="utf-8") == "x"
    assert not (tmp_path / "s").exists()

