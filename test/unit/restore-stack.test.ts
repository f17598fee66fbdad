import { describe, expect, it } from 'vitest';
import { InterruptedError, RestoreStack, interruptExitCode } from '../../infra/restore-stack';

// The restore stack of bench and drills (infra/restore-stack.ts); the signal path is exercised
// for real by test/e2e/interrupts.test.ts.

describe('RestoreStack', () => {
  it('undoes what is pending, most recent first; released changes are not undone', async () => {
    const lines: string[] = [];
    const done: string[] = [];
    const stack = new RestoreStack((m) => lines.push(m));
    stack.push('layers on', () => { done.push('layers'); });
    const release = stack.push('pg-0 resumed', () => { done.push('pg-0'); });
    stack.push('redis running', async () => { done.push('redis'); });
    release();
    expect(stack.pending()).toEqual(['redis running', 'layers on']);
    const r = await stack.unwind();
    expect(done).toEqual(['redis', 'layers']);
    expect(r).toEqual({ restored: ['redis running', 'layers on'], failed: [] });
    expect(lines).toEqual(['restored: redis running', 'restored: layers on']);
    expect(stack.pending()).toEqual([]);
    expect((await stack.unwind()).restored).toEqual([]); // each undo runs once
  });

  it('a failing undo is reported and the others still run', async () => {
    const lines: string[] = [];
    const done: string[] = [];
    const stack = new RestoreStack((m) => lines.push(m));
    stack.push('first', () => { done.push('first'); });
    stack.push('second', () => { throw new Error('refused'); });
    const r = await stack.unwind();
    expect(r).toEqual({ restored: ['first'], failed: ['second'] });
    expect(done).toEqual(['first']);
    expect(lines[0]).toBe('could not restore second: refused');
  });

  it('an entry stays pending while its undo runs (a second signal names it)', async () => {
    const stack = new RestoreStack(() => {});
    let seen: string[] = [];
    stack.push('slow start', async () => { seen = stack.pending(); });
    await stack.unwind();
    expect(seen).toEqual(['slow start']);
  });

  it('interrupt ends a sleep and check() with InterruptedError', async () => {
    const stack = new RestoreStack(() => {});
    const started = Date.now();
    const sleeping = stack.sleep(30_000);
    setTimeout(() => stack.interrupt('SIGTERM'), 20);
    await expect(sleeping).rejects.toBeInstanceOf(InterruptedError);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(stack.interrupted).toBe(true);
    expect(() => stack.check()).toThrow(/interrupted by SIGTERM/);
    await expect(stack.sleep(10)).rejects.toBeInstanceOf(InterruptedError);
  });

  it('exit codes are the shell\'s for a command ended by the signal', () => {
    expect(interruptExitCode('SIGINT')).toBe(130);
    expect(interruptExitCode('SIGTERM')).toBe(143);
  });
});
