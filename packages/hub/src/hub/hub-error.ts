import { HubApiError } from '@huggingface/hub';
import { SlimlmError } from '@slimlm/core';

/** What a Hub call was doing, so its error can name the repository, revision and file. */
export interface HubErrorContext {
  repoId: string;
  endpoint: string;
  revision?: string;
  file?: string;
  token?: string;
  /** `write` for push: a 401/403 then asks for a token with write access. */
  access?: 'read' | 'write';
}

/** Replaces every occurrence of the token (and of its Bearer header) by `***`. */
export function scrubToken(text: string, token: string | undefined): string {
  if (!token) return text;
  return text.split(token).join('***');
}

/**
 * Turns anything a Hub call threw into a SlimlmError: 401/403 → UNAUTHORIZED, 404 → NOT_FOUND,
 * any other status or a failed connection → NETWORK. The token never survives into the message.
 */
export function hubError(error: unknown, context: HubErrorContext): SlimlmError {
  const { token } = context;
  if (error instanceof SlimlmError) {
    const message = scrubToken(error.message, token);
    return message === error.message ? error : new SlimlmError(error.code, message);
  }
  const status = error instanceof HubApiError ? error.statusCode : undefined;
  const detail = scrubToken(describe(error), token);
  const repo = `"${context.repoId}"`;
  const revision = context.revision ?? 'main';
  if (status === 401 || status === 403) {
    const given = token
      ? 'the token in use was rejected or has no access to it'
      : 'no token was given';
    const scope = context.access === 'write' ? 'write' : 'read';
    return new SlimlmError(
      'UNAUTHORIZED',
      `The Hub at ${context.endpoint} refused access to ${repo} (HTTP ${status}: ${detail}); ${given}. ` +
        `Set HF_TOKEN (or log in with \`hf auth login\`) to a token that can ${scope} ${repo}; ` +
        'a private or gated repository also needs access granted on its page.',
    );
  }
  if (status === 404) {
    const what = context.file
      ? `File "${context.file}" of ${repo} at revision "${revision}"`
      : `Repository ${repo} or its revision "${revision}"`;
    return new SlimlmError(
      'NOT_FOUND',
      `${what} was not found on ${context.endpoint} (HTTP 404: ${detail}). ` +
        'Check the repository id, the revision and the file name.',
    );
  }
  const doing = context.file ? `downloading "${context.file}" of ${repo}` : `for ${repo}`;
  const httpStatus = status === undefined ? '' : ` (HTTP ${status})`;
  return new SlimlmError(
    'NETWORK',
    `Hub request to ${context.endpoint} failed ${doing}${httpStatus}: ${detail}. ` +
      'Check the connection and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use the local cache.',
  );
}

// The server's own words when it sent any (HubApiError keeps a parsed JSON or text body in `data`),
// else the error message and its cause (fetch hides ECONNREFUSED and the like in `cause`).
function describe(error: unknown): string {
  if (error instanceof HubApiError) {
    const data = error.data as { error?: unknown; message?: unknown } | undefined;
    const server = data?.error ?? data?.message;
    const text = typeof server === 'string' && server.trim() ? server.trim() : error.message;
    return truncate(text || 'no details');
  }
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return truncate(`${error.message}${cause}`);
  }
  return truncate(String(error));
}

function truncate(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > 300 ? `${oneLine.slice(0, 300)}…` : oneLine;
}
