"""Initial instances of the reference device's objects, from the declaration and device state.

Values the declaration does not cover (battery, memory, power sources …) are plausible
constants of a mains-and-battery powered module; what a case checks against the declaration
(/3/0/0-3, /10241/x/5905-5908) comes from it, except where a fault says otherwise.
"""

from __future__ import annotations

from conformance.declaration import Declaration
from conformance.lwm2m.model import Path
from conformance.simulators.lwm2m_faults import Faults
from conformance.simulators.lwm2m_state import DeviceState
from conformance.simulators.lwm2m_store import Instance, ObjectStore

SECURITY, SERVER, DEVICE, CONNECTIVITY, FIRMWARE, HOST = 0, 1, 3, 4, 5, 10241
PORTFOLIO = 16  # creatable: a server may Create and Delete its instances
WRONG_MANUFACTURER = "Not The Declared Manufacturer"

# LwM2M Security Mode (/0/x/2)
MODE_PSK, MODE_NOSEC = 0, 3


def security_instance(
    uri: str, *, bootstrap: bool, ssid: int, identity: bytes = b"", key: bytes = b""
) -> Instance:
    return {
        0: uri,
        1: bootstrap,
        2: MODE_PSK if uri.startswith("coaps:") else MODE_NOSEC,
        3: identity,
        4: b"",
        5: key,
        10: ssid,
        11: 0,
    }


def server_instance(*, ssid: int, lifetime: int, binding: str, bootstrap_trigger: bool) -> Instance:
    inst: Instance = {
        0: ssid,
        1: lifetime,
        2: 0,  # default pmin
        3: 0,  # default pmax: 0 = none
        4: None,  # Disable
        5: 86400,  # Disable Timeout (TS default)
        6: False,
        7: binding,
        8: None,  # Registration Update Trigger
        23: False,  # Mute Send: false, Send is on (TS 1.1: absent or true mutes it)
    }
    if bootstrap_trigger:
        inst[9] = None  # Bootstrap-Request Trigger
    return inst


def server_defaults() -> Instance:
    """The optional Server object resources a bootstrapped instance starts with."""
    return {2: 0, 3: 0, 5: 86400}  # default pmin, default pmax (0: none), Disable Timeout


def device_instance(declaration: Declaration, state: DeviceState, faults: Faults) -> Instance:
    device = declaration.device
    manufacturer = device.manufacturer
    if "wrong-device-values" in faults:
        manufacturer = WRONG_MANUFACTURER
    binding = declaration.lwm2m.binding if declaration.lwm2m else "U"
    return {
        0: manufacturer,
        1: device.model,
        2: device.serial_number or device.imei,
        3: state.firmware_version,
        4: None,  # Reboot
        5: None,  # Factory Reset
        6: {0: 1, 1: 5},  # power sources: internal battery, USB
        7: {0: 3800, 1: 5000},  # mV
        8: {0: 125, 1: 900},  # mA
        9: 150 if "battery-level-out-of-range" in faults else 87,  # battery %
        10: 1024,  # KiB free
        11: {0: 4} if "error-code-not-reset" in faults else {0: 0},  # 4: low signal; 0: none
        12: None,  # Reset Error Code
        13: 0,  # Current Time: read live (see the device's dynamic hook)
        14: "+00:00",
        15: "Etc/UTC",
        16: binding,
        17: device.device_type,
        18: device.hardware_version,
        19: device.software_version,
        20: 0,  # battery status: normal
        21: 4096,  # KiB total
    }


def host_values(state: DeviceState, faults: Faults) -> Instance:
    manufacturer = state.host_manufacturer
    if "wrong-host-values" in faults:
        manufacturer = manufacturer + " (wrong)"
    return {
        5905: manufacturer,
        5906: state.host_model,
        5907: state.host_unique_id,
        5908: state.host_software_version,
    }


def connectivity_instance(faults: Faults) -> Instance:
    """/4/0 of an LTE-M module on an AT&T network (MCC 310, MNC 410), lab loopback address."""
    bearer = 99 if "conn-mon-bearer-out-of-range" in faults else 6  # 6: LTE-FDD
    return {
        0: bearer,
        1: {0: 6, 1: 7},  # available: LTE-FDD, NB-IoT
        2: -85,  # dBm
        3: 60,
        4: {0: "127.0.0.1"},
        5: {0: "127.0.0.1"},  # router
        6: 12,  # link utilisation, %
        7: {0: "m2m.com.attz"},
        8: 20971521,
        9: 410,
        10: 310,
        11: 13,  # SNR, dB
        12: 2,
    }


def populate(store: ObjectStore, declaration: Declaration, state: DeviceState,
             faults: Faults, *, host_instances: int = 1) -> None:
    """Objects 3, 4, 16, 10241 (0, 1 and 5 come from the accounts and the firmware machine);
    Portfolio /16 starts without instances, for servers to create them."""
    store.set_instance(DEVICE, 0, device_instance(declaration, state, faults))
    store.set_instance(CONNECTIVITY, 0, connectivity_instance(faults))
    store.add_object(PORTFOLIO)
    if "no-host-object" not in faults:
        for iid in range(host_instances):  # one host a module reports; more when asked
            store.set_instance(HOST, iid, host_values(state, faults))
    if "host-object-writable" in faults:
        store.writable_objects.add(HOST)


def refresh_host(store: ObjectStore, state: DeviceState, faults: Faults,
                 *, keep_software_version: bool = False) -> None:
    """Put the host identity of ``state`` into every /10241 instance (after an update)."""
    values = host_values(state, faults)
    for iid in store.instance_ids(HOST):
        for rid, value in values.items():
            if rid == 5908 and keep_software_version:
                continue
            assert not isinstance(value, dict) and value is not None
            if store.get(Path(HOST, iid, rid)) != value:
                store.set(Path(HOST, iid, rid), value)
