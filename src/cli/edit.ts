// The terminal UI's `e` and `D` on recorded flows: the request as the store holds it in the text
// form of src/replay/edit-text.ts, credentials masked as on screen unless --show-secrets (a masked
// value left as it was is sent as recorded: it never passes through the editor's file), and the edited request sent through the replay engine to the flow's
// server, recorded as a new flow: a replay of the original for `e` (what changed is shown as for
// `r`), a flow of its own for `D`.
import { withoutHeaders } from '../http/headers.js';
import { createLivePipeline } from '../pipeline/live.js';
import { rawPathOf } from '../proxy/rewrite.js';
import { diffFlows } from '../replay/diff.js';
import { maskSecrets, requestToText, restoreSecrets, whyNotEditable, type EditableRequest } from '../replay/edit-text.js';
import { createRedactor } from '../redact/index.js';
import { startReplayer } from '../replay/engine.js';
import { flowLines } from '../replay/report.js';
import { openReader, openStore, type StoredFlow } from '../store/index.js';
import type { UiEdit } from '../../ui/app.js';
import { editorCommand } from '../../ui/editor.js';

/** What the editor shows of a recorded request: the request line as sent (origin-form), the fields and the body. */
export function editableOf(flow: StoredFlow): EditableRequest {
  const r = flow.request;
  return {
    method: r.method,
    target: rawPathOf(r.target),
    httpVersion: /^1\.[01]$/.test(r.httpVersion) ? r.httpVersion : '1.1',
    // A forward proxy consumes Proxy-Authorization: it was never sent to the server, nor is it now.
    rawHeaders: flow.mode === 'forward' ? withoutHeaders(r.rawHeaders, 'proxy-authorization') : r.rawHeaders,
    body: r.body.bytes,
  };
}

export function editForUi(dbPath: string, env: NodeJS.ProcessEnv, log: (line: string) => void, options: { showSecrets: boolean }): UiEdit {
  const redactor = createRedactor({ enabled: !options.showSecrets });
  return {
    editor: editorCommand(env),
    requestText(id) {
      const reader = openReader(dbPath);
      try {
        const flow = reader.getFlow(id);
        if (!flow) return { error: `flow ${id} is no longer in the database` };
        const label = `${flow.request.method} ${rawPathOf(flow.request.target)}`;
        if (flow.request.method === 'CONNECT') return { error: `${label} opens a tunnel: the requests inside it are flows of their own` };
        const why = whyNotEditable(flow.request.body);
        if (why !== undefined) return { error: `${label}: ${why}` };
        return { text: requestToText(maskSecrets(editableOf(flow), redactor)), label };
      } finally {
        reader.close();
      }
    },
    async send(id, request, linked) {
      const store = openStore(dbPath);
      try {
        const original = store.getFlow(id);
        if (!original) throw new Error(`flow ${id} is no longer in the database`);
        const replayer = await startReplayer({ store, analyzing: (onFlow) => createLivePipeline({ onFlow, log }).hooks, log });
        try {
          const { replay } = await replayer.replay(original, { request: restoreSecrets(request, editableOf(original), redactor), linked });
          return { flowId: replay.id, status: replay.response?.status ?? null, lines: linked ? flowLines(diffFlows(original, replay, { values: false }), false) : [] };
        } finally {
          await replayer.close();
        }
      } finally {
        store.close();
      }
    },
  };
}
