#!/usr/bin/env node
// The declaration's action commands for the interop clients: `node act.js NAME` with the action
// in $DM_ACTION (docs/declaration.md). trigger_session asks for a registration update;
// sideload_update and set_host_values leave the new values for the client, which loads them and
// sends an Update (the library does the protocol; this only plays the device's local side).
'use strict';

const fs = require('fs');
const path = require('path');

const name = process.argv[2];
const runDir = process.env.RUN_DIR || '.';
const env = process.env;
let pid;
try {
  pid = Number(fs.readFileSync(path.join(runDir, `${name}.pid`), 'utf8'));
} catch (err) {
  process.stderr.write(`${name} is not running (no pid file in ${runDir})\n`);
  process.exit(1);
}

const host = {
  5905: env.HOST_MANUFACTURER, 5906: env.HOST_MODEL, 5907: env.HOST_UNIQUE_ID,
  5908: env.HOST_SW_VERSION,
};
let signal;
switch (env.DM_ACTION) {
  case 'trigger_session':
    signal = 'SIGUSR1';
    break;
  case 'sideload_update':
  case 'set_host_values': {
    const values = { '/10241/0': host };
    if (env.NEW_FW_VERSION) values['/3/0'] = { 3: env.NEW_FW_VERSION };
    fs.writeFileSync(path.join(runDir, `${name}-values.json`), JSON.stringify(values));
    signal = 'SIGHUP';
    break;
  }
  default:
    process.stderr.write(`${name}: no such action ${env.DM_ACTION}\n`);
    process.exit(2);
}
try {
  process.kill(pid, signal);
} catch (err) {
  process.stderr.write(`${name} (pid ${pid}) is gone: ${err.code}\n`);
  process.exit(1);
}
