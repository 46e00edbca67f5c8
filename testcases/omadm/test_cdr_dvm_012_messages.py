"""CDR-DVM-012 — messages and sessions: MaxMsgSize, Alert 1222, large objects, abort
(guide §3.3.1; OMA DM Protocol 1.2 §8.8 "Multiple messages", §8.9 "Large objects").

- Multiple messages: the lab advertises a small MaxMsgSize (1500 bytes) and asks for more
  results than fit; the device splits them over messages (no Final until the last, the lab
  asking for the rest with Alert 1222), each message within the lab's MaxMsgSize, and every
  result arrives.
- Large objects (when ``features.large_objects``): ./DevDetail/LrgObj is ``true``; a value
  larger than the device's MaxMsgSize sent by the lab in MoreData chunks is stored whole, and
  read back with a small lab MaxMsgSize it comes in MoreData chunks, equal to what was sent.
- Session abort: after the lab's Alert 1223 the device sends nothing more in that session, and
  it starts the next session normally.

Interpretation: the device's Package 1 goes before it knows the lab's MaxMsgSize, so it is not
held to it. The large object is written to a leaf the DDF says is Get/Replace chr, preferring
./FUMO (a package name), and the leaf's value is put back afterwards.
"""

from __future__ import annotations

import pytest

from conformance.dut.omadm import (
    DmDevice,
    close_quietly,
    ddf_or_inconclusive,
    get,
    large_object_leaf,
    replace,
    show,
)
from conformance.verdicts import DeviceFault

pytestmark = pytest.mark.requirement("CDR-DVM-012")

SMALL = 1500  # the lab's MaxMsgSize for the multiple-message case
CHUNKED = 3000  # the lab's MaxMsgSize while reading a large object back
URIS = [
    "./DevInfo/DevId", "./DevInfo/Man", "./DevInfo/Mod", "./DevInfo/DmV", "./DevInfo/Lang",
    "./DevDetail/DevTyp", "./DevDetail/OEM", "./DevDetail/FwV", "./DevDetail/SwV",
    "./DevDetail/HwV",
]


def test_results_over_multiple_messages(dm: DmDevice) -> None:
    """Results larger than the lab's MaxMsgSize come over several messages, each within it."""
    with dm.fresh(max_msg_size=SMALL) as session:
        results = session.send([get(u) for u in URIS * 4])
        sent = [m for m in session.messages if m.direction == "device->lab"]
    missing = [f"{r.cmd.items[0].target}: {show(r)}"  # type: ignore[attr-defined]
               for r in results if not r.items]
    if missing and all(not r.status for r in results):
        raise DeviceFault("the device answered none of the Gets sent with MaxMsgSize "
                          f"{SMALL}")
    answers = sent[1:]  # Package 1 goes before the device knows the lab's MaxMsgSize
    too_big = [len(m.raw) for m in answers if len(m.raw) > SMALL]
    assert not too_big, (
        f"device messages of {', '.join(map(str, too_big))} bytes exceed the lab's MaxMsgSize "
        f"{SMALL}")
    not_final = [m for m in answers if not m.msg.final]
    assert not_final, (
        f"{len(results)} Results fitted in one message of at most {SMALL} bytes? The device "
        "never split its answer (no message without Final)")
    assert not missing, "results missing after the multiple messages: " + "; ".join(missing)


@pytest.mark.applies(feature="large_objects")
def test_large_object(dm: DmDevice) -> None:
    """A large object goes to the device and comes back in MoreData chunks, intact."""
    lrgobj = dm.read(["./DevDetail/LrgObj"])["./DevDetail/LrgObj"]
    assert lrgobj.status == "200" and (lrgobj.data or "").strip().lower() == "true", (
        f"./DevDetail/LrgObj is {show(lrgobj)}, expected 'true' (large objects declared)")
    uri = large_object_leaf(ddf_or_inconclusive(dm.dut))
    with dm.fresh(max_msg_size=CHUNKED) as session:
        # Larger than the device's own MaxMsgSize: the lab has to send it in chunks too.
        size = max(20000, session.device_max_msg_size + 4000)
        value = "".join(f"{i:08d}" for i in range(size // 8))
        original = session.get(uri)
        if original.status != "200" or original.data is None:
            raise DeviceFault(f"Get {uri} answered {show(original)}; the DDF says Get/Replace")
        try:
            written = session.send([replace(uri, value, "chr")])[0]
            assert written.status == "200", (
                f"Replace {uri} with a {len(value)}-byte large object answered {show(written)}")
            back = session.get(uri)
            chunks = [
                item for m in session.messages if m.direction == "device->lab"
                for res in m.msg.results() for item in res.items if item.more_data
            ]
        finally:
            session.send([replace(uri, original.data, "chr")])
    assert back.status == "200", f"Get {uri} of the large object answered {show(back)}"
    assert back.data == value, (
        f"Get {uri} returned {len(back.data or '')} bytes, the lab wrote {len(value)}")
    assert chunks, (
        f"the {len(value)}-byte value came back without MoreData with the lab's MaxMsgSize "
        f"{CHUNKED}")


def test_session_abort(dm: DmDevice) -> None:
    """After Alert 1223 the device sends nothing more in the session; the next one works."""
    with dm.fresh() as session:
        session.get("./DevInfo/DevId")
        session.abort()
    after = dm.open()
    try:
        assert after.get("./DevInfo/DevId").status == "200", "the session after the abort failed"
    finally:
        close_quietly(after)
    messages = session.messages
    aborts = [i for i, m in enumerate(messages)
              if m.direction == "lab->device" and m.msg.alerts("1223")]
    if not aborts:
        raise RuntimeError("the lab's Alert 1223 is not in the session's messages")
    later = [m for m in messages[aborts[0] + 1:] if m.direction == "device->lab"]
    assert not later, (
        f"the device sent {len(later)} more message(s) in session {session.session_id} after "
        "the lab's Alert 1223")
