"""The typed device-under-test layer the catalog cases use, one shape for both protocols.

- :class:`conformance.dut.omadm.DmDevice` (fixture ``dm``): OMA-DM sessions the device opens
  when the controller or a Package 0 triggers it, tree reading, the DDF.
- :class:`conformance.dut.lwm2m.Lwm2mDevice` (fixture ``device``): the registered LwM2M client,
  its registration events, discovery of optional objects, resources and instances.

Both own the rules of evidence (:mod:`conformance.dut.evidence`): what decides a check, proof of
life before silence is blamed on the device, discovery before anything optional is used.
Modules are imported by path (``conformance.dut.omadm``) so that a lab of one protocol never
imports the other's stack.
"""
