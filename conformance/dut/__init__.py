"""The typed device-under-test layer the catalog cases use, one shape for both protocols.

- :class:`conformance.dut.omadm.DmDevice` (fixture ``dm``): OMA-DM sessions the device opens
  when the controller or a Package 0 triggers it, tree reading, the DDF.
- :class:`conformance.dut.lwm2m.Lwm2mDevice` (fixture ``device``): the registered LwM2M client,
  its registration events, discovery of optional objects, resources and instances.

Both own the rules of evidence: what decides a check (an authenticated, well-formed answer with
the right status: ``dut.omadm.decisive``/``existence``/``reported``; LwM2M responses decoded
once, with the verdict a decode error gives), proof of life before silence is blamed on the
device (:mod:`conformance.dut.liveness`), discovery before anything optional is used (the
Server instance by its Short Server ID, observed resources from Discover, nodes from the DDF).
Modules are imported by path (``conformance.dut.omadm``) so that a lab of one protocol never
imports the other's stack.
"""
