// The UI's one state: what the app last told it, and when.
//
// Events (the subscribe channel) and command replies travel separately, so a reply can be older
// than an event that arrived before it. The relay numbers every event (`seq`, rising by one), and
// the replies that read what events change (app_status, sign_in, notifications_list) carry
// `event_seq`: the number of the last event relayed before the read began, so the reply reflects
// every event up to it (docs/app.md, "Events"). Each piece below that events change remembers
// the number of the last event applied to it, and a reply older than that is not applied to it.

export const state = {
  status: null, // the last app_status (or sign_in) reply
  feedMode: null, // "connecting" | "live" | "polling" | "offline" once the feed says so
  unread: 0, // unread notifications, as the badge shows them
  view: "home", // the screen shown while signed in
  lastActivityReport: 0, // Date.now() of the last report_activity sent
  expiringShownFor: null, // the session end the "session ends in 5 minutes" dialog was shown for
};

// The number of the last event applied to each piece (0: none yet).
const appliedSeq = { feedMode: 0, notifications: 0 };

/** An event from the relay: applies what it says to the state (the caller renders). */
export function applyEvent(event) {
  switch (event.type) {
    case "feed_mode":
      state.feedMode = event.mode;
      appliedSeq.feedMode = Math.max(appliedSeq.feedMode, event.seq);
      break;
    case "notification":
      if (!event.notification.read_at) state.unread += 1;
      appliedSeq.notifications = Math.max(appliedSeq.notifications, event.seq);
      break;
    default:
      break; // the others ask for a fresh read or act on the screen only
  }
}

/**
 * An app_status-shaped reply. The session is always taken (a state change that arrived meanwhile
 * has asked for a fresh read of its own); its feed mode only if no newer feed_mode event was
 * applied, which would otherwise be overwritten by an older mode.
 */
export function applyStatus(reply) {
  state.status = reply;
  if (reply.feed_mode && reply.event_seq >= appliedSeq.feedMode) state.feedMode = reply.feed_mode;
}

/**
 * A notifications_list reply: applied (true) unless a notification event newer than the read was
 * applied, which the reply would drop from the badge and the list (false: read again).
 */
export function applyNotificationList(reply) {
  if (reply.event_seq < appliedSeq.notifications) return false;
  state.unread = reply.unread;
  return true;
}
