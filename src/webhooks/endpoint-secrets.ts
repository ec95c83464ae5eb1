import type { WebhookEndpointRow } from "../db/schema";
import type { Env } from "../env";
import { decryptSecrets, encryptSecrets } from "../secrets";

/** Encrypts a `whsec_…` secret for `webhook_endpoints.secret_ciphertext` (tenant id bound as AAD). */
export const sealEndpointSecret = (env: Env, tenantId: string, secret: string) =>
  encryptSecrets({ secret }, env.SECRETS_ENCRYPTION_KEY, tenantId);

async function open(env: Env, tenantId: string, ciphertext: string): Promise<string> {
  const { secret } = await decryptSecrets(ciphertext, env.SECRETS_ENCRYPTION_KEY, tenantId);
  if (!secret) throw new Error("webhook endpoint secret ciphertext holds no secret");
  return secret;
}

/** The secrets that sign a delivery at `now`: the current one, then the previous one while it overlaps. */
export async function signingSecrets(env: Env, row: WebhookEndpointRow, now: Date): Promise<string[]> {
  const secrets = [await open(env, row.tenantId, row.secretCiphertext)];
  if (row.previousSecretCiphertext && row.previousSecretExpiresAt && row.previousSecretExpiresAt > now) {
    secrets.push(await open(env, row.tenantId, row.previousSecretCiphertext));
  }
  return secrets;
}
