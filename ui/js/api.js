// The only way the UI talks to the app: Tauri commands and one event channel.
// Every failure is an Error with `.code` from the closed set in errors.js.

const tauri = window.__TAURI__;

export class CommandError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** Calls a command; rejects with a CommandError. */
export async function call(command, args = {}) {
  try {
    return await tauri.core.invoke(command, args);
  } catch (e) {
    if (e && typeof e === "object" && "code" in e) throw new CommandError(e.code, e.message);
    throw new CommandError("internal", String(e));
  }
}

/** Streams engine events to `onEvent` (one subscription per page). */
export function subscribe(onEvent) {
  const channel = new tauri.core.Channel();
  channel.onmessage = onEvent;
  return call("subscribe", { onEvent: channel });
}
