import { readFileSync } from 'node:fs';

/** A tool's name and version. */
export interface ToolVersion {
  /** The npm package name. */
  readonly name: string;
  /** Its version. */
  readonly version: string;
}

/** This package's name and version, recorded in every summary. */
export const TOOL: ToolVersion = (() => {
  // src/version.ts and dist/version.js both sit one level below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
  return Object.freeze({ name: pkg.name, version: pkg.version });
})();
