// Owns how activities turn raw errors into typed Temporal failures: permanent ones (non-retryable) versus
// passing ones (retryable), from HTTP status codes and socket error codes.
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../common/failures.ts';

export function permanent(type: FailureType, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details: details ? [details] : [] });
}

export function retryable(type: FailureType, message: string, cause?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: false,
    cause: cause instanceof Error ? cause : undefined,
  });
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'EACCES']);

interface HttpishError {
  statusCode?: number;
  code?: string;
  message?: string;
  json?: { message?: string };
}

/** Docker Engine errors: 404 is permanent (the thing does not exist), 5xx and socket errors are retryable. */
export function dockerFailure(err: unknown, what: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const e = (err ?? {}) as HttpishError;
  const reason = e.json?.message ?? e.message ?? String(err);
  if (e.statusCode === 404) return permanent(FailureType.NotFound, `${what}: not found (${reason})`);
  if (e.statusCode === 400) return permanent(FailureType.InvalidInput, `${what}: rejected by Docker (${reason})`);
  if (e.code && UNREACHABLE.has(e.code)) {
    return retryable(FailureType.Unavailable, `${what}: Docker engine unreachable (${e.code}: ${reason})`, err);
  }
  return retryable(FailureType.Unavailable, `${what}: ${reason}`, err);
}

export function isStatus(err: unknown, status: number): boolean {
  return (err as HttpishError | undefined)?.statusCode === status;
}

interface QdrantishError {
  status?: number;
  data?: { status?: { error?: string } | string };
  message?: string;
  cause?: { code?: string; message?: string };
}

/** Qdrant REST errors: 4xx are permanent (bad request, missing collection, refused), 5xx/429/network retryable. */
export function qdrantFailure(err: unknown, what: string): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const e = (err ?? {}) as QdrantishError;
  const apiMessage = typeof e.data?.status === 'object' ? e.data.status.error : undefined;
  const reason = apiMessage ?? e.cause?.code ?? e.message ?? String(err);
  const status = e.status;
  if (status === 404) return permanent(FailureType.NotFound, `${what}: ${reason}`);
  if (status === 409) return permanent(FailureType.Conflict, `${what}: ${reason}`);
  if (status === 401 || status === 403)
    return permanent(FailureType.InvalidInput, `${what}: refused (${status}): ${reason}`);
  if (status !== undefined && status >= 400 && status < 500 && status !== 429) {
    return permanent(FailureType.InvalidInput, `${what}: ${reason}`);
  }
  return retryable(
    FailureType.Unavailable,
    `${what}: Qdrant unavailable (${status ?? e.cause?.code ?? 'network'}: ${reason})`,
    err,
  );
}
