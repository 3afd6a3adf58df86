// The Prometheus text format (0.0.4) parsed strictly, for the tests of info's and drill's metrics.
import assert from 'node:assert/strict';

/** One sample: its label set as printed (`{a="1",b="2"}`, or '' for none) and its value. */
export interface Sample {
  readonly labels: string;
  readonly value: number;
}

const SAMPLE = /^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+]+|NaN)$/;

/** Parses the text format strictly: every line a HELP, a TYPE or a sample of the family just declared. */
export function parseExposition(text: string): Map<string, Sample[]> {
  const families = new Map<string, Sample[]>();
  let current: string | undefined;
  for (const line of text.trimEnd().split('\n')) {
    const help = /^# HELP ([a-z_]+) \S/.exec(line);
    if (help) {
      assert.ok(!families.has(help[1]!), `${help[1]} declared twice`);
      families.set(help[1]!, []);
      current = help[1];
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      assert.equal(line, `# TYPE ${current} gauge`);
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
    assert.equal(m[1], current, `${m[1]} outside its family`);
    families.get(current!)!.push({ labels: m[2] ?? '', value: Number(m[3]) });
  }
  return families;
}
