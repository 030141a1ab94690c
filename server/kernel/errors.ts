/**
 * Errors every domain throws and the HTTP edge answers: each carries its status, a short code and a
 * detail a person can act on. They live here, beneath every folder, so that a domain can refuse input
 * without importing the HTTP layer.
 */
/** An error with an HTTP status that the error middleware turns into `{error, detail}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly detail: string,
  ) {
    super(`${error}: ${detail}`);
  }
}

/** A request field that failed validation: 400 naming the field and the rule. */
export class ValidationError extends HttpError {
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(400, 'invalid_request', `${field}: ${rule}`);
  }
}

export const badRequest = (detail: string) => new HttpError(400, 'bad_request', detail);
export const unauthorized = (detail: string) => new HttpError(401, 'unauthorized', detail);
export const notFound = (detail: string) => new HttpError(404, 'not_found', detail);
export const conflict = (detail: string) => new HttpError(409, 'conflict', detail);
export const payloadTooLarge = () => new HttpError(413, 'payload_too_large', 'request body is over the size limit');
export const unsupportedMediaType = (detail: string) => new HttpError(415, 'unsupported_media_type', detail);
