"""ATT-DMIG-3.2 LwM2M client conformance: security modes NoSec and DTLS 1.2 PSK (guide §3.2;
TS 1.1 §7.1, Security object /0/x/2).

Checks:
- The device registers with the security the declaration says: over DTLS with the declared PSK
  identity when ``lwm2m.security`` is ``psk`` (the lab's DTLS endpoint accepts only the
  declared identity and key), over plain CoAP when it is ``nosec``.
- The lab's requests reach the device over that same channel: a Read of /3/0/0 over the
  registration's channel answers 2.05.

Interpretation (where the wrong-PSK check lives): "a client with a wrong PSK must not
register" is first the *lab's* enforcement of DTLS PSK, proven in the lab's own tests
(tests/lwm2m/lab/test_dtls.py: a wrong key, an unknown identity, and libcoap's
coap-client-openssl with a wrong key do not register), so every PASS here rests on a lab that
refuses wrong keys. The device's side, a client provisioned with credentials the lab refuses
offers them and stays unregistered, is ETS int-1 in test_ets_bootstrap.py. RPK and X.509
cannot be declared: the lab's DTLS library (tinydtls through DTLSSocket) wires PSK only (see
docs/catalog-lwm2m.md, ETS int-2).
"""

from __future__ import annotations

import pytest

from conformance.dut.lwm2m import Lwm2mDevice
from conformance.lwm2m.lab import Registration

pytestmark = pytest.mark.requirement("ATT-DMIG-3.2")


def _security(device: Lwm2mDevice) -> str:
    return device.dut.lwm2m.security if device.dut.lwm2m else "nosec"


@pytest.mark.ets("LightweightM2M-1.0-int-401")
def test_registered_with_declared_security(device: Lwm2mDevice,
                                           registered: Registration) -> None:
    """The registration came over DTLS PSK with the declared identity, or NoSec as declared."""
    security = _security(device)
    if security == "psk":
        assert registered.secure, (
            f"{device.ep} registered over plain CoAP from {registered.peer}; the declaration "
            "says DTLS PSK (lwm2m.security: psk)")
        declared = device.dut.lwm2m.psk_identity if device.dut.lwm2m else None
        assert registered.psk_identity == declared, (
            f"the DTLS session uses PSK identity {registered.psk_identity!r}, expected "
            f"{declared!r} (declaration lwm2m.psk_identity)")
    else:
        assert not registered.secure, (
            f"{device.ep} registered over DTLS; the declaration says NoSec")


def test_requests_over_registration_channel(device: Lwm2mDevice,
                                            registered: Registration) -> None:
    """A lab request over the registration's channel (DTLS session or UDP) is answered."""
    response = device.read("/3/0/0", fmt=device.value_format())
    channel = "DTLS session" if registered.secure else "UDP"
    assert response.code == "2.05", (
        f"Read /3/0/0 over the registration's {channel} answered {response.code}")
