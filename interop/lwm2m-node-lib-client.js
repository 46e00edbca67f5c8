#!/usr/bin/env node
// An LwM2M device built on lwm2m-node-lib 1.4.0 (Telefonica, npm), configured as the declaration
// states: endpoint, lifetime, objects 3 and 10241 with the declared values. The library speaks
// LwM2M 1.0 over plain CoAP and carries single values as text; everything on the wire is its.
//   node lwm2m-node-lib-client.js --endpoint EP --lifetime S --manufacturer M --model M
//        --serial S --firmware V          (LAB_LWM2M_URI, HOST_* from the environment)
'use strict';

const { parseArgs, labServer, deviceValues, pendingValues, writePid, log } = require('./common');

const NAME = 'lwm2m-node-lib';
const client = require('lwm2m-node-lib/lib/lwm2m-client');

const args = parseArgs(process.argv.slice(2));
const server = labServer();
let device = null; // the library's deviceInformation once registered

function setValues(values, done) {
  const entries = [];
  for (const [uri, resources] of Object.entries(values)) {
    for (const [id, value] of Object.entries(resources)) {
      if (value !== undefined && value !== null) entries.push([uri, id, String(value)]);
    }
  }
  (function next(i) {
    if (i === entries.length) return done();
    const [uri, id, value] = entries[i];
    client.registry.setResource(uri, id, value, (err) => (err ? done(err) : next(i + 1)));
  })(0);
}

function update(reason) {
  if (device === null) return log(NAME, `${reason}: not registered, nothing to update`);
  client.update(device, (err) => log(NAME, `${reason}: update ${err ? `failed: ${err}` : 'sent'}`));
}

function main() {
  client.init({
    client: { lifetime: Number(args.lifetime), version: '1.0', ipProtocol: 'udp4', port: 0,
      logLevel: 'ERROR' },
    logLevel: 'ERROR',
  });
  const values = deviceValues(args);
  client.registry.create('/3/0', (err) => {
    if (err) throw err;
    client.registry.create('/10241/0', (err2) => {
      if (err2) throw err2;
      setValues(values, (err3) => {
        if (err3) throw err3;
        client.register(server.host, server.port, '', args.endpoint, (err4, info) => {
          if (err4) {
            log(NAME, `registration failed: ${err4}`);
            process.exit(1);
          }
          device = info;
          log(NAME, `registered as ${info.location}`);
        });
      });
    });
  });
}

process.on('SIGUSR1', () => update('trigger_session'));
process.on('SIGHUP', () => {
  setValues(pendingValues(NAME), (err) => (err ? log(NAME, `reload failed: ${err}`) : update('reload')));
});
process.on('SIGTERM', () => {
  if (device === null) process.exit(0);
  client.unregister(device, () => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
});

writePid(NAME);
main();
