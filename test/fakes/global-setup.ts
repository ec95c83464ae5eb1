/**
 * vitest globalSetup of the workers project: starts the fake providers in Node before any test file, provides
 * their base URLs (see bindings.ts for how they reach workerd), and stops them after the run.
 */
import type { FakeProvideKey } from "./bindings.mjs";
import { startFakeProviders } from "./servers.mjs";

export default async function setup(project: { provide(key: FakeProvideKey, value: string): void }) {
  const fakes = await startFakeProviders();
  project.provide("fakeMetaBase", fakes.meta);
  project.provide("fakeTwilioBase", fakes.twilio);
  project.provide("fakeResendBase", fakes.resend);
  project.provide("fakeReceiverBase", fakes.receiver);
  return async () => {
    await fakes.close();
  };
}
