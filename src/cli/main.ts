#!/usr/bin/env node
// The pg-split-backup command: argument parsing and output only; the work is in the public API (src/index.ts, src/agent/index.ts).
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BackupError, isBackupError, type BackupErrorJson } from '../errors.js';
import { TOOL } from '../version.js';
import type { Command, Values } from './command-kit.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';
import { ProgressDisplay } from './progress.js';

/** Where the CLI writes; injectable for tests. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** stderr is a terminal: progress is one line redrawn in place. @default false */
  readonly stderrIsTTY?: boolean;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stderrIsTTY: process.stderr.isTTY === true,
};

function errorJson(error: unknown): BackupErrorJson {
  if (isBackupError(error)) return error.toJSON();
  return { code: 'HOLDER_FAILED', message: (error as Error)?.message ?? String(error), details: {} };
}

/** What to tell a human beyond the message, for the codes where a backup program's log needs it. */
function errorText(command: string, error: unknown): string {
  const json = errorJson(error);
  const out = [`pg-split-backup ${command}: ${json.code}: ${json.message}`];
  const spoolPath = json.details.spoolPath;
  if (json.code === 'SINK_FAILED' && typeof spoolPath === 'string' && !json.message.includes(spoolPath)) out.push(`the summary is kept in the spool at ${spoolPath}`);
  if (!isBackupError(error) && error instanceof Error && error.stack) out.push(error.stack);
  return `${out.join('\n')}\n`;
}

/**
 * The commands `name` may be, loaded on demand: archive_command and restore_command run the CLI once
 * per WAL file, so archive-push and archive-get load only their own module, not the whole CLI (pg,
 * the session, the sinks): about 130 ms less per call here.
 */
async function commandsFor(name: string): Promise<readonly Command[]> {
  if (name === 'archive-get' || name === 'archive-push') return (await import('./archive-commands.js')).ARCHIVE_COMMANDS;
  return (await import('./commands.js')).COMMANDS;
}

/**
 * Runs the CLI with `argv` (without node and the script) and returns the exit code.
 *
 * @example process.exitCode = await runCli(['status', '--json']);
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  const json = rest.includes('--json');
  const fail = (command: string, error: unknown): number => {
    if (json) io.stdout(`${JSON.stringify({ ok: false, error: errorJson(error) })}\n`);
    else io.stderr(errorText(command, error));
    return exitCodeFor(error, command);
  };
  if (name === undefined || name === '--help' || name === 'help') {
    const { COMMANDS, mainHelp, commandHelp } = await import('./commands.js');
    const topic = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    if (name === undefined) {
      io.stderr(mainHelp());
      return ExitCode.USAGE;
    }
    io.stdout(topic ? commandHelp(topic) : mainHelp());
    return ExitCode.OK;
  }
  if (name === '--version') {
    io.stdout(`${TOOL.version}\n`);
    return ExitCode.OK;
  }
  const commands = await commandsFor(name);
  const command = commands.find((c) => c.name === name);
  if (command === undefined) {
    return fail(name, new BackupError('INVALID_OPTION', `Unknown command ${JSON.stringify(name)}. Commands: ${commands.map((c) => c.name).join(', ')} (see --help).`));
  }
  let values: Values;
  try {
    const parsed = parseArgs({ args: [...rest], options: command.options, strict: true, allowPositionals: command.positionals !== undefined });
    values = parsed.values as Values;
    const names = command.positionals ?? [];
    if (parsed.values.help !== true && parsed.positionals.length !== names.length) {
      throw new Error(`${command.name} takes ${names.length} argument${names.length === 1 ? '' : 's'} (${names.join(' ')}), got ${parsed.positionals.length}`);
    }
    names.forEach((name, i) => (values[name] = parsed.positionals[i]));
  } catch (error) {
    return fail(name, new BackupError('INVALID_OPTION', `${(error as Error).message}\nUsage: ${command.usage}`, { cause: error }));
  }
  if (values.help === true) {
    const { commandHelp } = await import('./commands.js');
    io.stdout(commandHelp(command));
    return ExitCode.OK;
  }
  const verbose = values.verbose === true;
  const progress = new ProgressDisplay(io.stderr, { tty: io.stderrIsTTY === true, verbose });
  try {
    const result = await command.run(values, { progress, verbose, stderr: io.stderr });
    progress.end();
    io.stdout(json ? `${JSON.stringify(result.json)}\n` : result.text === '' ? '' : `${result.text}\n`);
    return ExitCode.OK;
  } catch (error) {
    progress.end();
    return fail(name, error);
  }
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  // PostgreSQL logs archive_command's and restore_command's stderr: the AWS SDK's notice about its
  // future Node versions (9 lines, on Node < 22) would repeat there for every WAL file. Said once in
  // docs/hooks.md instead; an explicit setting of the variable wins.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const code = await runCli(process.argv.slice(2));
  // Let stdout drain (a pipe to a backup program), then exit: nothing else may keep us alive.
  process.stdout.write('', () => process.exit(code));
}
