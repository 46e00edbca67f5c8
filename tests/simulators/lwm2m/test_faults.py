"""The fault registry and the byte-level faults, checked against the suite's own codecs."""

from __future__ import annotations

import pytest

from conformance.errors import ConfigurationError, ProtocolError
from conformance.lwm2m import codecs
from conformance.lwm2m.model import ContentFormat, Path
from conformance.lwm2m.objects import ObjectRegistry
from conformance.simulators.lwm2m_faults import (
    FAULTS,
    Faults,
    break_senml_cbor,
    mangle_tlv_length,
    registry_lines,
)

REGISTRY = ObjectRegistry.builtin()
REQUIRED = {
    "no-host-object": "ATT-DMIG-3.2.2", "host-object-writable": "ATT-DMIG-3.2.2",
    "wrong-host-values": "ATT-DMIG-3.2.2", "host-object-not-in-links": "ATT-DMIG-3.2.2",
    "tlv-length-bug": "ATT-DMIG-3.2", "senml-cbor-broken": "ATT-DMIG-3.2",
    "wrong-device-values": "ATT-DMIG-3.2", "no-registration-update": "ATT-DMIG-3.2",
    "ignores-update-trigger": "ATT-DMIG-3.2", "ignores-observe-cancel": "ATT-DMIG-3.2",
    "fota-wrong-state": "ATT-DMIG-4.3", "fota-no-reregistration": "ATT-DMIG-4.3",
    "fota-accepts-corrupt": "ATT-DMIG-4.3", "fota-version-unchanged": "ATT-DMIG-4.3",
    "no-post-update-update": "ATT-DMIG-4.4", "stale-host-values": "ATT-DMIG-4.4",
    "renewal-at-update": "ATT-DMIG-4.4", "renewal-at-fota": "ATT-DMIG-4.3",
    "no-deregister-on-factory-reset": "ATT-DMIG-3.2", "update-trigger-unanswered": "ATT-DMIG-3.2",
    "empty-package-uri-ignored": "ATT-DMIG-4.3",
    "host-values-lost-on-reboot": "ATT-DMIG-3.2.2",
    "host-values-lost-on-factory-reset": "ATT-DMIG-3.2.2",
    "host-values-wiped-by-fota": "ATT-DMIG-3.2.2", "set-host-values-not-reported": "ATT-DMIG-4.4",
}


def test_registry_has_every_required_fault_with_its_requirement() -> None:
    for name, requirement in REQUIRED.items():
        assert FAULTS[name].requirement == requirement
        assert FAULTS[name].description
    assert len(registry_lines()) == len(FAULTS)


def test_unknown_fault_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="no-such-fault"):
        Faults(["no-such-fault"])


def test_membership_and_typo_guard() -> None:
    faults = Faults(["tlv-length-bug"])
    assert "tlv-length-bug" in faults
    assert "senml-cbor-broken" not in faults
    with pytest.raises(KeyError):
        _ = "tlv-lenght-bug" in faults
    assert list(faults) == ["tlv-length-bug"]
    assert not Faults()


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/10241/0/5905", {"/10241/0/5905": "ACME Inc"}),  # 3-bit length field
        ("/10241/0/5905", {"/10241/0/5905": "A much longer manufacturer name"}),  # 8-bit
        ("/3/0/9", {"/3/0/9": 87}),
        ("/10241/0", {"/10241/0/5905": "ACME", "/10241/0/5906": "Arrow21"}),
        ("/3/0/0", {"/3/0/0": "x" * 300}),  # 16-bit length
        ("/3/0/0", {"/3/0/0": "1234567"}),  # length 7: needs the switch to an 8-bit field
    ],
)
def test_tlv_length_bug_makes_valid_tlv_undecodable(path: str, content: dict[str, object]) -> None:
    target = Path.parse(path)
    typed = {Path.parse(k): v for k, v in content.items()}
    good = codecs.encode(ContentFormat.TLV, target, typed, REGISTRY)  # type: ignore[arg-type]
    assert codecs.decode(ContentFormat.TLV, target, good, REGISTRY) == typed
    bad = mangle_tlv_length(good)
    assert bad != good
    with pytest.raises(ProtocolError):
        codecs.decode(ContentFormat.TLV, target, bad, REGISTRY)


def test_senml_cbor_broken_is_undecodable() -> None:
    target = Path.parse("/10241/0")
    content = {Path.parse("/10241/0/5905"): "ACME Inc"}
    good = codecs.encode(ContentFormat.SENML_CBOR, target, content, REGISTRY)  # type: ignore[arg-type]
    assert codecs.decode(ContentFormat.SENML_CBOR, target, good, REGISTRY) == content
    with pytest.raises(ProtocolError):
        codecs.decode(ContentFormat.SENML_CBOR, target, break_senml_cbor(good), REGISTRY)
