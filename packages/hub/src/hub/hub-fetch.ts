const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export interface HubFetchOptions {
  endpoint: string;
  token?: string;
  fetch?: typeof fetch;
  /** Extra tries of a GET/HEAD after a transient failure. */
  retries?: number;
  /** First backoff; each further try waits four times longer. */
  backoffMs?: number;
}

/**
 * The fetch every Hub call goes through. It adds the token to requests for the endpoint only (the
 * client would insist on tokens that start with `hf_`, which mirrors behind HF_ENDPOINT need not
 * issue, and keeping it here keeps it in one place), and retries GET/HEAD requests that failed to
 * connect or got 408/429/5xx a couple of times with a short backoff. Uploads are not retried: a
 * stream body cannot be sent twice.
 */
export function createHubFetch(options: HubFetchOptions): typeof fetch {
  const base = options.fetch ?? globalThis.fetch;
  const origin = new URL(options.endpoint).origin;
  const retries = options.retries ?? 2;
  const backoffMs = options.backoffMs ?? 100;
  const hubFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : {}));
    if (options.token && url.origin === origin) {
      headers.set('Authorization', `Bearer ${options.token}`);
    } else if (headers.get('Authorization') === 'Bearer undefined') {
      headers.delete('Authorization');
    }
    const method = (
      init?.method ?? (input instanceof Request ? input.method : 'GET')
    ).toUpperCase();
    const retryable = method === 'GET' || method === 'HEAD';
    for (let attempt = 0; ; attempt++) {
      const last = !retryable || attempt >= retries;
      try {
        const response = await base(input, { ...init, headers });
        if (last || !TRANSIENT_STATUS.has(response.status)) return response;
        await response.body?.cancel();
      } catch (error) {
        if (last || init?.signal?.aborted) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, backoffMs * 4 ** attempt));
    }
  };
  return hubFetch as typeof fetch;
}
