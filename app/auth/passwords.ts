import argon2 from 'argon2';

// Password hashing: argon2id with OWASP-recommended parameters (19 MiB, 2 passes, 1 lane).
// The parameters live in the encoded hash, so raising them later still verifies old hashes.

const hashOptions = {
  type: argon2.argon2id,
  memoryCost: 19 * 1024,
  timeCost: 2,
  parallelism: 1,
} as const;

export async function hashPassword(plain: string): Promise<string> {
  if (typeof plain !== 'string' || plain.length === 0) throw new Error('hashPassword: empty password');
  return argon2.hash(plain, hashOptions);
}

/** True when `plain` matches `hash`; false (never throws) for a malformed hash. */
export async function verifyPassword(hash: string, plain: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, plain);
  } catch {
    return false;
  }
}

/**
 * A real hash of a random string, computed once: login verifies against it for unknown users so
 * an unknown username costs the same time as a wrong password (no user enumeration by timing).
 */
let dummyHash: Promise<string> | null = null;
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword(`dummy-${Math.random()}-${Date.now()}`);
  return dummyHash;
}
