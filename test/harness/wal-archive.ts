// The CLI as PostgreSQL's archive_command / restore_command run it: as the server's OS user, from
// the data directory, through sh. tsx is imported by absolute URL (the data directory has no
// node_modules to resolve `--import tsx` from).
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { S3RVER_CREDENTIALS, type TestS3Server } from './s3-server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `node --import <tsx> src/cli/main.ts`, runnable by the server user from any directory. */
export const PGSB_PROGRAM = `${process.execPath} --import ${pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href} ${join(ROOT, 'src', 'cli', 'main.ts')}`;

/** The program with s3rver's credentials in its environment (the server's own environment has none). */
export function pgsbProgramFor(s3?: TestS3Server): string {
  if (!s3) return PGSB_PROGRAM;
  return `AWS_ACCESS_KEY_ID=${S3RVER_CREDENTIALS.accessKeyId} AWS_SECRET_ACCESS_KEY=${S3RVER_CREDENTIALS.secretAccessKey} AWS_REGION=us-east-1 ${PGSB_PROGRAM}`;
}

/** The archive URL of a prefix in the test server's bucket. */
export function s3ArchiveUrl(s3: TestS3Server, prefix: string): string {
  return `s3://${s3.bucket}/${prefix}?endpoint=${s3.endpoint}&forcePathStyle=true&region=us-east-1`;
}

/** A value for postgresql.conf: single quotes, `'` doubled. */
export function confString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
