// What the restore and verify commands share.
export function list(label: string, items: readonly string[], most = 6): string | undefined {
  if (items.length === 0) return undefined;
  return `${label}${items.length > most ? `${items.slice(0, most).join(', ')} and ${items.length - most} more` : items.join(', ')}`;
}
