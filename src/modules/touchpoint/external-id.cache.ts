/**
 * The partner's customer id → our id. The mapping never changes once made, so caching it saves
 * the write path a round trip; bounded, oldest entries dropped first.
 */
export class ExternalIdCache {
  private readonly map = new Map<string, string>();

  constructor(private readonly capacity: number) {}

  get(programId: string, externalId: string): string | undefined {
    return this.map.get(`${programId}\u0000${externalId}`);
  }

  set(programId: string, externalId: string, id: string): void {
    const key = `${programId}\u0000${externalId}`;
    if (this.map.size >= this.capacity && !this.map.has(key)) {
      this.map.delete(this.map.keys().next().value as string);
    }
    this.map.set(key, id);
  }

  /** Forgets one partner id (it no longer names the customer cached: an erasure). */
  delete(programId: string, externalId: string): void {
    this.map.delete(`${programId}\u0000${externalId}`);
  }

  clear(): void {
    this.map.clear();
  }
}
