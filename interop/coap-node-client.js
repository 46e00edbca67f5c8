#!/usr/bin/env node
// An LwM2M device built on coap-node 0.2.5 (npm, PeterEB), configured as the declaration states:
// endpoint, lifetime, the Device object (3) and object 10241 with the declared values. The
// library speaks LwM2M 1.0 over plain CoAP with text, TLV and LwM2M JSON; everything on the
// wire is its own.
//   node coap-node-client.js --endpoint EP --lifetime S --manufacturer M --model M
//        --serial S --firmware V          (LAB_LWM2M_URI, HOST_* from the environment)
'use strict';

const { parseArgs, labServer, deviceValues, pendingValues, writePid, log } = require('./common');

const NAME = 'coap-node';
const SmartObject = require('smartobject');
const CoapNode = require('coap-node');

const args = parseArgs(process.argv.slice(2));
const server = labServer();
const declared = deviceValues(args);

const so = new SmartObject();
const hostValues = { ...declared['/10241/0'] };
// Object 10241 (AT&T Host Device Info) is not in the library's registry of IPSO/OMA names: it
// goes in by number, its resources read-only as the object's definition says.
so.init('10241', 0, Object.fromEntries(Object.entries(declared['/10241/0']).map(([rid, value]) => [
  rid, { read: (cb) => cb(null, hostValues[rid]) },
])));
const device = declared['/3/0'];
let firmware = device[3]; // a sideload changes it: read through a function, as 10241's
const cnode = new CoapNode(args.endpoint, so, {
  manuf: device[0], model: device[1], serial: device[2],
  firmware: { read: (cb) => cb(null, firmware) },
  lifetime: Number(args.lifetime), version: '1.0',
});

function update(reason) {
  // An Update with nothing changed: the library sends the object links when they changed.
  cnode.update({}, (err, rsp) => log(NAME, `${reason}: update ${err ? `failed: ${err}` : rsp.status}`));
}

cnode.on('registered', () => log(NAME, `registered as ${cnode.locationPath}`));
cnode.register(server.host, server.port, (err, rsp) => {
  if (err) {
    log(NAME, `registration failed: ${err}`);
    process.exit(1);
  }
  log(NAME, `register answered ${rsp.status}`);
});

process.on('SIGUSR1', () => update('trigger_session'));
process.on('SIGHUP', () => {
  const values = pendingValues(NAME);
  Object.assign(hostValues, values['/10241/0'] || {});
  firmware = (values['/3/0'] || {})[3] || firmware;
  update('reload');
});
process.on('SIGTERM', () => {
  cnode.deregister(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
});

writePid(NAME);
