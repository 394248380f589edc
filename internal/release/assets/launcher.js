#!/usr/bin/env node
// Launcher of the npm package {{NAME}}: runs the Go binary from the package of
// this platform ({{NAME}}-<os>-<cpu>, an optionalDependency). It writes
// nothing to stdout: the binary inherits stdin, stdout and stderr, so MCP's
// bytes pass untouched. Where Node can exec (process.execve: Linux and macOS,
// Node >= 22.15) the launcher hands the process over to the binary.
// Otherwise the binary runs as a child; the launcher forwards signals and
// exits with the child's exit code, or dies of the child's signal. On Linux
// and macOS install.js normally puts the binary itself in this file's place,
// and this launcher never runs.
'use strict';

const PKG = '{{NAME}}';
const EXE = process.platform === 'win32' ? 'mcp-server-alipay.exe' : 'mcp-server-alipay';

function fail(msg) {
  process.stderr.write(PKG + ': ' + msg + '\n');
  process.exit(1);
}

function binaryPath() {
  const platformPkg = PKG + '-' + process.platform + '-' + process.arch;
  try {
    const path = require('path');
    return path.join(path.dirname(require.resolve(platformPkg + '/package.json')), 'bin', EXE);
  } catch (e) {
    fail('找不到本平台的二进制包 ' + platformPkg + ' (支持 linux、darwin、win32 的 x64 和 arm64); 请重新安装, 不要使用 --omit=optional 或 --no-optional' +
      ' / the binary package for this platform, ' + platformPkg + ', is not installed (supported: linux, darwin and win32 on x64 and arm64);' +
      ' reinstall without --omit=optional or --no-optional');
  }
}

const bin = binaryPath();
const args = process.argv.slice(2);

if (typeof process.execve === 'function' && process.platform !== 'win32') {
  try {
    process.execve(bin, [bin].concat(args), process.env);
  } catch (e) {
    // Run it as a child instead.
  }
}

const { spawn } = require('child_process');
const child = spawn(bin, args, { stdio: 'inherit', windowsHide: true });
const signals = process.platform === 'win32' ? ['SIGINT', 'SIGTERM', 'SIGBREAK'] : ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
const forward = (sig) => { try { child.kill(sig); } catch (e) { /* the child is gone */ } };
for (const sig of signals) process.on(sig, forward);

child.on('error', (e) => fail('无法启动 / cannot start ' + bin + ': ' + e.message));
child.on('exit', (code, signal) => {
  for (const sig of signals) process.removeListener(sig, forward);
  if (signal) {
    // Die of the same signal, so that our parent sees what the child did.
    process.kill(process.pid, signal);
    setTimeout(() => process.exit(1), 1000).unref();
    return;
  }
  process.exit(code === null ? 1 : code);
});
