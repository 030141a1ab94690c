/** Milliseconds since the epoch. Services take one so that tests can move time instead of waiting for it. */
export type Clock = () => number;
