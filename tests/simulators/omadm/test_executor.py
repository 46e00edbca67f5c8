"""Server commands run on the tree: Status per command, Results, Atomic, Sequence, MoreData."""

from __future__ import annotations

from conformance.omadm.model import (
    Add,
    Alert,
    Atomic,
    Command,
    Copy,
    Delete,
    Exec,
    Get,
    Item,
    Meta,
    Replace,
    Results,
    Sequence,
    Status,
)
from conformance.simulators import omadm_mo as mo
from conformance.simulators.dmtree import DMTree
from conformance.simulators.omadm_executor import CommandExecutor

NAME = f"{mo.FUMO_NODE}/PkgName"
VERSION = f"{mo.FUMO_NODE}/PkgVersion"


def statuses(replies: list[Command]) -> list[tuple[str, str, str]]:
    return [(r.cmd_ref, r.cmd, r.data) for r in replies if isinstance(r, Status)]


def replace(cmd_id: str, uri: str, value: str) -> Replace:
    return Replace(cmd_id, items=[Item(target=uri, meta=Meta(format="chr"), data=value)])


def test_get_gives_status_then_results_with_meta(tree: DMTree) -> None:
    out = CommandExecutor(tree).execute(
        "2", [Get("3", items=[Item(target="./DevInfo/Man"), Item(target="./DevInfo/Nope")])]
    )
    assert out.commands == 1 and not out.abort
    assert statuses(out.replies) == [("3", "Get", "200"), ("3", "Get", "404")]
    results = [r for r in out.replies if isinstance(r, Results)]
    assert len(results) == 1
    assert (results[0].msg_ref, results[0].cmd_ref) == ("2", "3")
    item = results[0].items[0]
    assert item.source == "./DevInfo/Man"
    assert item.meta is not None and (item.meta.format, item.meta.type) == ("chr", "text/plain")
    assert item.data == "Conformance Lab"
    status = out.replies[0]
    assert isinstance(status, Status) and status.target_refs == ["./DevInfo/Man"]


def test_every_command_gets_a_status(tree: DMTree) -> None:
    commands: list[Command] = [
        replace("1", NAME, "p"),
        Add("2", items=[Item(target="./DevInfo/Man", meta=Meta(format="chr"), data="x")]),
        Delete("3", items=[Item(target="./DevInfo/Man")]),
        Exec("4", items=[Item(target="./DevInfo/Man")]),
        Copy("5", items=[Item(target="./DevInfo/Man")]),
        Alert("6", data="1101"),
        Replace("7"),
    ]
    out = CommandExecutor(tree).execute("1", commands)
    assert statuses(out.replies) == [
        ("1", "Replace", "200"),
        ("2", "Add", "418"),
        ("3", "Delete", "405"),
        ("4", "Exec", "405"),
        ("5", "Copy", "412"),  # no Source: incomplete
        ("6", "Alert", "200"),
        ("7", "Replace", "412"),
    ]


def test_atomic_rolls_back_on_a_failed_member(tree: DMTree) -> None:
    atomic = Atomic(
        "1",
        commands=[
            replace("2", NAME, "changed"),
            replace("3", "./DevInfo/Man", "refused"),
            replace("4", VERSION, "never"),
        ],
    )
    out = CommandExecutor(tree).execute("1", [atomic])
    assert statuses(out.replies) == [
        ("1", "Atomic", "507"),
        ("2", "Replace", "216"),
        ("3", "Replace", "405"),
        ("4", "Replace", "215"),
    ]
    assert tree.value(NAME) == ""  # rolled back
    assert tree.value(VERSION) == ""


def test_atomic_commits_when_all_succeed(tree: DMTree) -> None:
    atomic = Atomic("1", commands=[replace("2", NAME, "a"), replace("3", VERSION, "b")])
    out = CommandExecutor(tree).execute("1", [atomic])
    assert statuses(out.replies)[0] == ("1", "Atomic", "200")
    assert (tree.value(NAME), tree.value(VERSION)) == ("a", "b")


def test_atomic_rollback_drops_exec_jobs(tree: DMTree) -> None:
    def start_download(uri: str, data: str, correlator: str | None) -> str:
        tree.jobs.append(lambda: None)
        return "202"

    tree.exec_handlers[f"{mo.FUMO_NODE}/DownloadAndUpdate"] = start_download
    atomic = Atomic(
        "1",
        commands=[
            Exec("2", items=[Item(target=f"{mo.FUMO_NODE}/DownloadAndUpdate")]),
            replace("3", "./DevInfo/Man", "refused"),
        ],
    )
    out = CommandExecutor(tree).execute("1", [atomic])
    assert statuses(out.replies)[:2] == [("1", "Atomic", "507"), ("2", "Exec", "216")]
    assert tree.jobs == []


def test_sequence_stops_after_a_failure(tree: DMTree) -> None:
    sequence = Sequence(
        "1",
        commands=[
            replace("2", NAME, "first"),
            Get("3", items=[Item(target="./DevInfo/Nope")]),
            replace("4", VERSION, "never"),
        ],
    )
    out = CommandExecutor(tree).execute("1", [sequence])
    assert statuses(out.replies) == [
        ("1", "Sequence", "200"),
        ("2", "Replace", "200"),
        ("3", "Get", "404"),
        ("4", "Replace", "215"),
    ]
    assert tree.value(NAME) == "first"
    assert tree.value(VERSION) == ""


def test_abort_stops_at_alert_1223(tree: DMTree) -> None:
    out = CommandExecutor(tree).execute("1", [Alert("1", data="1223"), replace("2", NAME, "never")])
    assert out.abort
    assert tree.value(NAME) == ""


def test_large_object_from_the_server_is_reassembled(tree: DMTree) -> None:
    executor = CommandExecutor(tree)
    value = "x" * 50 + "y" * 30
    first = Replace(
        "1",
        items=[
            Item(target=NAME, meta=Meta(format="chr", size=80), data=value[:50], more_data=True)
        ],
    )
    out = executor.execute("2", [first])
    assert statuses(out.replies) == [("1", "Replace", "213")]
    assert tree.value(NAME) == ""
    last = Replace("1", items=[Item(target=NAME, meta=Meta(format="chr"), data=value[50:])])
    out = executor.execute("3", [last])
    assert statuses(out.replies) == [("1", "Replace", "200")]
    assert tree.value(NAME) == value


def test_large_object_with_a_wrong_size_is_refused(tree: DMTree) -> None:
    executor = CommandExecutor(tree)
    executor.execute(
        "2",
        [
            Replace(
                "1",
                items=[
                    Item(target=NAME, meta=Meta(format="chr", size=99), data="abc", more_data=True)
                ],
            )
        ],
    )
    out = executor.execute("3", [Replace("1", items=[Item(target=NAME, data="def")])])
    assert statuses(out.replies) == [("1", "Replace", "424")]
    assert tree.value(NAME) == ""


def test_result_larger_than_the_servers_max_obj_size_is_413(tree: DMTree) -> None:
    tree.set_value(NAME, "z" * 200)
    executor = CommandExecutor(tree)
    executor.max_obj_size = 100
    out = executor.execute("1", [Get("1", items=[Item(target=NAME)])])
    assert statuses(out.replies) == [("1", "Get", "413")]
    assert not [r for r in out.replies if isinstance(r, Results)]
