"""The built-in declarations load: `conformance run` with no --dut depends on them."""

from conformance.declaration import builtin_declaration


def test_builtin_omadm_declaration_loads() -> None:
    dut = builtin_declaration("omadm")
    assert dut.protocol == "omadm"
    assert dut.omadm is not None and dut.omadm.auth in ("md5", "hmac")


def test_builtin_lwm2m_declaration_loads() -> None:
    dut = builtin_declaration("lwm2m")
    assert dut.protocol == "lwm2m"
    assert dut.lwm2m is not None and dut.lwm2m.endpoint


def test_builtin_csv_host_device_supplies_a_clean_csv_file() -> None:
    """The third built-in: no host identity reporting, its CSV file beside it, no finding."""
    from conformance.hostcsv import check_file

    dut = builtin_declaration("csv-host-device")
    assert not dut.features.host_identity_reporting
    assert dut.csv.files and all(path.is_file() for path in dut.csv.files)
    assert [str(f) for path in dut.csv.files for f in check_file(path, dut.host)] == []
