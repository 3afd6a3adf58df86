import type { ParseArgsConfig } from 'node:util';
import { BackupError } from '../errors.js';
import { assertBackupId } from '../summary/backup-id.js';
import type { ProgressDisplay } from './progress.js';

// What every command module shares: the command shape and flag helpers.

/** Parsed flag values of one command. */
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** What a command prints: one JSON object for `--json`, text otherwise. */
export interface CommandResult {
  readonly json: Record<string, unknown>;
  readonly text: string;
}

/** What a command may use besides its flags. */
export interface CommandContext {
  /** Where long waits are shown (stderr). */
  readonly progress: ProgressDisplay;
  /** `--verbose` was given. */
  readonly verbose: boolean;
  /** Writes to stderr, for what must be said outside the result (an interruption). */
  readonly stderr: (text: string) => void;
}

/** One CLI command: its flags, help and handler. Handlers throw BackupError on failure. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly details: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  /** Names of the positional arguments, in order, all required; they land in the values under these names. Without it, none are allowed. */
  readonly positionals?: readonly string[];
  run(values: Values, context: CommandContext): Promise<CommandResult>;
}

export const COMMON_OPTIONS = {
  'runtime-dir': { type: 'string' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

export function text(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function required(values: Values, name: string): string {
  const value = text(values, name);
  if (value === undefined || value === '') throw new BackupError('INVALID_OPTION', `--${name} is required.`, { details: { option: name } });
  return value;
}

export function strings(values: Values, name: string): string[] {
  const value = values[name];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : typeof value === 'string' ? [value] : [];
}

export function lines(...parts: (string | false | undefined)[]): string {
  return parts.filter((p): p is string => typeof p === 'string').join('\n');
}

/** `--id`, required and a valid backup ID. */
export function requiredId(values: Values): string {
  const id = required(values, 'id');
  assertBackupId(id);
  return id;
}

/** `--id` when given, a valid backup ID. */
export function optionalId(values: Values): string | undefined {
  const id = text(values, 'id');
  if (id !== undefined) assertBackupId(id);
  return id;
}
