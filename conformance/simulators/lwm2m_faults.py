"""Faults the reference LwM2M device can inject, each breaking exactly one requirement.

The fault matrix (issue 6) starts the device with ``--fault NAME`` and expects exactly the
cases of ``requirement`` to fail; a fault therefore changes one behaviour and nothing else.
The device modules ask :class:`Faults` (``"tlv-length-bug" in faults``) at the one place where
the behaviour lives, so ``grep`` for a fault name finds its whole implementation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from conformance.errors import ConfigurationError


@dataclass(frozen=True)
class Fault:
    name: str
    requirement: str
    description: str
    # The OMA ETS tests whose cases this fault must FAIL (and the only cases it may FAIL).
    ets: tuple[str, ...] = ()
    # A pytest -k expression: the cases the CI fault matrix runs this fault against (empty:
    # its ETS cases, else the whole catalog). MATRIX_SCOPE=catalog runs the whole catalog.
    cases: str = ""


_REGISTRY: tuple[Fault, ...] = (
    Fault(
        "no-host-object",
        "ATT-DMIG-3.2.2",
        "object 10241 does not exist (not registered, Read answers 4.04)",
        cases=("test_discover_lists_resources or test_every_instance_consistent or "
               "test_object_in_registration_links or test_read_declared_value or "
               "test_write_refused"),
    ),
    Fault(
        "host-object-writable",
        "ATT-DMIG-3.2.2",
        "Write to /10241 resources is accepted (2.04) and changes the value",
        cases="test_write_refused",
    ),
    Fault(
        "wrong-host-values",
        "ATT-DMIG-3.2.2",
        "/10241/0/5905 Host Device Manufacturer differs from the declaration",
        cases="test_every_instance_consistent or test_read_declared_value",
    ),
    Fault(
        "host-object-not-in-links",
        "ATT-DMIG-3.2.2",
        "object 10241 exists but is left out of the registration's object links",
        cases="test_object_in_registration_links",
    ),
    Fault(
        "host-values-lost-on-reboot",
        "ATT-DMIG-3.2.2",
        "after a reboot /10241/x/5905-5908 are empty (the module does not keep them)",
        cases="test_host_values_after_reboot",
    ),
    Fault(
        "host-values-lost-on-factory-reset",
        "ATT-DMIG-3.2.2",
        "after a factory reset /10241/x/5905-5908 stay empty (the host's rewrite is lost)",
        cases=("test_every_instance_consistent or test_host_values_after_factory_reset or "
               "test_read_declared_value"),
    ),
    Fault(
        "host-values-wiped-by-fota",
        "ATT-DMIG-3.2.2",
        "a successful FOTA update leaves /10241/x/5905-5908 empty",
        cases=("test_every_instance_consistent or test_host_values_after_fota or "
               "test_read_declared_value"),
    ),
    Fault(
        "tlv-length-bug",
        "ATT-DMIG-3.2",
        "TLV responses carry a length field one larger than the value",
        cases=("test_device_value or test_mandatory_resources_read or "
               "test_read_instance_in_format"),
    ),
    Fault(
        "senml-cbor-broken",
        "ATT-DMIG-3.2",
        "SenML CBOR responses are truncated by one byte (not valid CBOR)",
        cases=("test_device_value or test_mandatory_resources_read or "
               "test_read_instance_in_format"),
    ),
    Fault(
        "wrong-device-values", "ATT-DMIG-3.2", "/3/0/0 Manufacturer differs from the declaration",
        cases="test_device_value",
    ),
    Fault(
        "no-registration-update",
        "ATT-DMIG-3.2",
        "never sends a registration Update (neither on lifetime nor on trigger)",
        cases="test_update_on_lifetime or test_update_on_trigger",
    ),
    Fault(
        "ignores-update-trigger",
        "ATT-DMIG-3.2",
        "Execute /1/0/8 Registration Update Trigger answers 2.04 but does nothing",
        cases="test_update_on_trigger",
    ),
    Fault(
        "no-deregister-on-factory-reset",
        "ATT-DMIG-3.2",
        "a factory reset drops the registration without a De-register (TS 1.1 §6.2.3)",
        cases="test_deregister_on_factory_reset",
    ),
    Fault(
        "update-trigger-unanswered",
        "ATT-DMIG-3.2",
        "Execute /1/x/8 Registration Update Trigger is acknowledged but never answered",
        cases="test_update_on_trigger",
    ),
    Fault(
        "ignores-observe-cancel",
        "ATT-DMIG-3.2",
        "keeps notifying after an observation is cancelled (RST or GET Observe=1)",
        cases="test_cancel_stops_notifications",
    ),
    Fault(
        "empty-package-uri-ignored",
        "ATT-DMIG-4.3",
        "an empty /5/0/1 Package URI leaves State 1 or 2 as it is (TS 1.1 E.6: back to 0)",
        cases="test_empty_package_uri_returns_to_idle",
    ),
    Fault(
        "fota-wrong-state",
        "ATT-DMIG-4.3",
        "after a completed download /5/0/3 State stays 1 Downloading instead of 2",
        cases=("test_download_reaches_downloaded or test_empty_package_uri_returns_to_idle or "
               "test_update_success"),
    ),
    Fault(
        "fota-no-reregistration",
        "ATT-DMIG-4.3",
        "after a firmware update the device neither registers again nor updates",
        cases="test_update_success",
    ),
    Fault(
        "renewal-at-fota",
        "ATT-DMIG-4.3",
        "after a firmware update the device neither registers again nor updates, but its "
        "lifetime renewal falls due at that moment (unless an Update the server triggered with "
        "/1/x/8 restarted its renewal timer less than a renewal period ago)",
        cases="test_update_success",
    ),
    Fault(
        "fota-accepts-corrupt",
        "ATT-DMIG-4.3",
        "skips the integrity check: a corrupted image is installed and reported success",
        cases="test_error_result",
    ),
    Fault(
        "fota-version-unchanged",
        "ATT-DMIG-4.3",
        "after a successful update /3/0/3 still reports the old firmware version",
        cases="test_update_success",
    ),
    Fault(
        "no-post-update-update",
        "ATT-DMIG-4.4",
        "after a sideload update the device does not update its registration",
        cases="test_registration_update_within_window",
    ),
    Fault(
        "renewal-at-update",
        "ATT-DMIG-4.4",
        "after a sideload update or new host values the device does not update its "
        "registration, but its lifetime renewal falls due at that moment (unless an Update the "
        "server triggered with /1/x/8 restarted its renewal timer less than a renewal period ago)",
        cases="test_registration_update_within_window or test_host_update_reported",
    ),
    Fault(
        "set-host-values-not-reported",
        "ATT-DMIG-4.4",
        "after the host writes new host values the device does not update its registration",
        cases="test_host_update_reported",
    ),
    Fault(
        "stale-host-values",
        "ATT-DMIG-4.4",
        "after a sideload update /10241/0/5908 keeps the old host software version",
        cases="test_new_host_software_version_reported",
    ),
    # -- ETS bootstrap, registration and security (issue 17: int-0…9, 101…109, 401…) --
    Fault(
        "keeps-factory-psk",
        "ATT-DMIG-3.2",
        "after a bootstrap the client connects with its factory PSK, not the identity and key "
        "the bootstrap server wrote to /0/x/3 and /0/x/5",
        ets=("LightweightM2M-1.1-int-1",),
    ),
    Fault(
        "bootstrap-delete-ignored",
        "ATT-DMIG-3.2",
        "Bootstrap-Delete answers 2.02 Deleted but the Security and Server instances stay",
        ets=("LightweightM2M-1.1-int-4",),
    ),
    Fault(
        "no-bootstrap-fallback",
        "ATT-DMIG-3.2",
        "a DM server that never answers is retried for ever: the client does not fall back "
        "to the bootstrap server",
        ets=("LightweightM2M-1.1-int-7",),
    ),
    Fault(
        "ignores-bootstrap-trigger",
        "ATT-DMIG-3.2",
        "Execute /1/x/9 Bootstrap-Request Trigger answers 2.04 but the client never asks the "
        "bootstrap server",
        ets=("LightweightM2M-1.1-int-5",),
    ),
    Fault(
        "bootstraps-with-account",
        "ATT-DMIG-3.2",
        "a reboot sends a Bootstrap-Request although the client holds a usable DM server account",
        ets=("LightweightM2M-1.1-int-6",),
    ),
    Fault(
        "bootstrap-read-refused",
        "ATT-DMIG-3.2",
        "Bootstrap-Read (TS 1.1 §5.2.7) answers 4.05 Method Not Allowed",
        ets=("LightweightM2M-1.1-int-8",),
    ),
    Fault(
        "no-register-after-rejected-update",
        "ATT-DMIG-3.2",
        "an Update the server answers 4.04 (it forgot the registration) is dropped: the client "
        "does not register again",
        ets=("LightweightM2M-1.1-int-105",),
    ),
    Fault(
        "lifetime-update-omits-lt",
        "ATT-DMIG-3.2",
        "the Update that follows a Lifetime write to /1/x/1 leaves out lt: the server is never "
        "told the new lifetime",
        cases="test_update_on_lifetime or test_extend_lifetime",
    ),
    Fault(
        "lifetime-increase-not-announced",
        "ATT-DMIG-3.2",
        "a longer lifetime written to /1/x/1 is applied silently: no Update carries it",
        ets=("LightweightM2M-1.1-int-107",),
    ),
    # -- Information Reporting (ETS 1.0 int-301, ETS 1.1 int-304…311): observe attributes,
    #    Observe-Composite, Send
    Fault("ignores-reset-cancel", "ATT-DMIG-3.2",
          "keeps notifying after an observation is cancelled by RST (honours Observe=1)",
          ets=("LightweightM2M-1.0-int-302",)),
    Fault("ignores-observe-1-cancel", "ATT-DMIG-3.2",
          "keeps notifying after a GET with Observe=1 (honours an RST cancel)",
          ets=("LightweightM2M-1.0-int-303",)),
    Fault("cancel-answer-observes", "ATT-DMIG-3.2",
          "answers a cancelling GET or FETCH (Observe=1) as a notification, with an Observe "
          "option (RFC 7641 §3.6: it is processed as a plain GET)",
          ets=("LightweightM2M-1.0-int-303", "LightweightM2M-1.1-int-305")),
    Fault("ignores-step", "ATT-DMIG-3.2",
          "st (step) is ignored: every change of an observed number is notified",
          ets=("LightweightM2M-1.0-int-301",)),
    Fault("ignores-greater-than", "ATT-DMIG-3.2",
          "gt (greater than) is ignored: every change of an observed number is notified",
          ets=("LightweightM2M-1.0-int-301",)),
    Fault("ignores-less-than", "ATT-DMIG-3.2",
          "lt (less than) is ignored: every change of an observed number is notified",
          ets=("LightweightM2M-1.0-int-301",)),
    Fault("no-instance-observe", "ATT-DMIG-3.2",
          "Observe of an object instance answers 2.05 without observing it (no Observe option)",
          ets=("LightweightM2M-1.0-int-301",)),
    Fault("composite-notify-partial", "ATT-DMIG-3.2",
          "Observe-Composite notifications carry only the first path's values",
          ets=("LightweightM2M-1.1-int-304",)),
    Fault("ignores-composite-cancel", "ATT-DMIG-3.2",
          "keeps notifying an Observe-Composite after its cancel (FETCH Observe=1)",
          ets=("LightweightM2M-1.1-int-305",)),
    Fault("composite-attributes-frozen", "ATT-DMIG-3.2",
          "an Observe-Composite keeps the periods it started with: Write-Attributes later "
          "changes nothing", ets=("LightweightM2M-1.1-int-310",)),
    Fault("composite-notify-ignores-created", "ATT-DMIG-3.2",
          "Observe-Composite notifications keep the instance list of the Observe: an instance "
          "created since under an observed path never appears",
          ets=("LightweightM2M-1.1-int-308",)),
    Fault("composite-notify-keeps-deleted", "ATT-DMIG-3.2",
          "Observe-Composite notifications keep a deleted instance with its values of the "
          "Observe", ets=("LightweightM2M-1.1-int-309",)),
    Fault("send-drops-objects", "ATT-DMIG-3.2",
          "a Send of a whole object (/1, /3) leaves that object's values out",
          ets=("LightweightM2M-1.1-int-306",)),
    Fault("ignores-mute-send", "ATT-DMIG-3.2",
          "Sends although /1/x/23 Mute Send is true",
          ets=("LightweightM2M-1.1-int-307",)),
    Fault("send-whole-instance", "ATT-DMIG-3.2",
          "a Send of resources carries their whole object instances",
          ets=("LightweightM2M-1.1-int-311",)),
    # -- Server object (ETS int-551…566) and Device object (int-651…685) ------------------
    Fault(
        "ssid-write-acknowledged",
        "ATT-DMIG-3.2",
        "a Write of the read-only /1/x/0 Short Server ID with the value it has answers 2.04 "
        "(a no-op taken for success; a new value is refused 4.05)",
        ets=("LightweightM2M-1.0-int-551",),
    ),
    Fault(
        "reboot-stays-offline",
        "ATT-DMIG-3.2",
        "after a reboot through the controller it never registers again",
        cases="test_registers_again_after_reboot",
    ),
    Fault(
        "disable-without-deregister",
        "ATT-DMIG-3.2",
        "Execute /1/x/4 Disable goes quiet without a De-register (registers after the timeout)",
        cases="test_deregister_on_disable",
    ),
    Fault(
        "disable-timeout-ignored",
        "ATT-DMIG-3.2",
        "after Execute /1/x/4 Disable it registers again at once, ignoring /1/x/5",
        ets=("LightweightM2M-1.0-int-555",),
    ),
    Fault(
        "disabled-notifications-dropped",
        "ATT-DMIG-3.2",
        "notifications due while the account is disabled are dropped although /1/x/6 "
        "Notification Storing When Disabled or Offline is true",
        ets=("LightweightM2M-1.0-int-560",),
    ),
    Fault(
        "update-trigger-once",
        "ATT-DMIG-3.2",
        "Execute /1/x/8 answers 2.04 each time but brings an Update only the first time (to one "
        "Execute, that Update looks like one the client sent on its own account)",
        ets=("LightweightM2M-1.0-int-556", "LightweightM2M-1.0-int-104"),
    ),
    Fault(
        "update-trigger-registers-anew",
        "ATT-DMIG-3.2",
        "Execute /1/x/8 makes it send a new Register instead of an Update",
        # ETS 1.0.1 gives int-556 the scope and status of int-104: a fault fails both
        ets=("LightweightM2M-1.0-int-556", "LightweightM2M-1.0-int-104"),
    ),
    Fault(
        "current-time-write-ignored",
        "ATT-DMIG-3.2",
        "Write /3/0/13 Current Time answers 2.04 but the clock keeps its time",
        ets=("LightweightM2M-1.0-int-651",),
    ),
    Fault(
        "battery-level-out-of-range",
        "ATT-DMIG-3.2",
        "/3/0/9 Battery Level reads 150 (the object model allows 0-100)",
        ets=("LightweightM2M-1.0-int-651",),
    ),
    Fault(
        "firmware-version-needs-accept",
        "ATT-DMIG-3.2",
        "Read /3/0/3 without an Accept option answers 4.06 instead of its preferred format",
        ets=("LightweightM2M-1.0-int-652",),
    ),
    Fault(
        "reboot-execute-ignored",
        "ATT-DMIG-3.2",
        "Execute /3/0/4 Reboot answers 2.04 but the device does not reboot",
        # ETS 1.0.1 gives int-655 the scope and status of int-241: a fault fails both
        ets=("LightweightM2M-1.0-int-655", "LightweightM2M-1.0-int-241"),
    ),
    Fault(
        "factory-reset-execute-reboots-only",
        "ATT-DMIG-3.2",
        "Execute /3/0/5 Factory Reset only reboots: no bootstrap, the old account is kept",
        ets=("LightweightM2M-1.0-int-656",),
    ),
    Fault(
        "error-code-not-reset",
        "ATT-DMIG-3.2",
        "/3/0/11 reports error 4 and Execute /3/0/12 Reset Error Code leaves it",
        ets=("LightweightM2M-1.0-int-657",),
    ),
    Fault(
        "multiple-resource-observe-silent",
        "ATT-DMIG-3.2",
        "an observation of a multiple-instance resource (/3/0/7) never notifies",
        ets=("LightweightM2M-1.0-int-660",),
    ),
    Fault(
        "instance-observe-silent",
        "ATT-DMIG-3.2",
        "an observation of the Device object instance /3/0 never notifies",
        ets=("LightweightM2M-1.0-int-661",),
    ),
    Fault(
        "device-create-acknowledged",
        "ATT-DMIG-3.2",
        "Create on the single-instance Device object /3 answers 2.01 (nothing is created)",
        ets=("LightweightM2M-1.0-int-680",),
    ),
    Fault(
        "device-delete-acknowledged",
        "ATT-DMIG-3.2",
        "Delete /3/0 answers 2.02 Deleted (the instance stays)",
        ets=("LightweightM2M-1.0-int-685",),
    ),
    # --- Connectivity Monitoring (object 4) and Firmware Update (object 5) ETS tests
    Fault("conn-mon-bearer-out-of-range", "ATT-DMIG-3.2",
          "/4/0/0 Network Bearer reads 99, outside the object's 0..50",
          ets=("LightweightM2M-1.0-int-701",)),
    Fault("conn-mon-not-notified", "ATT-DMIG-3.2",
          "an Observe of /4 is answered but never notified, pmax or not",
          ets=("LightweightM2M-1.0-int-710",)),
    Fault("fota-wrong-delivery-method", "ATT-DMIG-4.3",
          "/5/0/9 Delivery Method says 0 (pull only) although pushed packages are taken",
          ets=("LightweightM2M-1.0-int-751",)),
    Fault("fota-null-package-not-reset", "ATT-DMIG-4.3",
          "a '\\0' written to /5/0/0 Package is taken for a package (Result 6), not a reset",
          ets=("LightweightM2M-1.0-int-755",)),
    Fault("fota-empty-uri-keeps-result", "ATT-DMIG-4.3",
          "an empty /5/0/1 Package URI gives State 0 but keeps the last Update Result",
          ets=("LightweightM2M-1.0-int-756",)),
    Fault("fota-state-not-notified", "ATT-DMIG-4.3",
          "an Observe of /5/0/3 State is answered but never notified (/5/0 is)",
          ets=("LightweightM2M-1.0-int-760",)),
    Fault("fota-coap-result-initial", "ATT-DMIG-4.3",
          "an update whose package came over CoAP ends with Update Result 0, not 1",
          ets=("LightweightM2M-1.0-int-770",)),
    Fault("fota-http-version-unchanged", "ATT-DMIG-4.3",
          "an update whose package came over HTTP(S) reports success, /3/0/3 unchanged",
          ets=("LightweightM2M-1.0-int-771",)),
    Fault("fota-update-without-package", "ATT-DMIG-4.3",
          "Execute /5/0/2 outside State 2 is refused (4.05) but sets Update Result 8",
          ets=("LightweightM2M-1.0-int-772",)),
    Fault("fota-storage-wrong-result", "ATT-DMIG-4.3",
          "a package too big for the storage gives Update Result 3, not 2",
          ets=("LightweightM2M-1.0-int-773",)),
    Fault("fota-ram-wrong-result", "ATT-DMIG-4.3",
          "running out of RAM gives Update Result 2 (the ETS 1.0 text's erratum), not 3",
          ets=("LightweightM2M-1.0-int-774",)),
    Fault("fota-connection-lost-wrong-result", "ATT-DMIG-4.3",
          "a download that breaks off gives Update Result 8, not 4",
          ets=("LightweightM2M-1.0-int-775",)),
    Fault("fota-integrity-wrong-result", "ATT-DMIG-4.3",
          "a package failing the integrity check gives Update Result 8, not 5",
          ets=("LightweightM2M-1.0-int-776",)),
    Fault("fota-unsupported-wrong-result", "ATT-DMIG-4.3",
          "a package that is no firmware image gives Update Result 5, not 6",
          ets=("LightweightM2M-1.0-int-777",)),
    Fault("fota-invalid-uri-wrong-result", "ATT-DMIG-4.3",
          "a Package URI where no package is gives Update Result 4, not 7",
          ets=("LightweightM2M-1.0-int-778",)),
    Fault("fota-failed-update-reported-success", "ATT-DMIG-4.3",
          "an update that fails to install reports Update Result 1 Success",
          ets=("LightweightM2M-1.0-int-779",)),
    # -- Device management and service enablement (ETS int-205…290, testcases/lwm2m/
    #    test_ets_dm.py and test_ets_composite.py; behaviour in lwm2m_dm_faults.py)
    Fault(
        "text-serial-number-empty",
        "ATT-DMIG-3.2",
        "a text/plain Read of /3/0/2 Serial Number answers an empty string",
        ets=("LightweightM2M-1.0-int-201",),
    ),
    Fault(
        "tlv-model-number-wrong",
        "ATT-DMIG-3.2",
        "a TLV Read of /3/0/1 Model Number answers another model",
        ets=("LightweightM2M-1.0-int-203",),
    ),
    Fault(
        "lwm2m-json-firmware-version-empty",
        "ATT-DMIG-3.2",
        "an LwM2M JSON Read of /3/0/3 Firmware Version answers an empty string",
        ets=("LightweightM2M-1.0-int-204",),
    ),
    Fault(
        "text-write-digits-truncated",
        "ATT-DMIG-3.2",
        "a text/plain Write of an integer keeps only its first three digits (1010 becomes 101)",
        ets=("LightweightM2M-1.0-int-205",),
    ),
    Fault(
        "cbor-boolean-as-integer",
        "ATT-DMIG-3.2",
        "a CBOR (60) Read of a Boolean answers the integer 0/1, not false/true",
        ets=("LightweightM2M-1.1-int-211",),
    ),
    Fault(
        "cbor-write-ignored",
        "ATT-DMIG-3.2",
        "a CBOR (60) Write answers 2.04 and stores nothing",
        ets=("LightweightM2M-1.1-int-212",),
    ),
    Fault(
        "tlv-write-skips-disable-timeout",
        "ATT-DMIG-3.2",
        "a TLV Write on a Server instance answers 2.04 but ignores /1/x/5 Disable Timeout",
        ets=("LightweightM2M-1.0-int-215",),
    ),
    Fault(
        "lwm2m-json-write-drops-booleans",
        "ATT-DMIG-3.2",
        "an LwM2M JSON (11543) Write answers 2.04 but ignores its boolean values",
        ets=("LightweightM2M-1.0-int-220",),
    ),
    Fault(
        "security-attributes-accepted",
        "ATT-DMIG-3.2",
        "Write-Attributes on the Security object /0 is accepted (2.04), not 4.01",
        ets=("LightweightM2M-1.1-int-221",),
    ),
    Fault(
        "object-read-drops-manufacturer",
        "ATT-DMIG-3.2",
        "a Read of the whole Device object /3 leaves out /3/0/0 Manufacturer",
        ets=("LightweightM2M-1.1-int-222",),
    ),
    Fault(
        "instance-read-drops-ssid",
        "ATT-DMIG-3.2",
        "a Read of a Server instance /1/x leaves out /1/x/0 Short Server ID",
        ets=("LightweightM2M-1.1-int-223",),
    ),
    Fault(
        "text-boolean-as-word",
        "ATT-DMIG-3.2",
        "a text/plain Read of a Boolean answers 'true'/'false', not '1'/'0' (TS 1.1 §7.4.1)",
        ets=("LightweightM2M-1.1-int-224",),
    ),
    Fault(
        "resource-instance-read-first",
        "ATT-DMIG-3.2",
        "a Read of a resource instance /o/i/r/n answers the resource's first instance's value",
        ets=("LightweightM2M-1.1-int-225",),
    ),
    Fault(
        "partial-update-no-lifetime-update",
        "ATT-DMIG-3.2",
        "a partial-update Write (POST) on /1/x changing the Lifetime keeps it, sends no Update",
        ets=("LightweightM2M-1.1-int-226",),
    ),
    Fault(
        "text-lifetime-read-cached",
        "ATT-DMIG-3.2",
        "a text/plain Read of /1/x/1 Lifetime answers the value of its first Read (a stale cache)",
        ets=("LightweightM2M-1.1-int-227",),
    ),
    Fault(
        "resource-instance-write-replaces-resource",
        "ATT-DMIG-3.2",
        "a Write on a resource instance /o/i/r/n replaces the whole resource (siblings lost)",
        ets=("LightweightM2M-1.1-int-228",),
    ),
    Fault(
        "read-composite-ignores-accept",
        "ATT-DMIG-3.2",
        "Read-Composite answers in the request's SenML format whatever the Accept option asks",
        ets=("LightweightM2M-1.1-int-229",),
    ),
    Fault(
        "write-composite-drops-resource-instances",
        "ATT-DMIG-3.2",
        "Write-Composite answers 2.04 but ignores resource-instance values (/16/y/0/n)",
        ets=("LightweightM2M-1.1-int-230",),
    ),
    Fault(
        "senml-json-resource-instance-refused",
        "ATT-DMIG-3.2",
        "a SenML JSON Read of a resource instance answers 4.06",
        ets=("LightweightM2M-1.1-int-231",),
    ),
    Fault(
        "senml-cbor-resource-instance-refused",
        "ATT-DMIG-3.2",
        "a SenML CBOR Read of a resource instance answers 4.06",
        ets=("LightweightM2M-1.1-int-232",),
    ),
    Fault(
        "senml-cbor-write-ignored",
        "ATT-DMIG-3.2",
        "a SenML CBOR Write (PUT/POST) answers 2.04 and stores nothing",
        ets=("LightweightM2M-1.1-int-233",),
    ),
    Fault(
        "senml-json-write-ignored",
        "ATT-DMIG-3.2",
        "a SenML JSON Write (PUT/POST) answers 2.04 and stores nothing",
        ets=("LightweightM2M-1.1-int-234",),
    ),
    Fault(
        "read-composite-root-exposes-security",
        "ATT-DMIG-3.2",
        "Read-Composite of the root / includes the Security object /0 (its keys)",
        ets=("LightweightM2M-1.1-int-235",),
    ),
    Fault(
        "read-composite-refuses-missing",
        "ATT-DMIG-3.2",
        "Read-Composite naming a path the device does not have answers 4.04 (TS 1.1: best effort)",
        ets=("LightweightM2M-1.1-int-236",),
    ),
    Fault(
        "no-content-format-without-accept",
        "ATT-DMIG-3.2",
        "a Read of an object without Accept answers 2.05 with no Content-Format option",
        ets=("LightweightM2M-1.1-int-237",),
    ),
    Fault(
        "short-server-id-writable",
        "ATT-DMIG-3.2",
        "a Write of a new value to /1/x/0 Short Server ID (read-only) is accepted and changes "
        "it (its own value is refused 4.05)",
        ets=("LightweightM2M-1.1-int-256",),
    ),
    Fault(
        "write-composite-refuses-time",
        "ATT-DMIG-3.2",
        "Write-Composite carrying a Time value (/3/0/13) answers 4.00",
        ets=("LightweightM2M-1.1-int-257",),
    ),
    Fault(
        "discover-hides-change-attributes",
        "ATT-DMIG-3.2",
        "Discover leaves out the gt/lt/st attributes Write-Attributes set",
        ets=("LightweightM2M-1.0-int-260",),
    ),
    Fault(
        "resource-instance-attributes-dropped",
        "ATT-DMIG-3.2",
        "Write-Attributes on a resource instance answers 2.04 but keeps nothing",
        ets=("LightweightM2M-1.1-int-261",),
    ),
    Fault(
        "create-drops-values",
        "ATT-DMIG-3.2",
        "Create answers 2.01 but the new instance has none of the values sent",
        ets=("LightweightM2M-1.1-int-270",),
    ),
    Fault(
        "read-composite-drops-resource-instances",
        "ATT-DMIG-3.2",
        "Read-Composite leaves out resource-instance paths (/3/0/11/n)",
        ets=("LightweightM2M-1.1-int-280",),
    ),
    Fault(
        "read-composite-refuses-executable",
        "ATT-DMIG-3.2",
        "Read-Composite naming an executable resource answers 4.05 (TS 1.1: best effort)",
        ets=("LightweightM2M-1.1-int-281",),
    ),
    Fault(
        "delete-keeps-instance",
        "ATT-DMIG-3.2",
        "Delete of an object instance answers 2.02 but the instance stays",
        ets=("LightweightM2M-1.1-int-290",),
    ),
    # Queue mode (ETS 1.1 int-108, int-109)
    Fault(
        "queue-mode-not-announced",
        "ATT-DMIG-3.2",
        "configured for queue mode, the device registers without Q (1.1) / b=UQ (1.0)",
        ets=("LightweightM2M-1.1-int-108",),
    ),
    Fault(
        "queue-mode-sleeps-after-update",
        "ATT-DMIG-3.2",
        "in queue mode the receiver goes off as soon as the Update the application asked for "
        "(trigger_session) is answered, not after MAX_TRANSMIT_WAIT: the request the server "
        "held for it is never heard",
        ets=("LightweightM2M-1.1-int-109",),
    ),
)

FAULTS: dict[str, Fault] = {f.name: f for f in _REGISTRY}


class Faults:
    """The set of faults injected into one device instance (empty: a conforming device)."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        names = list(names)
        unknown = [n for n in names if n not in FAULTS]
        if unknown:
            raise ConfigurationError(
                f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}"
            )
        self._names = frozenset(names)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and name not in FAULTS:
            # A typo in the device code would silently never fire: fail loudly instead.
            raise KeyError(f"no fault named {name!r}")
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._names))

    def __bool__(self) -> bool:
        return bool(self._names)

    def __repr__(self) -> str:
        return f"Faults({sorted(self._names)})"


def registry_lines() -> list[str]:
    """What ``--list-faults`` prints: one JSON-free, tab-separated line per fault."""
    return [f"{f.name}\t{f.requirement}\t{f.description}" for f in _REGISTRY]


def mangle_tlv_length(data: bytes) -> bytes:
    """tlv-length-bug: add one to the length of the first TLV entry (OMA TS Core §7.4.3)."""
    if not data:
        return data
    out = bytearray(data)
    type_byte = out[0]
    length_type = (type_byte >> 3) & 0x03
    id_len = 2 if type_byte & 0x20 else 1
    if length_type == 0:
        if type_byte & 0x07 < 7:
            out[0] = type_byte + 1
            return bytes(out)
        # A 3-bit length of 7 cannot grow in place: switch to an 8-bit length field of 8.
        return bytes([(type_byte & 0xF8) | 0x08, *out[1 : 1 + id_len], 8, *out[1 + id_len :]])
    start = 1 + id_len
    size = length_type  # 1, 2 or 3 length bytes
    value = int.from_bytes(out[start : start + size], "big") + 1
    if value >= 1 << (8 * size):
        return bytes(out)  # a 16 MiB entry: never produced by this device
    out[start : start + size] = value.to_bytes(size, "big")
    return bytes(out)


def break_senml_cbor(data: bytes) -> bytes:
    """senml-cbor-broken: drop the last byte, so the CBOR array ends early."""
    return data[:-1]
