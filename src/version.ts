import pkg from "../package.json";

/** The deployed code's version, reported by /healthz and in the OpenAPI document. */
export const VERSION: string = pkg.version;
