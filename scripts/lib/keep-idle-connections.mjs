// Preloaded into `wrangler dev` by `npm start` (node --import): every Node HTTP server in that process keeps
// idle keep-alive connections open instead of closing them after 5 s (Node's default keepAliveTimeout).
//
// Why: Miniflare's queue broker, inside workerd, reports each consumed batch to Miniflare's loopback server
// (a Node http.Server) over a pooled connection. When a batch runs longer than 5 s (an import chunk, a slow
// provider) that connection has been closed under it; the report fails with "Network connection lost.", the
// broker's flush throws before clearing its pending flag, and the local queue never delivers again: every
// later send would sit in `queued`. Deployed queues have no such server; this only changes local runs.
import http from "node:http";

const createServer = http.createServer;
http.createServer = (...args) => {
  const server = createServer(...args);
  server.keepAliveTimeout = 0; // 0: no idle timeout; clients (and Miniflare on dispose) close them
  return server;
};
