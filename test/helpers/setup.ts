/** Runs after every test: a fake host that was sent a command it has no answer for fails the test. */
import { afterEach, expect } from 'vitest';
import { worlds } from './fake-host.js';

afterEach(() => {
  const unexpected = [...worlds].flatMap((w) => w.unexpected.splice(0));
  expect(unexpected, 'commands the fake host has no answer for (a wrong argv?)').toEqual([]);
});
