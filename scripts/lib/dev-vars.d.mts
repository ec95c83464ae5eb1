// Types of dev-vars.mjs, for the Node tests (test/scripts).
export function parseDevVars(text: string): Map<string, string>;
export function createDevVars(
  exampleText: string,
  generateSecret: () => string,
): { text: string; generated: string[] };
export function mergeDevVars(
  existingText: string,
  exampleText: string,
  generateSecret: () => string,
): { text: string; added: string[]; generated: string[] };
export function checkDevVars(vars: Map<string, string>): string[];
