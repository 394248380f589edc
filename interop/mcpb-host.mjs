// Does with an MCP bundle what Claude Desktop does on install and start,
// using @anthropic-ai/mcpb's own code: unpack the .mcpb, read its manifest,
// and resolve the server's command, args and env for this platform from the
// manifest's mcp_config and the user's configuration (its defaults when the
// user filled in nothing). Used by internal/release's tests.
//
//   node mcpb-host.mjs <bundle.mcpb> <unpack-dir> <user-config-json> [platform]
//
// platform (darwin, linux or win32) resolves the config as on that platform.
//
// stdout: {"manifest": {...}, "config": {"command", "args", "env"}}
import { readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { getMcpConfigForManifest, unpackExtension } from '@anthropic-ai/mcpb';

const [bundle, dir, userConfig, platform] = process.argv.slice(2);
const ok = await unpackExtension({ mcpbPath: bundle, outputDir: dir, silent: true });
if (ok === false) {
  console.error('unpack failed');
  process.exit(1);
}
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
if (platform) Object.defineProperty(process, 'platform', { value: platform });
const config = await getMcpConfigForManifest({
  manifest,
  extensionPath: dir,
  systemDirs: { HOME: process.env.HOME ?? '' },
  userConfig: JSON.parse(userConfig || '{}'),
  pathSeparator: sep,
});
if (!config) {
  console.error('no MCP config: required user configuration is missing');
  process.exit(1);
}
process.stdout.write(JSON.stringify({ manifest, config }));
