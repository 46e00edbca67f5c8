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
