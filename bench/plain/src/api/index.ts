/** The plain app serves nothing of its own (Ponder requires an API file); /status, /ready and /metrics are Ponder's. */
import { Hono } from "hono";

export default new Hono();
