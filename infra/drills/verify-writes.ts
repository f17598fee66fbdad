import { sqlLiteral, type ClusterDriver } from './cluster-driver';
import type { WriteRecord } from './load-generator';

// Checks the load's writes on the final primary, as the superuser: every acknowledged id must be
// there with its title (else it is lost), and no idempotency key (= title) may have more than one
// row (else a retry wrote twice).

export async function verifyWrites(driver: ClusterDriver, runId: string, writes: readonly WriteRecord[]) {
  const acked = writes.filter((w) => w.acknowledged && w.id !== null);
  const present = new Map<number, string>();
  for (let i = 0; i < acked.length; i += 500) {
    const ids = acked.slice(i, i + 500).map((w) => sqlLiteral(w.id!)).join(',');
    const rows = await driver.primaryQuery<{ id: string | number; title: string }>(`SELECT id, title FROM posts WHERE id IN (${ids})`);
    for (const r of rows) present.set(Number(r.id), r.title);
  }
  const lostIds = acked.filter((w) => present.get(w.id!) !== w.title).map((w) => w.id!);
  const dupRows = await driver.primaryQuery<{ title: string; rows: string | number }>(
    `SELECT title, count(*) AS rows FROM posts WHERE title LIKE ${sqlLiteral(`Drill ${runId} %`)} GROUP BY title HAVING count(*) > 1`,
  );
  return { lostIds, duplicated: dupRows.map((r) => ({ title: r.title, rows: Number(r.rows) })) };
}

/** Titles of this run present on the primary (the restore drill compares them with T). */
export async function titlesPresent(driver: ClusterDriver, runId: string): Promise<Set<string>> {
  const rows = await driver.primaryQuery<{ title: string }>(`SELECT title FROM posts WHERE title LIKE ${sqlLiteral(`Drill ${runId} %`)}`);
  return new Set(rows.map((r) => r.title));
}
