// Postinstall of {{NAME}}, as esbuild does: on POSIX, put this platform's
// binary in place of the JS launcher in bin/, so that the installed command
// is the binary itself and no Node process stands between the MCP client
// and the server. It checks that the binary runs here first. On Windows,
// under Yarn Plug'n'Play, with --ignore-scripts, or on any failure, the JS
// launcher stays and does the same job a little slower. This script never
// fails the install and prints nothing.
'use strict';
const PKG = '{{NAME}}';
try {
  if (process.platform !== 'win32' && !process.versions.pnp) {
    const fs = require('fs');
    const path = require('path');
    const platformPkg = PKG + '-' + process.platform + '-' + process.arch;
    const exe = path.join(path.dirname(require.resolve(platformPkg + '/package.json')), 'bin', 'mcp-server-alipay');
    const launcher = path.join(__dirname, 'bin', PKG);
    const tmp = launcher + '.tmp';
    try { fs.unlinkSync(tmp); } catch (e) { /* not there */ }
    try {
      fs.linkSync(exe, tmp);
    } catch (e) {
      fs.copyFileSync(exe, tmp);
      fs.chmodSync(tmp, 0o755);
    }
    const v = require('child_process').spawnSync(tmp, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 10000 });
    if (v.status === 0 && String(v.stdout).startsWith('mcp-server-alipay ')) {
      fs.renameSync(tmp, launcher);
    } else {
      fs.unlinkSync(tmp);
    }
  }
} catch (e) {
  // Keep the JS launcher.
}
