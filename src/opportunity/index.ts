/** The opportunity model: the best take of an account at a bonus, its auction, and the feed's event kinds. */
export * from "./take.js";
export * from "./event.js";
