// HAR input (`davtap check FILE.har`): every entry whose response is a 207, with its request as
// context; davtap's own exports also say how the exchange ended and whether the capture cap cut
// the body. Pure: text in, saved responses out.
import zlib from 'node:zlib';
import { DavtapError } from '../errors.js';
import { withoutHeaders } from '../http/headers.js';
import type { OutcomeKind, RawHeaders, RequestContext, TransportEnd } from '../types.js';
import type { CappedCapture, CheckInput } from './saved.js';

interface HarHeader {
  name: string;
  value: string;
}
interface HarEntry {
  /**
   * davtap's own export records how the exchange ended, and whether the body was captured whole
   * (`responseComplete` false: the capture cap kept a prefix of `content.size` bytes).
   */
  _davtap?: { outcome?: { kind?: string; code?: string; message?: string }; requestComplete?: boolean; responseComplete?: boolean; findings?: { rule?: unknown }[] };
  request?: { method?: string; url?: string; httpVersion?: string; headers?: HarHeader[]; postData?: { text?: string; encoding?: string } };
  response?: { status?: number; statusText?: string; httpVersion?: string; headers?: HarHeader[]; content?: { size?: number; text?: string; encoding?: string } };
}

const flatten = (headers: HarHeader[] | undefined): RawHeaders => (headers ?? []).flatMap((h) => [String(h.name), String(h.value)]);

export function harInputs(text: string, name: string): CheckInput[] {
  let doc: { log?: { entries?: HarEntry[] } };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (err) {
    throw new DavtapError('IO', `${name}: not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const entries = doc.log?.entries;
  if (!Array.isArray(entries)) throw new DavtapError('IO', `${name}: not a HAR file (no log.entries)`);
  const out: CheckInput[] = [];
  entries.forEach((e, i) => {
    if (e.response?.status !== 207) return;
    const url = e.request?.url ?? '/';
    const abs = /^(https?):\/\/([^/?#]+)(.*)$/i.exec(url);
    // A request body the capture cap cut would read as a shorter prop list or fewer multiget
    // hrefs, and raise findings about the answer that are not the server's: left out, the
    // request-aware rules that need it stay quiet instead.
    const reqBody = e._davtap?.requestComplete === false ? undefined : e.request?.postData?.text;
    const req: RequestContext = {
      method: (e.request?.method ?? '').toUpperCase(),
      target: abs ? abs[3] || '/' : url,
      rawHeaders: flatten(e.request?.headers),
      ...(abs ? { scheme: abs[1]!.toLowerCase() as 'http' | 'https', authority: abs[2]! } : {}),
      ...(reqBody !== undefined ? { body: Buffer.from(reqBody, e.request?.postData?.encoding === 'base64' ? 'base64' : 'utf8') } : {}),
    };
    const content = e.response.content ?? {};
    let body: Buffer = Buffer.from(content.text ?? '', content.encoding === 'base64' ? 'base64' : 'utf8');
    const capped = cappedCapture(e, body.length);
    // HAR stores the decoded payload: framing and content coding headers no longer describe it,
    // unless the bytes are still compressed (base64 of gzip, as some exporters keep them).
    let stillGzip = body[0] === 0x1f && body[1] === 0x8b;
    if (capped && stillGzip) {
      // A capped gzip stream is cut by davtap, not by the server: decode what there is and
      // analyze that, instead of reporting the cut stream (MS004).
      body = gunzipPrefix(body);
      stillGzip = false;
    }
    const rawHeaders = withoutHeaders(flatten(e.response.headers), 'transfer-encoding', ...(stillGzip ? [] : ['content-encoding', 'content-length']));
    const outcome = e._davtap?.outcome;
    const kinds: OutcomeKind[] = ['complete', 'upstream-aborted', 'client-aborted', 'timeout', 'error'];
    const transport: TransportEnd | undefined =
      outcome?.kind !== undefined && (kinds as string[]).includes(outcome.kind)
        ? {
            outcome: outcome.kind as OutcomeKind,
            ...(outcome.code !== undefined ? { code: outcome.code } : {}),
            ...(outcome.message !== undefined ? { message: outcome.message } : {}),
            ...(outcome.code === 'ECONNRESET' ? { closeKind: 'rst' as const } : {}),
          }
        : undefined;
    out.push({
      ...(transport ? { transport } : {}),
      ...(capped ? { capped } : {}),
      input: `${name}#${i}`,
      req,
      head: { status: 207, reason: e.response.statusText ?? '', httpVersion: (e.response.httpVersion ?? 'HTTP/1.1').replace(/^HTTP\//i, ''), rawHeaders, bodyForm: 'payload' },
      body,
    });
  });
  return out;
}

/** The capture cap's mark on a davtap HAR entry: a body kept as a prefix of what went by. */
function cappedCapture(e: HarEntry, captured: number): CappedCapture | undefined {
  if (e._davtap?.responseComplete !== false) return undefined;
  const size = e.response?.content?.size;
  const seen = typeof size === 'number' && Number.isFinite(size) && size >= captured ? size : captured;
  const live = Array.isArray(e._davtap.findings) ? e._davtap.findings.map((f) => f?.rule).filter((r): r is string => typeof r === 'string') : undefined;
  return { captured, seen, ...(live ? { liveFindings: live } : {}) };
}

/** What a gzip prefix decodes to, as far as it goes (an unreadable one decodes to nothing). */
function gunzipPrefix(bytes: Buffer): Buffer {
  try {
    return zlib.gunzipSync(bytes, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  } catch {
    return Buffer.alloc(0);
  }
}
