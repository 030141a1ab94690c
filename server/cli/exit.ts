/**
 * Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config, 3 not found;
 * `reprovision --wait`: 4 its --timeout passed, 5 a node or its cluster
 * failed, 130 interrupted (Ctrl-C; nothing is undone); `nodes import`: 5 a row
 * was rejected (the good rows are imported).
 */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  waitTimeout: 4,
  nodeFailed: 5,
  interrupted: 130,
} as const;

/** Ends a command with this exit code and message. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message: string,
    /** The HTTP status that ended it, when the server refused: lets a command tell a refusal it expects. */
    readonly httpStatus?: number,
  ) {
    super(message);
  }
}
