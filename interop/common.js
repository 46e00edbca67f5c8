// Shared by the interop client programs: the device's values, the lab address, the signals.
//
// A program is started by the shell controller's `start` command with this run's LAB_* in its
// environment (docs/declaration.md) and the device's declared values on its command line. It
// writes its pid to $RUN_DIR/<name>.pid so the declaration's action commands can signal it:
//   SIGUSR1  registration update now (trigger_session)
//   SIGHUP   reload $RUN_DIR/<name>-values.json (sideload_update, set_host_values), then Update
//   SIGTERM  de-register, then exit
'use strict';

const fs = require('fs');
const path = require('path');

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    if (!key.startsWith('--') || i + 1 >= argv.length) {
      throw new Error(`expected --name value pairs, got ${JSON.stringify(argv.slice(i))}`);
    }
    out[key.slice(2)] = argv[i + 1];
  }
  return out;
}

function labServer() {
  const uri = process.env.LAB_LWM2M_URI;
  if (!uri) throw new Error('LAB_LWM2M_URI is not set (run me from the shell controller)');
  const url = new URL(uri);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 5683) };
}

// Object 3 and 10241 as the declaration states them (resource id -> value, all strings).
function deviceValues(args) {
  return {
    '/3/0': {
      0: args.manufacturer, 1: args.model, 2: args.serial, 3: args.firmware,
      11: '0', 16: 'U',
    },
    '/10241/0': {
      5905: process.env.HOST_MANUFACTURER, 5906: process.env.HOST_MODEL,
      5907: process.env.HOST_UNIQUE_ID, 5908: process.env.HOST_SW_VERSION,
    },
  };
}

// New values an action left for us: {"/3/0": {"3": "FW-2"}, "/10241/0": {...}}.
function pendingValues(name) {
  const file = path.join(process.env.RUN_DIR || '.', `${name}-values.json`);
  try {
    const values = JSON.parse(fs.readFileSync(file, 'utf8'));
    fs.unlinkSync(file);
    return values;
  } catch (err) {
    if (err.code === 'ENOENT') return {};
    throw err;
  }
}

function writePid(name) {
  fs.writeFileSync(path.join(process.env.RUN_DIR || '.', `${name}.pid`), `${process.pid}\n`);
}

function log(name, message) {
  process.stdout.write(`${new Date().toISOString()} ${name}: ${message}\n`);
}

module.exports = { parseArgs, labServer, deviceValues, pendingValues, writePid, log };
