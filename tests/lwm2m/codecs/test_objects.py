"""The object model: shipped DDFs, the DDF loader's errors, the registry."""

from __future__ import annotations

from importlib import resources

import pytest

from conformance.errors import ProtocolError
from conformance.lwm2m.model import Path, ResourceType
from conformance.lwm2m.objects import ObjectRegistry, load_ddf

SHIPPED = {0: "urn:oma:lwm2m:oma:0:1.1", 1: "urn:oma:lwm2m:oma:1:1.1",
           3: "urn:oma:lwm2m:oma:3:1.1", 4: "urn:oma:lwm2m:oma:4:1.2",
           5: "urn:oma:lwm2m:oma:5:1.1", 16: "urn:oma:lwm2m:oma:16",
           10241: "urn:oma:lwm2m:x:10241"}


def test_every_shipped_file_loads_on_its_own() -> None:
    folder = resources.files("conformance.lwm2m") / "ddf"
    files = [e for e in folder.iterdir() if e.name.endswith(".xml")]
    assert len(files) == len(SHIPPED)
    seen = set()
    for entry in files:
        (obj,) = load_ddf(entry.read_bytes(), source=entry.name)
        assert obj.urn == SHIPPED[obj.id]
        assert obj.resources, entry.name
        seen.add(obj.id)
    assert seen == set(SHIPPED)


def test_builtin_registry_has_the_shipped_objects() -> None:
    registry = ObjectRegistry.builtin()
    assert [o.id for o in registry.objects()] == sorted(SHIPPED)
    assert registry.get(2) is None


def test_host_device_info_matches_the_att_guide() -> None:
    obj = ObjectRegistry.builtin().get(10241)
    assert obj is not None
    assert (obj.name, obj.multiple, obj.mandatory) == ("HostDeviceInfo", True, True)
    assert sorted(obj.resources) == [5905, 5906, 5907, 5908]
    names = [obj.resources[i].name for i in (5905, 5906, 5907, 5908)]
    assert names == ["Host Device Manufacturer", "Host Device Model Number",
                     "Host Device Unique ID", "Host Device Software Version"]
    for res in obj.resources.values():
        assert res.operations == "R" and res.readable and not res.writable
        assert not res.executable and not res.multiple and not res.mandatory
        assert res.type is ResourceType.STRING


@pytest.mark.parametrize(
    ("path", "name", "ops", "multiple", "rtype"),
    [
        ("/0/0/0", "LWM2M  Server URI", "", False, ResourceType.STRING),
        ("/0/0/5", "Secret Key", "", False, ResourceType.OPAQUE),
        ("/1/0/1", "Lifetime", "RW", False, ResourceType.UNSIGNED),
        ("/1/0/8", "Registration Update Trigger", "E", False, ResourceType.NONE),
        ("/3/0/3", "Firmware Version", "R", False, ResourceType.STRING),
        ("/3/0/4", "Reboot", "E", False, ResourceType.NONE),
        ("/3/0/6", "Available Power Sources", "R", True, ResourceType.INTEGER),
        ("/3/0/13", "Current Time", "RW", False, ResourceType.TIME),
        ("/3/0/22", "ExtDevInfo", "R", True, ResourceType.OBJLNK),
        ("/4/0/4", "IP Addresses", "R", True, ResourceType.STRING),
        ("/5/0/0", "Package", "W", False, ResourceType.OPAQUE),
        ("/5/0/1", "Package URI", "RW", False, ResourceType.STRING),
        ("/5/0/3", "State", "R", False, ResourceType.INTEGER),
        ("/5/0/8", "Firmware Update Protocol Support", "R", True, ResourceType.INTEGER),
    ],
)
def test_resource_tables_follow_the_oma_registry(path: str, name: str, ops: str,
                                                  multiple: bool, rtype: ResourceType) -> None:
    res = ObjectRegistry.builtin().resource(Path.parse(path))
    assert res is not None
    assert (res.name, res.operations, res.multiple, res.type) == (name, ops, multiple, rtype)


def test_resource_lookup_needs_a_resource_path() -> None:
    registry = ObjectRegistry.builtin()
    assert registry.resource(Path(3, 0)) is None
    assert registry.resource(Path(3, 0, 999)) is None
    assert registry.resource(Path(9999, 0, 0)) is None
    assert registry.resource(Path(3, 0, 6, 1)) is registry.resource(Path(3, 0, 6))


def test_builtin_registries_are_independent() -> None:
    first = ObjectRegistry.builtin()
    (vendor,) = load_ddf(_doc(oid="3"), source="vendor")
    first.add(vendor)
    assert first.get(3) is vendor
    assert ObjectRegistry.builtin().get(3) is not vendor


def test_add_files_loads_vendor_definitions(tmp_path: object) -> None:
    import pathlib

    assert isinstance(tmp_path, pathlib.Path)
    file = tmp_path / "vendor.xml"
    file.write_bytes(_doc(oid="33000"))
    registry = ObjectRegistry.builtin()
    added = registry.add_files([file])
    assert [o.id for o in added] == [33000]
    assert registry.get(33000) is added[0] and added[0].source == str(file)
    with pytest.raises(ProtocolError, match="cannot read") as info:
        registry.add_files([tmp_path / "missing.xml"])
    assert info.value.where == str(tmp_path / "missing.xml")


def _doc(oid: str = "33000", ops: str = "R", rtype: str = "String", mult: str = "Single",
         item_id: str = "0", root: str = "LWM2M", extra: str = "") -> bytes:
    return (
        f"<{root}>\n<Object ObjectType=\"MODefinition\">\n<Name>Vendor</Name>\n"
        f"<ObjectID>{oid}</ObjectID>\n<ObjectURN>urn:oma:lwm2m:x:{oid}</ObjectURN>\n"
        "<MultipleInstances>Single</MultipleInstances>\n<Mandatory>Optional</Mandatory>\n"
        f"<Resources>\n<Item ID=\"{item_id}\">\n<Name>Thing</Name>\n"
        f"<Operations>{ops}</Operations>\n<MultipleInstances>{mult}</MultipleInstances>\n"
        f"<Mandatory>Mandatory</Mandatory>\n<Type>{rtype}</Type>\n</Item>{extra}\n</Resources>\n"
        f"</Object>\n</{root}>"
    ).encode()


def test_vendor_document_defaults() -> None:
    (obj,) = load_ddf(_doc())
    assert (obj.version, obj.lwm2m_version) == ("1.0", "1.0")
    assert obj.resources[0].mandatory and obj.resources[0].range == ""


@pytest.mark.parametrize(
    ("doc", "message", "line"),
    [
        (_doc(root="Foo"), "not <LWM2M>", "line 1"),
        (_doc(oid="abc"), "ObjectID 'abc'", "line 2"),
        (_doc(oid="70000"), "ObjectID '70000'", "line 2"),
        (_doc(ops="RX"), "Operations 'RX'", "line 9"),
        (_doc(rtype="Decimal"), "unknown Type 'decimal'", "line 9"),
        (_doc(mult="Many"), "MultipleInstances is 'Many'", "line 9"),
        (_doc(item_id=""), "Item ID ''", "line 9"),
        (_doc(extra='<Item ID="0"><Name>x</Name><Operations>R</Operations><MultipleInstances>'
              "Single</MultipleInstances><Mandatory>Optional</Mandatory></Item>"),
         "resource 0 defined twice", "line 15"),
        (b"<LWM2M></LWM2M>", "no <Object>", "line 1"),
        (b"<LWM2M><Object", "not well-formed", "line 1"),
    ],
)
def test_bad_ddf_names_file_element_and_line(doc: bytes, message: str, line: str) -> None:
    with pytest.raises(ProtocolError, match=message) as info:
        load_ddf(doc, source="vendor.xml")
    assert "vendor.xml" in info.value.message
    assert info.value.where == line


def test_missing_element_is_named() -> None:
    doc = _doc().replace(b"<Operations>R</Operations>\n", b"")
    with pytest.raises(ProtocolError, match="lacks <Operations>") as info:
        load_ddf(doc, source="v.xml")
    assert "object 33000 resource 0" in info.value.message


def test_entity_declarations_are_refused() -> None:
    doc = b'<!DOCTYPE x [<!ENTITY a "b">]>' + _doc()
    with pytest.raises(ProtocolError, match="DOCTYPE"):
        load_ddf(doc)


@pytest.mark.parametrize("text, expected", [
    ("/3", Path(3)), ("/3/0/", Path(3, 0)), ("/3/0/1/2", Path(3, 0, 1, 2)),
    ("/65535/1", Path(65535, 1)), ("/00001", Path(1)),
])
def test_a_path_parsed_again_is_the_same_path(text: str, expected: Path) -> None:
    """Short paths are parsed once (issue 19: every Register's links); a repeat gives an
    equal, immutable Path."""
    assert Path.parse(text) == expected and Path.parse(text) == expected


@pytest.mark.parametrize("text, message", [
    ("/rd", "not an LwM2M path: '/rd'"), ("/65536", "id above 65535 in '/65536'"),
    ("/²", "not an LwM2M path: '/²'"), ("/1" + "/1" * 20, "not an LwM2M path"),
])
def test_a_bad_path_is_refused_each_time(text: str, message: str) -> None:
    for _ in range(2):  # the second time from the cache of short paths
        with pytest.raises(ProtocolError, match=message.replace("?", r"\?")) as err:
            Path.parse(text)
        assert err.value.protocol == "lwm2m-path"
