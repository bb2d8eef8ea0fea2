/**
 * One webhook POST over node:http(s), through the destination policy: an IP-literal host is checked before
 * the request is made; a host name is resolved and checked by the socket's own `lookup` (so the connection
 * goes to the address that was checked). A new connection per attempt (no keep-alive pool), so every
 * attempt resolves and checks again. Redirects are not followed. The response body is discarded.
 */
import http from "node:http";
import https from "node:https";
import { DestinationRefusedError, type DestinationPolicy, ipLiteral } from "./destination.js";

export interface PostResult {
  status: number;
  statusText: string;
}

export class WebhookPoster {
  private readonly agents = { http: new http.Agent({ keepAlive: false }), https: new https.Agent({ keepAlive: false }) };

  constructor(private readonly destinations: DestinationPolicy) {}

  /** Resolves with the response status; rejects on a refused destination, a network error, or `signal`. */
  post(rawUrl: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<PostResult> {
    const url = new URL(rawUrl);
    const literal = ipLiteral(url);
    if (literal !== undefined) {
      const why = this.destinations.refusal(literal);
      if (why !== null) return Promise.reject(new DestinationRefusedError(`refused destination: ${why}`));
    }
    const payload = Buffer.from(body, "utf8");
    const secure = url.protocol === "https:";
    return new Promise<PostResult>((resolve, reject) => {
      const request = (secure ? https : http).request(
        url,
        {
          method: "POST",
          headers: { ...headers, "content-length": String(payload.length) },
          agent: secure ? this.agents.https : this.agents.http,
          lookup: this.destinations.lookup,
          signal,
        },
        (res) => {
          res.resume();
          res.on("error", () => undefined);
          resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? "" });
        },
      );
      request.on("error", reject);
      request.end(payload);
    });
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
