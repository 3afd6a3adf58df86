// A summary sink written by a user: POST each summary to an HTTP endpoint (here a tiny local one).
// Run: node --import tsx examples/custom-sink.ts
import { createServer } from 'node:http';
import { BackupError, encodeSummary, type BackupSummary, type CallOptions, type SinkReceipt, type SummarySink } from '../src/index.js';

/** Sends the summary's files as one JSON document; the endpoint answers 201 (new), 200 (same), 409 (different). */
export class HttpSummarySink implements SummarySink {
  readonly name: string;
  constructor(private readonly url: string) {
    this.name = url;
  }

  async write(summary: BackupSummary, options: CallOptions = {}): Promise<SinkReceipt> {
    // encodeSummary gives the same bytes the built-in stores write, checksums included.
    const files = Object.fromEntries(encodeSummary(summary).map((f) => [f.name, f.body.toString('base64')]));
    const response = await fetch(`${this.url}/${summary.id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(files),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (response.status === 409) throw new BackupError('ALREADY_EXISTS', `${this.url} holds a different summary for ${summary.id}.`);
    // Any other failure is a plain error: BackupSession retries it with backoff.
    if (!response.ok) throw new Error(`${this.url} answered ${response.status}`);
    return { location: `${this.url}/${summary.id}`, written: response.status === 201 };
  }
}

// A demonstration endpoint and one write, so this file runs on its own.
const stored = new Map<string, string>();
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const id = req.url!.slice(1);
    const existing = stored.get(id);
    if (existing === undefined) stored.set(id, body);
    res.statusCode = existing === undefined ? 201 : existing === body ? 200 : 409;
    res.end();
  });
}).listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const port = (server.address() as { port: number }).port;
const sink = new HttpSummarySink(`http://127.0.0.1:${port}/summaries`);
const summary: BackupSummary = {
  id: 'example-1',
  labelFile: 'START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nCHECKPOINT LOCATION: 0/2000060\nBACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: 2026-11-25 02:00:00 UTC\nLABEL: example-1\nSTART TIMELINE: 1\n',
  tablespaceMap: '',
  startLsn: '0/2000028',
  stopLsn: '0/2000138',
  startWalFile: '000000010000000000000002',
  stopWalFile: '000000010000000000000002',
  timeline: 1,
  walSegmentSize: 16 * 1024 * 1024,
  serverVersion: 150018,
  systemIdentifier: '7441234567890123456',
  backupFrom: 'primary',
  startedAt: '2026-11-25T02:00:00.000Z',
  stoppedAt: '2026-11-25T02:00:01.000Z',
  tool: { name: 'pg-split-backup', version: '0.1.0' },
};
console.log('first write: ', JSON.stringify(await sink.write(summary)));
console.log('second write:', JSON.stringify(await sink.write(summary)));
server.close();
