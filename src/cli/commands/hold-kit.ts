// What pre, post, abort and status share.
import { resolveRuntimeDir } from '../../agent/index.js';
import { text, type Values } from '../command-kit.js';

export function runtimeDir(values: Values): string {
  return resolveRuntimeDir(text(values, 'runtime-dir'));
}
