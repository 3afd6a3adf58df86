// The Prometheus text format (0.0.4), gauges only: what info and drill write for node_exporter's
// textfile collector.

interface Family {
  readonly help: string;
  readonly samples: { readonly labels: Readonly<Record<string, string | number>>; readonly value: number }[];
}

/** A label value as the text format wants it: backslash, quote and newline escaped. */
function labelValue(value: string | number): string {
  return String(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Gauges grouped by name, each family with one HELP and TYPE line, in the order first added. */
export class MetricsText {
  readonly #families = new Map<string, Family>();

  /** Adds one sample of the gauge `name` (its help is taken from the first sample). */
  gauge(name: string, help: string, value: number, labels: Readonly<Record<string, string | number>> = {}): void {
    const family = this.#families.get(name) ?? { help, samples: [] };
    family.samples.push({ labels, value });
    this.#families.set(name, family);
  }

  /** The text, ending with a newline. */
  toString(): string {
    const out: string[] = [];
    for (const [name, family] of this.#families) {
      out.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} gauge`);
      for (const sample of family.samples) {
        const labels = Object.entries(sample.labels).map(([k, v]) => `${k}="${labelValue(v)}"`);
        out.push(`${name}${labels.length > 0 ? `{${labels.join(',')}}` : ''} ${Number.isFinite(sample.value) ? String(sample.value) : 'NaN'}`);
      }
    }
    return `${out.join('\n')}\n`;
  }
}
